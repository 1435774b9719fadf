"""
Env steps per second on images: BlogDQN's CnnPolicy against SB3's DQN, on MinAtar Breakout
(the MinAtar paper's network, ``MinAtarCNN``) and Atari Pong (SB3's ``NatureCNN``, ``AtariWrapper``).

Per env, measured in one process, the configurations alternating within each repetition (the
machine's load hits them alike), the median over repetitions reported, torch on one thread.
Each measurement builds a fresh model, plays until learning has started (untimed), then times
``learn()`` over the given env steps:

    (a) BlogDQN, the blog's rules: a replay per stored transition, each of 32 per-sample Adam
        steps (B11) through the CNN
    (b) BlogDQN, ``per_sample_updates=False``: one Adam step on the minibatch per env step
    (c) BlogDQN set as SB3's DQN (``SB3_SETTINGS``: Huber loss on the taken action, torch's
        Adam, gradients clipped at 10, SB3's target update and ε schedule) with the RL Zoo's Atari
        schedule, a replay of 32 every 4 env steps
    (d) SB3's DQN, the same settings as (c)

The speed target of images is (c) at least (d). Run ``python benchmarks/image_throughput.py --help``.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import stable_baselines3
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_atari_env, make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

from sb3_blogdqn import BlogDQN, MinAtarCNN
from sb3_blogdqn.zoo import register_env_families

LEARNING_STARTS = 200
SCHEDULE: dict[str, Any] = dict(batch_size=32, train_freq=4, gradient_steps=1, target_update_interval=1000,
                                buffer_size=10_000, learning_rate=1e-4, exploration_fraction=0.1, exploration_final_eps=0.01)
"""The RL Zoo's dqn.yml ``atari:`` schedule (its buffer made smaller: only speed is measured here)."""
SB3_SETTINGS: dict[str, Any] = dict(loss="huber", loss_on_all_actions=False, target_update_on_episode_step=False,
                                    per_sample_updates=False, max_grad_norm=10.0, skip_short_histories=False)
"""BlogDQN's switches at SB3 DQN's behaviour (docs/blogdqn.md), the optimizer in policy_kwargs."""


def pong(seed: int, history: bool) -> VecEnv:
    """Pong through SB3's AtariWrapper: 4 frames stacked by BlogDQN's history (B1) or SB3's VecFrameStack."""
    env = make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=seed)
    return env if history else VecFrameStack(env, 4)


def minatar(seed: int, history: bool) -> VecEnv:
    """MinAtar Breakout, its frames as the paper feeds them (no stacking); ``history`` is unused."""
    return make_vec_env("MinAtar/Breakout-v1", n_envs=1, seed=seed)


ENVS: dict[str, tuple[Callable[[int, bool], VecEnv], dict[str, Any], int]] = {
    # name: (env builder, policy kwargs, BlogDQN's history_length)
    "MinAtar/Breakout-v1": (minatar, dict(features_extractor_class=MinAtarCNN), 1),
    "PongNoFrameskip-v4": (pong, {}, 4),
}


def configurations(env_name: str) -> dict[str, Callable[[int], BaseAlgorithm]]:
    """Label -> model factory taking a seed."""
    make_env, policy_kwargs, history_length = ENVS[env_name]
    sb3_policy = {**policy_kwargs, "optimizer_class": th.optim.Adam}
    blog: dict[str, Any] = dict(learning_starts=LEARNING_STARTS, buffer_size=SCHEDULE["buffer_size"],
                                history_length=history_length, policy_kwargs=policy_kwargs)
    return {
        "(a) BlogDQN, blog rules": lambda seed: BlogDQN("CnnPolicy", make_env(seed, True), seed=seed, **blog),
        "(b) BlogDQN, per_sample_updates=False": lambda seed: BlogDQN(
            "CnnPolicy", make_env(seed, True), seed=seed, per_sample_updates=False, **blog),
        "(c) BlogDQN, SB3's settings": lambda seed: BlogDQN(
            "CnnPolicy", make_env(seed, True), seed=seed, history_length=history_length, policy_kwargs=sb3_policy,
            learning_starts=LEARNING_STARTS, **SB3_SETTINGS, **SCHEDULE),
        "(d) SB3 DQN, the same settings": lambda seed: DQN(
            "CnnPolicy", make_env(seed, False), seed=seed, policy_kwargs=policy_kwargs,
            learning_starts=LEARNING_STARTS, **SCHEDULE),
    }  # fmt: skip


def steps_per_second(make_model: Callable[[int], BaseAlgorithm], steps: int, seed: int) -> float:
    """Env steps per second of ``learn(steps)`` once learning has started."""
    model = make_model(seed)
    model.learn(LEARNING_STARTS + 10)  # untimed: past the warm-up, so every timed step learns
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", choices=sorted(ENVS), action="append", help="env(s) to measure (default: both)")
    parser.add_argument("--steps", type=int, default=2000, help="timed env steps of (b), (c) and (d)")
    parser.add_argument("--slow-steps", type=int, default=100, help="timed env steps of (a), per-sample updates")
    parser.add_argument("--repetitions", type=int, default=3, help="alternating rounds (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.steps, args.slow_steps, args.repetitions) < 1:
        parser.error("--steps, --slow-steps and --repetitions must be >= 1")
    register_env_families()
    gym.logger.min_level = gym.logger.ERROR
    th.set_num_threads(1)
    print(f"python {platform.python_version()}, torch {th.__version__} ({th.get_num_threads()} thread), "
          f"stable-baselines3 {stable_baselines3.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"command: python benchmarks/image_throughput.py {' '.join(sys.argv[1:] if argv is None else argv)}\n")
    for env_name in args.env or sorted(ENVS):
        configs = configurations(env_name)
        results: dict[str, list[float]] = {label: [] for label in configs}
        for repetition in range(args.repetitions):
            for label, make_model in configs.items():
                steps = args.slow_steps if label.startswith("(a)") else args.steps
                results[label].append(steps_per_second(make_model, steps, args.seed + repetition))
                print(f"  {env_name} round {repetition + 1}: {label}: {results[label][-1]:,.1f} steps/s", flush=True)
        medians = {label: statistics.median(values) for label, values in results.items()}
        print(f"\n{env_name}, load average {os.getloadavg()[0]:.1f}\n")
        print(f"| configuration | timed env steps | steps/s, median of {args.repetitions} | all runs |")
        print("|---|---:|---:|---|")
        for label, values in results.items():
            steps = args.slow_steps if label.startswith("(a)") else args.steps
            print(f"| {label} | {steps:,} | {medians[label]:,.1f} | {', '.join(f'{v:,.1f}' for v in values)} |")
        a, b, c, d = medians.values()
        print(f"\nc/d = {c / d:.2f}   b/a = {b / a:.1f} (the cost of B11's per-sample updates)\n")


if __name__ == "__main__":
    main()
