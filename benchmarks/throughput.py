"""
Env steps per second on CartPole-v1: BlogDQN with the fused kernel against the alternatives.

Measured in one process, the configurations alternating within each repetition so that a
change in the machine's load hits them all alike; the median over repetitions is reported.
torch runs on one thread. Each measurement is a fresh model timed over ``learn(steps)``,
after one untimed run of every configuration (numba's compile or cache load, imports).

    (a) BlogDQN, defaults: the blog's rules, replays in the fused kernel
    (b) BlogDQN, defaults, ``use_kernel=False``: the plain-torch reference path
    (c) stock SB3 DQN with the RL Zoo's tuned CartPole-v1 hyperparameters
    (d) stock SB3 DQN with the blog's hyperparameters, as far as stock DQN expresses them
    (e) stock SB3 DQN that never learns (``learning_starts`` above the budget): random
        actions, no training, SB3's collection loop and the env alone, the ceiling of any
        algorithm that takes one env step per loop iteration
    (f) BlogDQN with ``per_sample_updates=False`` (B11 switched off): one Adam step on
        the minibatch per env step instead of 32 on single samples

Run ``python benchmarks/throughput.py --help`` for the options.
"""

import argparse
import cProfile
import io
import os
import platform
import pstats
import site
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import stable_baselines3
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecFrameStack

from sb3_blogdqn import BlogDQN

ENV_ID = "CartPole-v1"

# Used only when rl_zoo3 is not installed: rl_zoo3 2.x, hyperparams/dqn.yml, CartPole-v1.
ZOO_CARTPOLE_DQN = dict(
    learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
    target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
    exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]),
)  # fmt: skip


def zoo_hyperparameters() -> tuple[dict[str, Any], str]:
    """The RL Zoo's tuned DQN settings for CartPole-v1, and where they come from."""
    try:
        import rl_zoo3
        import yaml
    except ImportError:
        return dict(ZOO_CARTPOLE_DQN), "inline copy of rl_zoo3 2.x hyperparams/dqn.yml (rl_zoo3 not installed)"
    path = Path(rl_zoo3.__file__).parent / "hyperparams" / "dqn.yml"
    params = dict(yaml.safe_load(path.read_text())[ENV_ID])
    params.pop("n_timesteps")
    params.pop("policy")
    if isinstance(params.get("policy_kwargs"), str):
        params["policy_kwargs"] = eval(params["policy_kwargs"], {"dict": dict})  # the zoo's own format
    return params, f"rl_zoo3/hyperparams/dqn.yml (rl_zoo3 {rl_zoo3.__version__})"


def blog_dqn_hyperparameters(steps: int) -> dict[str, Any]:
    """
    The blog's settings in stock DQN's terms. B11's 32 Adam steps on single samples become
    32 gradient steps on batches of one (each on its own draw, targets recomputed each
    time); ε reaches 1e-4 after 1000 steps; the 20-20-10 network; Adam with Keras' ε (in
    torch's form). Not expressible: the B10 loss on all actions (stock DQN: Huber on the
    taken one), the per-episode target copy (B13), the scaler (B4), the B2 random steps.
    The 4-state history (B1) is a VecFrameStack.
    """
    return dict(
        learning_rate=1e-3, buffer_size=2000, learning_starts=32, batch_size=1, gamma=0.99, train_freq=1,
        gradient_steps=32, target_update_interval=100, exploration_initial_eps=1.0, exploration_final_eps=1e-4,
        exploration_fraction=min(1.0, 1000 / steps), max_grad_norm=float("inf"),
        policy_kwargs=dict(net_arch=[20, 20, 10], optimizer_kwargs=dict(eps=1e-7)),
    )


