"""
What the number of quantiles costs QR-DQN on MinAtar: env steps per second of sb3-contrib's QR-DQN
with the MinAtar paper's DQN settings (compare's ``qrdqn-minatar``: MinAtarCNN, one update of 32 per
env step, centred RMSProp) at several ``n_quantiles``, and of SB3's DQN beside them, timed over
``--steps`` env steps once learning has started, one torch thread, the configurations alternating
within each round, median of the rounds.

QR-DQN's loss (``sb3_contrib.common.utils.quantile_huber_loss``) compares every predicted quantile
with every target quantile, a (batch, N, N) tensor, so its cost grows as N²; on MinAtar's small
network that loss is most of an update at sb3-contrib's default N = 200.

    python benchmarks/quantile_cost.py --rounds 3
"""

import argparse
import statistics
import time
from typing import Any

import gymnasium as gym
import torch as th
from sb3_contrib import QRDQN
from stable_baselines3 import DQN

from sb3_blogdqn import MinAtarCNN
from sb3_blogdqn.zoo import register_env_families

SETTINGS: dict[str, Any] = dict(buffer_size=100_000, batch_size=32, learning_rate=2.5e-4, gamma=0.99, train_freq=1,
                                gradient_steps=1, target_update_interval=1000, exploration_final_eps=0.1,
                                max_grad_norm=1e10)
OPTIMIZER = dict(features_extractor_class=MinAtarCNN, optimizer_class=th.optim.RMSprop,
                 optimizer_kwargs=dict(alpha=0.95, eps=0.01, centered=True))


def steps_per_second(n_quantiles: int | None, env_id: str, steps: int, seed: int) -> float:
    """Env steps/s over ``steps`` steps after ``steps`` of warm-up (learning_starts), DQN when ``n_quantiles`` is None."""
    env = gym.make(env_id)
    model: DQN | QRDQN
    if n_quantiles is None:
        model = DQN("CnnPolicy", env, learning_starts=steps, seed=seed, policy_kwargs=OPTIMIZER, **SETTINGS)
    else:
        model = QRDQN("CnnPolicy", env, learning_starts=steps, seed=seed,
                      policy_kwargs=dict(OPTIMIZER, n_quantiles=n_quantiles), **SETTINGS)
    model.learn(steps + 100)  # the warm-up and the first updates, untimed
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MinAtar/Breakout-v1")
    parser.add_argument("--quantiles", type=int, nargs="+", default=[200, 100, 50, 25])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    th.set_num_threads(1)
    register_env_families()
    labels = {None: "DQN", **{n: f"QR-DQN, {n} quantiles" for n in args.quantiles}}
    rates: dict[int | None, list[float]] = {n: [] for n in labels}
    for round_ in range(args.rounds):
        for n in labels:
            rates[n].append(steps_per_second(n, args.env, args.steps, seed=round_))
            print(f"round {round_ + 1}: {labels[n]}: {rates[n][-1]:,.0f} env steps/s", flush=True)
    print(f"\n{args.env}, {args.steps:,} env steps after learning starts, median of {args.rounds}:\n")
    print("| configuration | env steps/s | ms per env step | hours per 1M env steps |")
    print("|---|---:|---:|---:|")
    for n, label in labels.items():
        rate = statistics.median(rates[n])
        print(f"| {label} | {rate:,.0f} | {1000 / rate:.1f} | {1e6 / rate / 3600:.1f} |")


if __name__ == "__main__":
    main()
