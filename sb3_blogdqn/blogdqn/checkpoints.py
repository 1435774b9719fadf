"""
Resume a killed BlogDQN run from its newest complete checkpoint.

Train with ``CheckpointCallback(save_freq, save_path, save_replay_buffer=True)`` (this
package's, or SB3's); after a crash, ``resume_from_checkpoint(save_path, env, total_timesteps)``
finishes the run. The model zip holds the weights, the scaler (B4), Adam's moments and step
count (B12), ε and its decision count (B8), the target-copy and episode-step counters (B13,
B2) and ``num_timesteps``; the replay buffer beside it holds the replay memory (B5). The layout,
the scan for the newest complete checkpoint and the one resume path are
:mod:`sb3_blogdqn.common.checkpoints`', which the comparison tool uses too.
"""

from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback

from sb3_blogdqn.blogdqn.blogdqn import BlogDQN
from sb3_blogdqn.common.checkpoints import find_checkpoint


def load_checkpoint(
    checkpoint_dir: str | Path,
    env: GymEnv,
    name_prefix: str = "rl_model",
    seed: int | None = None,
    device: th.device | str = "auto",
    **load_kwargs: Any,
) -> BlogDQN:
    """
    The model of the newest complete checkpoint, with its replay buffer (and the env's scaler statistics).
    Call ``learn(..., reset_num_timesteps=False)`` on it to continue, or use :func:`resume_from_checkpoint`.

    :param checkpoint_dir: the ``save_path`` of the ``CheckpointCallback``
    :param env: the env to continue on (wrapped in the model's history, as ``BlogDQN.load`` does)
    :param name_prefix: the ``CheckpointCallback``'s ``name_prefix``
    :param seed: the run's seed (None: the model's own); the generators get ``seed + num_timesteps``
    :param device: torch device
    :param load_kwargs: passed to ``BlogDQN.load``
    :raises FileNotFoundError: when no checkpoint in the folder is complete
    :raises SetupError: when the newest complete checkpoint does not fit ``env``
    """
    return find_checkpoint(checkpoint_dir, name_prefix).load(env, BlogDQN, seed=seed, device=device, **load_kwargs)


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
    """
    Finish an interrupted ``learn(total_timesteps)`` from its newest complete checkpoint
    (:func:`load_checkpoint`), learning with ``reset_num_timesteps=False`` until ``num_timesteps``
    reaches ``total_timesteps``. Pass the run's ``CheckpointCallback`` again as ``callback`` to
    keep checkpointing.

    :return: the trained model
    """
    model = load_checkpoint(checkpoint_dir, env, name_prefix, seed, device, **load_kwargs)
    remaining = total_timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=callback, log_interval=log_interval, tb_log_name=tb_log_name,
                    reset_num_timesteps=False, progress_bar=progress_bar)
    return model
