"""
The blog's StandardScaler (B4): fitted once on random warm-up play, then frozen.

The one implementation of B4's arithmetic. BlogDQN's input layer
(``blogdqn.policies.StandardScalerExtractor``) and the VecEnv wrapper for any SB3
algorithm (``common.wrappers.VecStandardScaler``) both fit with :func:`fit_standard_scaler`
and standardize with :func:`standardize`.
"""

from typing import TypeVar

import numpy as np

# scikit-learn's threshold: a standard deviation this small is rounding noise of a constant
# feature, and dividing by it would blow that noise up (or give NaN for an exact zero).
NEGLIGIBLE_STD = 10 * np.finfo(np.float64).eps

Array = TypeVar("Array")  # a numpy array or a torch tensor: standardize() works on both


def fit_standard_scaler(
    observations: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """
    Per-feature ``(mean, scale)`` of ``observations`` in float64, as scikit-learn's StandardScaler (B4).

    ``scale`` is the population standard deviation (``ddof=0``), with values below
    ``10 * float64 eps`` replaced by 1 so that constant features pass through centred
    instead of becoming NaN or huge.

    With ``bounds``, every feature whose two bounds are finite takes instead the statistics
    of the two corners ``low`` and ``high``: mean ``(low + high) / 2`` and scale
    ``(high - low) / 2``, which map the bounded range onto [-1, 1]. Random play can stay in
    a small part of that range (MountainCar-v0's valley), and states beyond it would then
    reach the network as inputs of many standard deviations. Unbounded features keep the
    statistics of ``observations``.

    :param observations: one observation per row (rows are flattened; e.g. B1's histories)
    :param bounds: ``(low, high)`` of the observation space, each of one row's size, or None
    :raises ValueError: for zero rows, or rows holding NaN or inf (naming the first bad row)
    """
    observations = np.asarray(observations, dtype=np.float64).reshape(len(observations), -1)
    if len(observations) == 0:
        raise ValueError("Cannot fit the StandardScaler on zero observations.")
    bad_rows = np.flatnonzero(~np.isfinite(observations).all(axis=1))
    if len(bad_rows) > 0:
        raise ValueError(
            f"The env returned non-finite observations (NaN or inf) in {len(bad_rows)} of the "
            f"{len(observations)} warm-up histories used to fit the StandardScaler (B4), e.g. row "
            f"{bad_rows[0]}: {observations[bad_rows[0]]}. Fix the env, or clip its observations "
            "with a wrapper (gymnasium.wrappers.ClipObservation / TransformObservation)."
        )
    mean = observations.mean(axis=0)
    scale = observations.std(axis=0)
    scale[scale < NEGLIGIBLE_STD] = 1.0
    if bounds is not None:
        low, high = (np.asarray(bound, dtype=np.float64).reshape(-1) for bound in bounds)
        bounded = np.isfinite(low) & np.isfinite(high)
        corners = np.stack([np.where(bounded, low, 0.0), np.where(bounded, high, 0.0)])
        corner_mean, corner_scale = fit_standard_scaler(corners)
        mean, scale = np.where(bounded, corner_mean, mean), np.where(bounded, corner_scale, scale)
    return mean, scale


def standardize(observations: Array, mean: Array, scale: Array) -> Array:
    """``(x - mean) / scale`` (B4), for numpy arrays and torch tensors alike (rows of flat observations)."""
    return (observations - mean) / scale  # type: ignore[operator]
