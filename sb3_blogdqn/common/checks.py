"""
The checks BlogDQN makes on its hyperparameters and its env's spaces, and the one error type.

The ``*_problems`` functions return the problems they find instead of raising, so that
BlogDQN's constructor can report all of them in one error (like SB3's ``check_env``
does for an env, but listing everything at once). :func:`raise_problems` turns a list
into that error:

- :class:`SpaceError` when only the env's spaces are wrong. It is a ``TypeError`` (the
  env is of the wrong *kind*, as SB3 and gymnasium signal for spaces) and a ``ValueError``.
- :class:`SetupError` (a ``ValueError``) as soon as any other problem is present.

Both carry the list in ``.problems``. The ``check_*`` functions raise the same errors
for callers that validate a single thing. This module is the package's ground floor: it
imports nothing of sb3_blogdqn (the wrappers' own stacking checks live with them, the saved
files' checks with the algorithm, in ``blogdqn/saving.py``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import VecEnvWrapper

BLOG_HISTORY_LENGTH = 4  # agent_hist_len (B1)
WrapperT = TypeVar("WrapperT", bound=VecEnvWrapper)

@dataclass(frozen=True)
class Problem:
    """One reason BlogDQN cannot run; ``space`` marks a problem of the env's spaces only."""

    message: str
    space: bool = False


class SetupError(ValueError):
    """BlogDQN cannot run with this setup or file; ``problems`` lists every reason found."""

    def __init__(self, problems: Sequence[Problem], subject: str = "BlogDQN cannot run with this setup") -> None:
        self.problems = list(problems)
        lines = [f"{subject} ({len(self.problems)} problem{'s' if len(self.problems) > 1 else ''}):"]
        lines += [f"  {i}. {problem.message}" for i, problem in enumerate(self.problems, start=1)]
        super().__init__("\n".join(lines))


class SpaceError(SetupError, TypeError, AssertionError):
    """Only the env's observation or action space is wrong (an ``AssertionError`` too, as SB3 signals it)."""


def raise_problems(problems: Sequence[Problem], subject: str = "BlogDQN cannot run with this setup") -> None:
    """Raise one error listing all ``problems`` (see the module docstring for its type); nothing if empty."""
    if problems:
        raise (SpaceError if all(problem.space for problem in problems) else SetupError)(problems, subject)


# ----------------------------------------------------------------------- hyperparameters


def is_integer(value: Any) -> bool:
    """An int or a numpy integer, not a bool (an int subclass: ``True`` would silently mean 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A Python or numpy number that is not a bool; NaN and inf are numbers too (the ranges refuse them)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not is_bool(value)


def in_range(value: Any, lowest: float, highest: float, open_low: bool = False) -> bool:
    """A number in [lowest, highest] (in (lowest, highest] if ``open_low``): never NaN, inf only if ``highest`` is."""
    return is_real(value) and (lowest < value if open_low else lowest <= value) and value <= highest


def history_length_problems(history_length: Any) -> list[Problem]:
    if is_integer(history_length) and history_length >= 1:
        return []
    return [Problem(
        f"history_length must be an integer >= 1 (the number of states the agent sees, B1), got "
        f"{history_length!r}. Use 4 for the blog's setting or 1 for no history."
    )]


# ----------------------------------------------------------------------- env


ENCODED_SPACES = (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
"""Observation spaces SB3's DQN one-hot (or float) encodes, which VecHistory encodes the same way."""


def is_image_state(space: spaces.Space) -> bool:
    """Whether BlogDQN reads ``space``'s states as images: a 3-D Box, channels first or last (B1 stacks channels)."""
    return isinstance(space, spaces.Box) and len(space.shape) == 3


def observation_space_problems(observation_space: spaces.Space) -> list[Problem]:
    """
    BlogDQN takes vectors (a 1-D Box of reals, or a space SB3 encodes as one, ``ENCODED_SPACES``),
    images (a 3-D Box) and a Dict of those: the spaces its history (B1) and its policies can read.
    """
    if isinstance(observation_space, spaces.Dict):
        problems = []
        for key, subspace in observation_space.spaces.items():
            if not isinstance(key, str):
                problems.append(Problem(f"the Dict observation space has the key {key!r}; SB3's buffers and "
                                        "policies take string keys only. Rename it with a wrapper.", space=True))
            elif isinstance(subspace, spaces.Dict):
                problems.append(Problem(f"the Dict observation space nests a Dict at {key!r}; SB3's "
                                        "MultiInputPolicy takes one level. Flatten it with a wrapper "
                                        "(gymnasium.wrappers.FlattenObservation on the inner Dict).", space=True))
            else:
                problems += [Problem(f"the Dict observation space's key {key!r}: {problem.message}", space=True)
                             for problem in observation_space_problems(subspace)]
        return problems
    if (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1) or is_image_state(
        observation_space
    ):
        return []
    if isinstance(observation_space, ENCODED_SPACES) and (
        len(observation_space.shape or ()) <= 1 or isinstance(observation_space, spaces.MultiBinary)
    ):
        return []  # SB3 flattens a MultiBinary of any shape
    if isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 4:
        hint = ("a Box of 4 dimensions is a stack of images (gymnasium's FrameStackObservation): BlogDQN stacks the "
                "history itself (B1), on the channel axis; drop the stacking wrapper, or stack with SB3's "
                "VecFrameStack, which BlogDQN accepts as the history of images")
    elif isinstance(observation_space, spaces.Box):
        hint = "flatten it with gymnasium.wrappers.FlattenObservation"
    else:
        hint = "wrap the env so that it returns a 1-D Box, an image (3-D Box), a Discrete, a MultiDiscrete or a MultiBinary"
    return [Problem(
        f"BlogDQN needs vector observations (a flat Box, or a Discrete, MultiDiscrete or MultiBinary space, encoded as "
        f"SB3's DQN encodes them), images (a 3-D Box) or a Dict of those, got {observation_space}: {hint}.",
        space=True,
    )]


def action_space_problems(action_space: spaces.Space) -> list[Problem]:
    if isinstance(action_space, spaces.Discrete):
        return []
    return [Problem(
        f"BlogDQN needs a Discrete action space (one Q-value per action), got {action_space}. "
        "For continuous actions use SAC or TD3; for MultiDiscrete, flatten the action set "
        "into one Discrete space with a wrapper.",
        space=True,
    )]


def find_vec_wrapper(env: GymEnv | None, wrapper_class: type[WrapperT]) -> WrapperT | None:
    """The outermost ``wrapper_class`` around ``env``, or None."""
    while isinstance(env, VecEnvWrapper):
        if isinstance(env, wrapper_class):
            return env
        env = env.venv
    return None


def check_history_length(history_length: Any) -> None:
    """Raise a :class:`SetupError` (a ``ValueError``) unless ``history_length`` is an integer >= 1."""
    raise_problems(history_length_problems(history_length))


def check_discrete_actions(action_space: spaces.Space) -> None:
    """Raise a :class:`SpaceError` (a ``TypeError``) naming the fix unless the actions are Discrete."""
    raise_problems(action_space_problems(action_space))
