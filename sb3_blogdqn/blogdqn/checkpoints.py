"""
Resume a killed BlogDQN run: :mod:`sb3_blogdqn.common.checkpoints` with BlogDQN as the algorithm.

Train with ``CheckpointCallback(save_freq, save_path, save_replay_buffer=True)`` (this
package's, or SB3's); after a crash, ``resume_from_checkpoint(save_path, env, total_timesteps)``
finishes the run. The model zip holds the weights, the scaler (B4), Adam's moments and step
count (B12), ε and its decision count (B8), the target-copy and episode-step counters (B13,
B2) and ``num_timesteps``; the replay buffer beside it holds the replay memory (B5).
"""

from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback

from sb3_blogdqn.blogdqn.blogdqn import BlogDQN
from sb3_blogdqn.common import checkpoints


def load_checkpoint(
    checkpoint_dir: str | Path,
    env: GymEnv,
    name_prefix: str = "rl_model",
    seed: int | None = None,
    device: th.device | str = "auto",
    **load_kwargs: Any,
) -> BlogDQN:
    """BlogDQN's :func:`sb3_blogdqn.common.checkpoints.load_checkpoint` (the env is wrapped in the model's history)."""
    return checkpoints.load_checkpoint(checkpoint_dir, env, name_prefix, seed, device, algorithm=BlogDQN, **load_kwargs)


def resume_from_checkpoint(
    checkpoint_dir: str | Path,
    env: GymEnv,
    total_timesteps: int,
    callback: MaybeCallback = None,
    name_prefix: str = "rl_model",
    seed: int | None = None,
    log_interval: int = 4,
    tb_log_name: str = "BlogDQN",
    progress_bar: bool = False,
    device: th.device | str = "auto",
    **load_kwargs: Any,
) -> BlogDQN:
    """BlogDQN's :func:`sb3_blogdqn.common.checkpoints.resume_from_checkpoint`: finish a killed ``learn(total_timesteps)``."""
    return checkpoints.resume_from_checkpoint(
        checkpoint_dir, env, total_timesteps, callback, name_prefix, seed, log_interval, tb_log_name, progress_bar,
        device, algorithm=BlogDQN, **load_kwargs,
    )