def configurations(steps: int, slow_steps: int) -> dict[str, tuple[Callable[[int], BaseAlgorithm], int]]:
    """Label -> (model factory taking a seed, env steps per measurement)."""
    zoo_params, _ = zoo_hyperparameters()
    return {
        "(a) BlogDQN, fused kernel": (lambda seed: BlogDQN("MlpPolicy", ENV_ID, use_kernel=True, seed=seed), steps),
        "(b) BlogDQN, reference path": (
            lambda seed: BlogDQN("MlpPolicy", ENV_ID, use_kernel=False, seed=seed),
            slow_steps,
        ),
        "(c) SB3 DQN, RL Zoo tuned": (
            lambda seed: DQN("MlpPolicy", make_vec_env(ENV_ID, seed=seed), seed=seed, **zoo_params),
            steps,
        ),
        "(d) SB3 DQN, blog settings": (
            lambda seed: DQN(
                "MlpPolicy", VecFrameStack(make_vec_env(ENV_ID, seed=seed), n_stack=4), seed=seed,
                **blog_dqn_hyperparameters(slow_steps),
            ),
            slow_steps,
        ),
        "(e) SB3 DQN, loop only (no training)": (
            lambda seed: DQN("MlpPolicy", make_vec_env(ENV_ID, seed=seed), seed=seed, buffer_size=steps + 1,
                             learning_starts=steps + 1),
            steps,
        ),
        "(f) BlogDQN, per_sample_updates=False": (
            lambda seed: BlogDQN("MlpPolicy", ENV_ID, per_sample_updates=False, seed=seed),
            steps,
        ),
    }  # fmt: skip


def steps_per_second(make_model: Callable[[int], BaseAlgorithm], steps: int, seed: int) -> float:
    model = make_model(seed)
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8000, help="env steps per measurement of (a), (c), (e), (f)")
    parser.add_argument("--slow-steps", type=int, default=500,
                        help="env steps per measurement of the slow (b) and (d), about 40 and 15 steps/s")
    parser.add_argument("--repetitions", type=int, default=3, help="alternating rounds (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, print a cProfile summary of one (a) run: where the time goes")
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error("--repetitions must be >= 1")

    th.set_num_threads(1)
    configs = configurations(args.steps, args.slow_steps)
    _, zoo_source = zoo_hyperparameters()
    print(f"python {platform.python_version()}, torch {th.__version__} ({th.get_num_threads()} thread), "
          f"stable-baselines3 {stable_baselines3.__version__}, numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(f"command: python benchmarks/throughput.py {' '.join(sys.argv[1:])}")
    print(f"(c) hyperparameters: {zoo_source}")
    print("warm-up run of each configuration (untimed)...", flush=True)
    for make_model, _ in configs.values():
        make_model(args.seed).learn(100)

    results: dict[str, list[float]] = {label: [] for label in configs}
    for repetition in range(args.repetitions):
        for label, (make_model, steps) in configs.items():
            results[label].append(steps_per_second(make_model, steps, args.seed + repetition))
            print(f"  round {repetition + 1}: {label}: {results[label][-1]:,.0f} steps/s", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end\n")

    medians = {label: statistics.median(values) for label, values in results.items()}
    print(f"| configuration | env steps per measurement | steps/s, median of {args.repetitions} | all runs |")
    print("|---|---:|---:|---|")
    for label, values in results.items():
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| {label} | {configs[label][1]:,} | {medians[label]:,.0f} | {runs} |")
    a, b, c, d, e, f = medians.values()
    print(f"\na/c = {a / c:.2f}   a/b = {a / b:.1f}   a/d = {a / d:.1f}   a/e = {a / e:.2f}   f/c = {f / c:.2f}   "
          f"e/c = {e / c:.1f}")
    # The cost of one env step, in µs: what each configuration adds to SB3's bare loop (e).
    print(f"µs per env step: (a) {1e6 / a:.0f}, (f) {1e6 / f:.0f}, (c) {1e6 / c:.0f}, (e) {1e6 / e:.0f}")

    if args.profile:
        make_model, steps = configs["(a) BlogDQN, fused kernel"]
        model = make_model(args.seed)
        profiler = cProfile.Profile()
        profiler.runcall(model.learn, steps)
        print(f"\ncProfile of (a), {steps} env steps, by own time:")
        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats("tottime").print_stats(20)
        print(without_install_paths(report.getvalue()))


def without_install_paths(text: str) -> str:
    """``text`` with file paths made relative to the repository or the installation."""
    roots = [str(Path(__file__).resolve().parents[1]), *site.getsitepackages(), sysconfig.get_paths()["stdlib"]]
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root.rstrip("/") + "/", "")
    return text


if __name__ == "__main__":
    main()
