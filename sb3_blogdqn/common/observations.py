"""
Batches of observations as BlogDQN's hooks handle them: an array with one row per env or sample,
or, for a Dict space, a dict of such arrays, one per key (as SB3's VecEnvs and buffers give them).
"""

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

Observations: TypeAlias = np.ndarray | dict[str, np.ndarray]


def map_observations(function: Callable[[Any], Any], observations: Any) -> Any:
    """``function`` applied to the array, or to each key's array of a Dict observation."""
    if isinstance(observations, dict):
        return {key: function(value) for key, value in observations.items()}
    return function(observations)


def row(observations: Any, i: Any) -> Any:
    """``observations[i]``, of each key's array for a Dict observation (per env step: no closure, arrays first)."""
    if type(observations) is np.ndarray:
        return observations[i]
    return {key: value[i] for key, value in observations.items()}


def with_batch_axis(observation: Any) -> Any:
    """One observation as a batch of one (``x[None]``), of each key's array for a Dict observation."""
    if type(observation) is np.ndarray:
        return observation[None]
    return {key: value[None] for key, value in observation.items()}


def _parts(observations: Any) -> list[np.ndarray]:
    return [np.asarray(part) for part in (observations.values() if isinstance(observations, dict) else [observations])]


def float_sum(observations: Any) -> Any:
    """The sum of every float value: finite exactly when each is, unless it overflows (one check on the per-step path)."""
    if type(observations) is np.ndarray:
        return observations.sum() if observations.dtype.kind == "f" else 0.0
    return float(sum(part.sum() for part in _parts(observations) if part.dtype.kind == "f"))


def finite_rows(observations: Any) -> np.ndarray:
    """Per row (env or sample): whether all its values are finite; integer and bool values (pixels) always are."""
    parts = _parts(observations)
    finite = np.ones(len(parts[0]), dtype=bool)
    for part in parts:
        if part.dtype.kind == "f":
            finite &= np.isfinite(part.reshape(len(part), -1)).all(axis=1)
    return finite


def describe_nonfinite(observation: Any, shown: int = 64) -> str:
    """
    One observation (or reward) for an error message: in full up to ``shown`` values, else (a
    frame, a long history) its shape and where its NaN and inf values are; per key for a Dict.
    """
    if isinstance(observation, dict):
        return "{" + ", ".join(f"{key!r}: {describe_nonfinite(value, shown)}" for key, value in observation.items()) + "}"
    array = np.asarray(observation)
    if array.size <= shown:
        return str(array.tolist())
    bad = ~np.isfinite(array) if array.dtype.kind == "f" else np.zeros(array.shape, dtype=bool)
    if not bad.any():
        return f"an array of shape {array.shape}, all finite"
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"an array of shape {array.shape} with {int(bad.sum())} non-finite values, the first "
            f"{array[first]} at index {first}")
