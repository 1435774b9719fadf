"""
How BlogDQN takes an env: as a VecEnv ending in its observation history (B1-B3), refusing the
wrappers that would stack a second history or a second normalization on its own (B1, B4).
"""

import warnings

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecNormalize

from sb3_blogdqn.common.checks import (
    BLOG_HISTORY_LENGTH,
    Problem,
    action_space_problems,
    find_vec_wrapper,
    history_length_problems,
    is_image_state,
    observation_space_problems,
    raise_problems,
)
from sb3_blogdqn.common.observations import describe_nonfinite, finite_rows, row, with_batch_axis
from sb3_blogdqn.common.wrappers import VecHistory, VecStandardScaler, frame_stack_problems


def vec_wrapper_problems(vec_env: VecEnv, history_length: int | None) -> list[Problem]:
    """Wrappers that would stack a second history or a second normalization on BlogDQN's (B1, B4)."""
    problems = []
    history = find_vec_wrapper(vec_env, VecHistory)
    frame_stack = find_vec_wrapper(vec_env, VecFrameStack)
    if frame_stack is not None and not stacks_images(frame_stack):
        problems.append(Problem(
            "The env is wrapped in VecFrameStack, but BlogDQN applies its own observation history (history_length) to "
            "vectors: stacking both would break the replay buffer's next observations. Remove the VecFrameStack (in an "
            "RL Zoo config: drop 'frame_stack')."
        ))
    elif frame_stack is not None and history is not None and find_vec_wrapper(frame_stack, VecHistory) is not None:
        problems.append(Problem(
            "The env is wrapped in VecFrameStack around a VecHistory: it would stack histories. Put the VecFrameStack "
            "inside (VecHistory(VecFrameStack(env, n), history_length=1)) or drop it (BlogDQN stacks the history, B1)."
        ))
    elif frame_stack is not None and history is None and history_length not in (None, 1):
        problems += frame_stack_problems(vec_env, history_length)
    if find_vec_wrapper(vec_env, VecNormalize) is not None:
        problems.append(Problem(
            "The env is wrapped in VecNormalize, but BlogDQN applies its own StandardScaler fitted on the warm-up (B4): "
            "stacking both would normalize twice. Remove the VecNormalize (in an RL Zoo config: drop 'normalize')."
        ))
    if find_vec_wrapper(vec_env, VecStandardScaler) is not None:
        problems.append(Problem(
            "The env is wrapped in VecStandardScaler, but BlogDQN fits its own StandardScaler on its warm-up and "
            "keeps it in the model (B4): the inputs would be standardized twice. Remove the VecStandardScaler "
            "(make_blog_env without scaler=..., or drop it from the RL Zoo config's vec_env_wrapper); it is "
            "meant for the other SB3 algorithms."
        ))
    if history is not None and history_length is not None and history.history_length != history_length:
        problems.append(Problem(
            f"The env already has a VecHistory of length {history.history_length}, but BlogDQN was "
            f"given history_length={history_length}. Build the env with the same history_length, or leave "
            "history_length=None to take the env's."
        ))
    return problems


def stacks_images(frame_stack: VecFrameStack) -> bool:
    """Whether a ``VecFrameStack`` stacks image frames (a 3-D Box, or a Dict holding one): B1's history, for BlogDQN."""
    space = frame_stack.venv.observation_space
    subspaces = space.spaces.values() if isinstance(space, spaces.Dict) else [space]
    return any(is_image_state(subspace) for subspace in subspaces)


def wrap_blog_env(env: gym.Env | VecEnv | str, history_length: int | None, verbose: int = 0) -> VecEnv:
    """
    Return ``env`` as a VecEnv ending in a :class:`VecHistory` of ``history_length``.

    An env id is built as :func:`make_blog_env` does; a gymnasium env or a VecEnv gets SB3's
    usual ``Monitor``/``DummyVecEnv`` wrapping (and ``VecTransposeImage`` for channels-last
    images) and then the history, unless it already has one (``history_length=None`` takes its
    length, else the blog's 4; an env stacking image frames in ``VecFrameStack`` is the history,
    of length 1). Envs carrying ``VecNormalize`` or ``VecStandardScaler``, or ``VecFrameStack`` on
    vectors, are refused: BlogDQN keeps its own history (B1) and its own frozen scaler (B4). All
    problems found are raised together (``checks.SetupError``; ``checks.SpaceError`` if only the
    spaces are wrong).
    """
    problems = [] if history_length is None else history_length_problems(history_length)
    if isinstance(env, str):
        env = make_vec_env(env)
    problems += action_space_problems(env.action_space)
    if find_vec_wrapper(env, VecHistory) is None:  # before SB3's wrapping, which fails on some spaces (nested Dicts)
        raise_problems(problems + observation_space_problems(env.observation_space))
    vec_env = BaseAlgorithm._wrap_env(env, verbose)
    raise_problems(problems + vec_wrapper_problems(vec_env, history_length))
    if find_vec_wrapper(vec_env, VecHistory) is not None:
        return vec_env
    if find_vec_wrapper(vec_env, VecFrameStack) is not None:
        return VecHistory(vec_env, 1)  # the frames stacked already are the history (B1)
    return VecHistory(vec_env, BLOG_HISTORY_LENGTH if history_length is None else history_length)


def nonfinite_transitions(
    histories: np.ndarray,
    next_observations: list[np.ndarray],
    rewards: np.ndarray,
    stored: np.ndarray,
    on_nonfinite: str,
    num_timesteps: int,
) -> tuple[np.ndarray, int]:
    """
    Per env, whether its step's history, next history and reward are all finite, and how many of
    the ``stored`` transitions are not. ``on_nonfinite="raise"``: a ``ValueError`` naming the env,
    the value and the fixes, before anything is stored; ``"skip"``: a warning, and the caller
    drops them: a NaN or inf must never reach the memory, the StandardScaler (B4) or the weights.
    """
    checks = {
        "history": finite_rows(histories),
        "next observation": np.array([finite_rows(with_batch_axis(obs))[0] for obs in next_observations]),
        "reward": np.isfinite(rewards),
    }
    finite = np.logical_and.reduce(list(checks.values()))
    if on_nonfinite == "raise" and not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        what = next(name for name, ok in checks.items() if not ok[i])
        values = {"history": row(histories, i), "next observation": next_observations[i], "reward": rewards[i]}
        raise ValueError(
            f"Env {i} gave a non-finite {what} (NaN or inf) at timestep {num_timesteps}: "
            f"{describe_nonfinite(values[what])}. BlogDQN stops before storing it: it must not reach the replay "
            "memory, the StandardScaler (B4, which would spread it to every input) or the weights. Fix the env or "
            "clip it with a wrapper (gymnasium.wrappers.ClipReward, TransformObservation), or pass "
            "on_nonfinite='skip' to drop such transitions with a warning."
        )
    n_rejected = int(np.sum(~finite & stored))
    if n_rejected:
        warnings.warn(
            "on_nonfinite='skip': the env gave a non-finite history, next observation or reward; the "
            "transitions holding it are dropped (n_rejected_nonfinite counts them).",
            RuntimeWarning,
            stacklevel=4,
        )
    return finite, n_rejected
