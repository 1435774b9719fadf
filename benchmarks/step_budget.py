"""
Where one env step of BlogDQN goes, once learning has started, and what each part could cost at best.

For the faithful preset (``blogdqn``: the blog's settings on CartPole-v1) and a wide one
(``blogdqn-tuned`` on Acrobot-v1: 256x256, 25 quantiles, two minibatch steps of 128 per env
step), in µs per env step, medians over rounds that alternate the measurements:

- **total**: the model's ``learn()``, timed over ``--steps`` env steps after learning starts
  (``preset_speed.py``'s timer);
- **env**: the gymnasium env alone (``gym.make``, random actions, reset at episode ends);
- **SB3's loop**: stock SB3 DQN that never trains (``learning_starts`` above the budget) at the
  preset's ``train_freq``, on SB3's ``DummyVecEnv`` and ``Monitor``, minus the env: the
  collection loop, its callbacks and SB3's own storing;
- **replay**: the time inside the model's replays (``_replays.replay``), per env step;
- **BlogDQN's hooks**: the rest: BlogDQN's ``_sample_action``, ``_store_transition`` (but
  its replays), ``_on_step``, ``train()``'s bookkeeping and ``VecHistory``.

Ceilings: the env and SB3's loop are what they are; the replays' is the kernel's time per
replay when 1,000 of them run in one call (its compute, without the Python call per
replay); the hooks' is zero. The time of one replay on the plain-torch reference path
(torch's BLAS) is printed beside the kernel's. The faithful step's target (8x stock SB3 DQN with the RL Zoo's
CartPole-v1 settings, ``throughput.py``'s (c), measured in the same rounds over
``--zoo-steps`` from its start) is printed with it.

    python benchmarks/step_budget.py --rounds 3
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import gymnasium as gym
import numpy as np
import torch as th
from preset_speed import StepTimer, make_model
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.type_aliases import TrainFreq
from throughput import zoo_hyperparameters

from sb3_blogdqn import BlogDQN
from sb3_blogdqn.blogdqn.learning import KernelReplays, ReferenceReplays

PRESETS = {"faithful (blogdqn, CartPole-v1)": ("blogdqn", "CartPole-v1"),
           "wide (blogdqn-tuned, Acrobot-v1)": ("blogdqn-tuned", "Acrobot-v1")}
PARTS = ("total", "env", "SB3's loop", "replay", "BlogDQN's hooks")


def blogdqn_parts(config: str, env_id: str, seed: int, steps: int) -> tuple[dict[str, float], BlogDQN]:
    """µs per env step of the whole step and of the replays inside it, after learning starts."""
    model, budget = make_model(config, env_id, seed)
    assert isinstance(model, BlogDQN)
    timer = StepTimer(steps)
    replay, spent = model._replays.replay, [0.0]

    def timed_replay(*args: object) -> np.ndarray:
        start = time.perf_counter()
        losses = replay(*args)  # type: ignore[arg-type]  # replay's own arguments, passed through
        if timer.start is not None:
            spent[0] += time.perf_counter() - start
        return losses

    model._replays.replay = timed_replay  # type: ignore[method-assign,assignment]
    model.learn(budget, callback=timer)
    del model._replays.replay
    return {"total": 1e6 * timer.seconds / steps, "replay": 1e6 * spent[0] / steps}, model


def env_alone(env_id: str, seed: int, steps: int) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return 1e6 * (time.perf_counter() - start) / steps


def sb3_loop(env_id: str, seed: int, steps: int, train_freq: int) -> float:
    """
    Stock DQN that never trains, at ``train_freq``: SB3's collection loop with the env. SB3 sets
    the policy's training mode at every rollout (16 µs for DQN's policy, most of the loop at
    ``train_freq`` 1); BlogDQN's policy skips it when the mode is unchanged, and so does this one,
    so that the loop is the one BlogDQN runs.
    """
    model = DQN("MlpPolicy", make_vec_env(env_id, seed=seed), seed=seed, buffer_size=steps + 1,
                learning_starts=steps + 1, train_freq=train_freq)
    policy, set_mode = model.policy, model.policy.set_training_mode
    policy.set_training_mode = lambda mode: None if mode == policy.training else set_mode(mode)  # type: ignore[method-assign]
    start = time.perf_counter()
    model.learn(steps)
    return 1e6 * (time.perf_counter() - start) / steps


def sb3_zoo_cartpole(seed: int, steps: int) -> float:
    """µs per env step of stock SB3 DQN with the RL Zoo's CartPole-v1 settings (throughput.py's (c))."""
    params, _ = zoo_hyperparameters()
    model = DQN("MlpPolicy", make_vec_env("CartPole-v1", seed=seed), seed=seed, **params)
    start = time.perf_counter()
    model.learn(steps)
    return 1e6 * (time.perf_counter() - start) / steps


def replay_costs(model: BlogDQN, n_replays: int = 1000, n_reference: int = 20) -> tuple[float, float]:
    """
    CPU µs per replay of the model's memory: the kernel running ``n_replays`` replays in one call
    (its compute, without the Python call per replay; nan off the kernel), and the plain-torch
    reference path (torch's BLAS for the matrix products, one call per replay as ``train()``).
    """
    args = (model.replay_buffer, 1, model.batch_size, model.gamma)
    reference = ReferenceReplays(model.policy, model._objective, model.per_sample_updates, model.max_grad_norm)
    reference.replay(*args)
    start = time.process_time()
    for _ in range(n_reference):
        reference.replay(*args)
    reference_us = 1e6 * (time.process_time() - start) / n_reference
    replays = model._replays
    if not isinstance(replays, KernelReplays):
        return float("nan"), reference_us
    replays.replay(*args)  # bound, compiled
    start = time.process_time()
    replays.replay(model.replay_buffer, n_replays, model.batch_size, model.gamma)
    return 1e6 * (time.process_time() - start) / n_replays, reference_us


def replays_per_step(model: BlogDQN) -> float:
    if model.replays_in_step:
        return 1.0
    return model.gradient_steps / train_frequency(model)


def train_frequency(model: BlogDQN) -> int:
    """Env steps per SB3 rollout: ``train_freq`` is a TrainFreq once the model is set up."""
    assert isinstance(model.train_freq, TrainFreq)
    return model.train_freq.frequency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3072, help="env steps per measurement (the wide preset: a fourth)")
    parser.add_argument("--zoo-steps", type=int, default=6000, help="env steps of (c), from its start, as throughput.py")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    th.set_num_threads(1)
    print(f"{os.cpu_count()} CPUs, torch {th.__version__} (1 thread), load average {os.getloadavg()[0]:.1f} at start")
    print(f"command: python benchmarks/step_budget.py {' '.join(sys.argv[1:])}", flush=True)
    results: dict[str, dict[str, list[float]]] = {label: {part: [] for part in PARTS} for label in PRESETS}
    ceilings: dict[str, list[float]] = {label: [] for label in PRESETS}
    per_replay: dict[str, list[tuple[float, float, float]]] = {label: [] for label in PRESETS}
    zoo: list[float] = []
    for round_ in range(-1, args.rounds):  # round -1: untimed (imports, numba's compile or cache load)
        seed = args.seed + max(round_, 0)
        for label, (config, env_id) in PRESETS.items():
            steps = args.steps if config == "blogdqn" else args.steps // 4
            parts, model = blogdqn_parts(config, env_id, seed, steps if round_ >= 0 else 64)
            parts["env"] = env_alone(env_id, seed, args.steps)
            parts["SB3's loop"] = sb3_loop(env_id, seed, args.steps, train_frequency(model)) - parts["env"]
            parts["BlogDQN's hooks"] = parts["total"] - parts["env"] - parts["SB3's loop"] - parts["replay"]
            if round_ >= 0:
                for part in PARTS:
                    results[label][part].append(parts[part])
                kernel_us, reference_us = replay_costs(model)
                ceilings[label].append(kernel_us * replays_per_step(model))
                per_replay[label].append((parts["replay"] / replays_per_step(model), kernel_us, reference_us))
                print(f"  round {round_ + 1}: {label}: " + ", ".join(f"{k} {v:,.1f}" for k, v in parts.items()), flush=True)
        zoo_steps = args.zoo_steps if round_ >= 0 else 1100
        zoo_us = sb3_zoo_cartpole(seed, zoo_steps)
        if round_ >= 0:
            zoo.append(zoo_us)
    print(f"load average {os.getloadavg()[0]:.1f} at end\n")
    print(table(results, ceilings, args.rounds, statistics.median(zoo)))
    print("\nµs per replay (medians): in learn(); the kernel, 1,000 in one call; the torch reference path")
    for label, values in per_replay.items():
        learned, kernel_us, reference_us = (statistics.median(column) for column in zip(*values, strict=True))
        print(f"  {label}: {learned:,.1f}; {kernel_us:,.1f}; {reference_us:,.1f}")


def table(results: dict[str, dict[str, list[float]]], ceilings: dict[str, list[float]], rounds: int,
          zoo_us: float) -> str:
    labels = list(results)
    median = {label: {part: statistics.median(values) for part, values in parts.items()}
              for label, parts in results.items()}
    floor = {label: statistics.median(values) for label, values in ceilings.items()}
    head = " | ".join(f"{label}: µs/step | ceiling" for label in labels)
    lines = [f"| part (median of {rounds}) | {head} |", "|---|" + "---:|---:|" * len(labels)]
    for part in PARTS[1:]:
        cells = []
        for label in labels:
            ceiling = {"replay": f"{floor[label]:,.1f}", "BlogDQN's hooks": "0"}.get(part, f"{median[label][part]:,.1f}")
            cells.append(f"{median[label][part]:,.1f} | {ceiling}")
        lines.append(f"| {part} | {' | '.join(cells)} |")
    totals = []
    for label in labels:
        best = median[label]["env"] + median[label]["SB3's loop"] + floor[label]
        totals.append(f"**{median[label]['total']:,.1f}** | {best:,.1f}")
    lines.append(f"| total | {' | '.join(totals)} |")
    faithful = median[labels[0]]["total"]
    lines.append(f"\nstock SB3 DQN, RL Zoo CartPole-v1 settings: {zoo_us:,.1f} µs/step; the faithful step is "
                 f"{zoo_us / faithful:.2f}x its rate; 8x needs {zoo_us / 8:,.1f} µs/step")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
