"""
Env steps per second of each env's tuned BlogDQN preset against its peers, side by side.

Each model is built as ``python -m sb3_blogdqn.compare`` builds it (the preset resolved for the
env with its full budget, the RL Zoo's preprocessing, the comparison's envs), and timed over
``--steps`` env steps once learning has started (SB3's ``learning_starts``, BlogDQN's warm-up),
so the random play before learning is not counted. The configurations alternate within each
round, so a change in the machine's load hits them all alike; the median over rounds is
reported. torch runs on one thread, as the comparison's workers do. Each configuration first
runs once untimed (imports, numba's compile or cache load).

    python benchmarks/preset_speed.py --envs Acrobot-v1 --rounds 3
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from sb3_blogdqn import BlogDQN
from sb3_blogdqn.compare.presets import load_configs, resolve
from sb3_blogdqn.compare.runner import ALGOS, make_envs, zoo_preprocess

ENVS = ("Acrobot-v1", "LunarLander-v3", "MountainCar-v0")
CONFIGS = ("blogdqn-tuned", "dqn-zoo", "qrdqn-zoo")


class StepTimer(BaseCallback):
    """Times ``steps`` env steps from the first one after learning started, then stops training."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.start: float | None = None
        self.started_at = 0
        self.seconds = float("nan")

    def _learning(self) -> bool:
        model = self.model
        if isinstance(model, BlogDQN):
            return not model.warming_up
        return model.num_timesteps > model.learning_starts  # type: ignore[attr-defined]

    def _on_step(self) -> bool:
        if self.start is None:
            if self._learning():
                self.start, self.started_at = time.perf_counter(), self.num_timesteps
            return True
        if self.num_timesteps - self.started_at < self.steps:
            return True
        self.seconds = time.perf_counter() - self.start
        return False


def make_model(config: str, env_id: str, seed: int) -> tuple[BaseAlgorithm, int]:
    """The model of ``config`` on ``env_id`` as the comparison builds it, and its step budget."""
    spec = resolve(config, load_configs([config])[config], env_id)
    setup = zoo_preprocess(spec)
    env, eval_env = make_envs(spec, setup, seed, 1)
    eval_env.close()
    return ALGOS[spec["algo"]](env=env, seed=seed, verbose=0, **setup.kwargs), spec["n_timesteps"]


def steps_per_second(config: str, env_id: str, seed: int, steps: int) -> float:
    model, budget = make_model(config, env_id, seed)
    timer = StepTimer(steps)
    model.learn(budget, callback=timer)
    if timer.start is None or timer.seconds != timer.seconds:
        raise RuntimeError(f"{config} on {env_id}: learning did not run {steps} steps within the budget")
    return steps / timer.seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), help="the first is compared with the others")
    # A multiple of every train_freq among the presets (4, 16, 256): each measurement runs whole training rounds.
    parser.add_argument("--steps", type=int, default=3072, help="env steps timed per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    th.set_num_threads(1)
    print(f"python {platform.python_version()}, torch {th.__version__} ({th.get_num_threads()} thread), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(f"command: python benchmarks/preset_speed.py {' '.join(sys.argv[1:] if argv is None else argv)}", flush=True)
    pairs = [(env_id, config) for env_id in args.envs for config in args.configs]
    for env_id, config in pairs:  # untimed: imports, numba's compile or cache load
        steps_per_second(config, env_id, args.seed, 64)
    results: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
    for round_ in range(args.rounds):
        for pair in pairs:
            results[pair].append(steps_per_second(pair[1], pair[0], args.seed + round_, args.steps))
            print(f"  round {round_ + 1}: {pair[1]} on {pair[0]}: {results[pair][-1]:,.1f} steps/s", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end\n")
    print(table(results, args.configs, args.rounds))


def table(results: dict[tuple[str, str], list[float]], configs: list[str], rounds: int) -> str:
    first = configs[0]
    lines = [f"| env | config | steps/s, median of {rounds} | all rounds | {first} / config |", "|---|---|---:|---|---:|"]
    for (env_id, config), values in results.items():
        median = statistics.median(values)
        ratio = statistics.median(results[env_id, first]) / median
        runs = ", ".join(f"{v:,.0f}" for v in values)
        lines.append(f"| {env_id} | {config} | {median:,.0f} | {runs} | {ratio:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
