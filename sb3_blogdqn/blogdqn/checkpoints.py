"""
Resume a killed BlogDQN run from the checkpoints of SB3's ``CheckpointCallback``.

Train with ``CheckpointCallback(save_freq, save_path, save_replay_buffer=True)``; after a
crash, ``resume_from_checkpoint(save_path, env, total_timesteps)`` finishes the run. The
model zip holds the weights, the scaler (B4), Adam's moments and step count (B12), ε and
its decision count (B8), the target-copy and episode-step counters (B13, B2) and
``num_timesteps``; the ``.pkl`` beside it holds the replay memory (B5).

SB3 writes both files in place, so a process killed while saving leaves a truncated
file, or a model without its replay buffer: such checkpoints are skipped with a warning
and the newest complete one is used.

What a checkpoint cannot hold is the env's position inside its episode and the random
generators' state: a resumed run starts fresh episodes (its episode-step counters
restart at 0 on the first reset, as after any ``load()``) and draws from the generators
re-seeded with ``seed`` (by default the model's own). So two resumes of one checkpoint
with the same seed are identical, but not identical to the run that was killed.
"""

import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback

from sb3_blogdqn.blogdqn.blogdqn import BlogDQN
from sb3_blogdqn.blogdqn.saving import read_saved_model
from sb3_blogdqn.common.buffers import HistoryReplayBuffer
from sb3_blogdqn.common.checks import Problem, SetupError


@dataclass(frozen=True)
class Checkpoint:
    """One ``CheckpointCallback`` checkpoint: the model zip and its replay buffer, at ``num_timesteps``."""

    num_timesteps: int
    model_path: Path
    replay_buffer_path: Path


def find_checkpoints(checkpoint_dir: str | Path, name_prefix: str = "rl_model") -> list[Checkpoint]:
    """The checkpoints ``CheckpointCallback(name_prefix=...)`` wrote in ``checkpoint_dir``, newest first."""
    checkpoint_dir = Path(checkpoint_dir)
    pattern = re.compile(rf"{re.escape(name_prefix)}_(\d+)_steps\.zip")
    checkpoints = []
    for path in checkpoint_dir.glob(f"{name_prefix}_*_steps.zip"):
        match = pattern.fullmatch(path.name)
        if match:
            steps = int(match.group(1))
            buffer_path = checkpoint_dir / f"{name_prefix}_replay_buffer_{steps}_steps.pkl"
            checkpoints.append(Checkpoint(steps, path, buffer_path))
    return sorted(checkpoints, key=lambda checkpoint: checkpoint.num_timesteps, reverse=True)


def _incomplete_reason(checkpoint: Checkpoint) -> str | None:
    """Why ``checkpoint`` cannot be resumed from (a file missing, truncated or corrupted), or None."""
    try:
        read_saved_model(checkpoint.model_path)
    except SetupError as error:
        return "; ".join(problem.message for problem in error.problems)
    if not checkpoint.replay_buffer_path.exists():
        return f"its replay buffer {checkpoint.replay_buffer_path.name} is missing"
    try:
        with open(checkpoint.replay_buffer_path, "rb") as file:  # as SB3's load_from_pkl, closing on error
            buffer = pickle.load(file)
    except Exception as error:  # a truncated pickle fails in many ways (EOFError, UnpicklingError...)
        name = checkpoint.replay_buffer_path.name
        return f"its replay buffer {name} is truncated or corrupted ({type(error).__name__}: {error})"
    if not isinstance(buffer, HistoryReplayBuffer):
        return f"{checkpoint.replay_buffer_path.name} holds a {type(buffer).__name__}, not BlogDQN's HistoryReplayBuffer"
    return None


def load_checkpoint(
    checkpoint_dir: str | Path,
    env: GymEnv,
    name_prefix: str = "rl_model",
    seed: int | None = None,
    device: th.device | str = "auto",
    **load_kwargs: Any,
) -> BlogDQN:
    """
    Load the newest complete checkpoint in ``checkpoint_dir``: the model and its replay buffer.

    Incomplete checkpoints (a truncated zip or pickle, a zip without its replay buffer, as
    left by a process killed while saving) are skipped with a warning. Call
    ``learn(..., reset_num_timesteps=False)`` on the result to continue, or use
    :func:`resume_from_checkpoint`.

    :param checkpoint_dir: the ``save_path`` of the ``CheckpointCallback``
    :param env: the env to continue on (wrapped in the model's history as ``BlogDQN.load`` does)
    :param name_prefix: the ``CheckpointCallback``'s ``name_prefix``
    :param seed: re-seed the random generators and the env with it (None: the model's own seed)
    :param device: torch device
    :param load_kwargs: passed to ``BlogDQN.load``
    :raises FileNotFoundError: when no checkpoint in the folder is complete
    :raises SetupError: when the newest complete checkpoint does not fit ``env``
    """
    skipped = []
    for checkpoint in find_checkpoints(checkpoint_dir, name_prefix):
        reason = _incomplete_reason(checkpoint)
        if reason is not None:
            skipped.append(f"{checkpoint.model_path.name}: {reason}")
            continue
        if skipped:
            warnings.warn(
                f"Resuming from {checkpoint.model_path.name}; skipped the newer, incomplete checkpoint(s): "
                + "; ".join(skipped),
                stacklevel=2,
            )
        model = BlogDQN.load(checkpoint.model_path, env=env, device=device, **load_kwargs)
        model.load_replay_buffer(checkpoint.replay_buffer_path)
        if model.replay_buffer.observations.shape[2:] != model.observation_space.shape:
            raise SetupError([Problem(
                f"its replay buffer {checkpoint.replay_buffer_path.name} stores observations of shape "
                f"{model.replay_buffer.observations.shape[2:]}, the model {model.observation_space.shape}."
            )], f"Cannot resume from {checkpoint.model_path}")
        if seed is not None:
            model.seed = seed
            model.set_random_seed(seed)
        return model
    raise FileNotFoundError(
        f"No complete BlogDQN checkpoint (a '{name_prefix}_<steps>_steps.zip' with its "
        f"'{name_prefix}_replay_buffer_<steps>_steps.pkl') in '{checkpoint_dir}'. Train with "
        "CheckpointCallback(..., save_replay_buffer=True)."
        + (f" Skipped: {'; '.join(skipped)}" if skipped else "")
    )


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
    Finish an interrupted ``learn(total_timesteps)`` from its newest complete checkpoint.

    Loads it with :func:`load_checkpoint`, then learns with ``reset_num_timesteps=False``
    until ``num_timesteps`` reaches ``total_timesteps`` (the budget the killed run was given;
    ``num_timesteps`` counts the warm-up, as in the checkpoints' names). Pass the run's
    ``CheckpointCallback`` again as ``callback`` to keep checkpointing.

    :return: the trained model
    """
    model = load_checkpoint(checkpoint_dir, env, name_prefix=name_prefix, seed=seed, device=device, **load_kwargs)
    remaining = total_timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=callback, log_interval=log_interval, tb_log_name=tb_log_name,
                    reset_num_timesteps=False, progress_bar=progress_bar)
    return model
