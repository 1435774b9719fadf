"""The blog's replay memory (rules B5, B7) and its minibatch sampler."""

from typing import Any

import numba
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer, ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize

# numpy's legacy random_sample is genrand_res53: a 27-bit and a 26-bit Mersenne Twister output
# joined into an integer below 2**53, divided by 2**53. Multiplying back is exact.
_TWO_TO_53 = 2**53


@numba.njit(cache=True)
def _partial_fisher_yates(n, uniforms, out):
    """
    Fill ``out`` with the first ``len(out)`` positions of a Fisher-Yates shuffle of
    ``range(n)``, driven by ``uniforms`` (draws of numpy's ``random_sample``); return
    whether they sufficed (``False``: call again with more draws appended).

    Step ``t`` swaps position ``t`` with a position ``j`` uniform in ``[t, n)`` and emits
    what lands at ``t``. Only the positions touched so far are stored (``moved_from`` ->
    ``moved_value``, a linear scan: at most ``len(out)`` entries), so a step costs
    O(len(out)) whatever ``n``. ``j`` comes from the 53 random bits of one draw by
    rejection: a draw is used only below the largest multiple of ``n - t`` under 2**53,
    so each offset has the same number of bit patterns, exactly; a draw is rejected with
    probability below ``n / 2**53``.
    """
    k = len(out)
    moved_from = np.empty(k, np.int64)
    moved_value = np.empty(k, np.int64)
    n_moved = 0
    draw = 0
    for t in range(k):
        span = n - t
        limit = _TWO_TO_53 - _TWO_TO_53 % span
        while True:
            if draw == len(uniforms):
                return False
            bits = np.int64(uniforms[draw] * _TWO_TO_53)
            draw += 1
            if bits < limit:
                break
        j = t + bits % span
        # Values now at positions j and t (untouched positions still hold their own index).
        value_j, value_t = j, t
        slot_j = -1
        for s in range(n_moved):
            if moved_from[s] == j:
                value_j, slot_j = moved_value[s], s
            if moved_from[s] == t:
                value_t = moved_value[s]
        out[t] = value_j
        # Position t is never read again (later steps draw from [t + 1, n)); j gets t's value.
        if slot_j < 0:
            moved_from[n_moved] = j
            slot_j = n_moved
            n_moved += 1
        moved_value[slot_j] = value_t
    return True


def sample_without_replacement(n: int, k: int) -> np.ndarray:
    """
    ``k`` distinct integers of ``range(n)``, every ordered choice equally likely, as
    Python's ``random.sample`` (B7) and ``np.random.choice(n, k, replace=False)`` draw them.

    ``np.random.choice`` permutes all ``n`` (the whole 2,000-row memory, per replay); this
    runs the first ``k`` steps of the same Fisher-Yates shuffle only. Its randomness is
    ``k`` draws of numpy's global generator (more in the rare case of a rejection), so
    SB3's ``set_random_seed`` makes it reproducible. It is the one sampler of the replay
    memory: the kernel and the reference path both draw their minibatches here, so from
    the same seed they see the same transitions.
    """
    if not 0 <= k <= n:
        raise ValueError(f"Cannot draw {k} distinct integers from range({n})")
    out = np.empty(k, dtype=np.int64)
    uniforms = np.random.random_sample(k)
    while not _partial_fisher_yates(n, uniforms, out):
        uniforms = np.concatenate([uniforms, np.random.random_sample(k)])
    return out


class OneRowPerTransition:
    """
    What BlogDQN's memories add to SB3's buffers (mixed in before them): one row per stored
    transition, whatever the number of envs (B2, B5), and minibatches drawn without
    replacement (B7, the blog's ``random.sample``).
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        **kwargs: Any,
    ) -> None:
        # The vectorized n_envs is irrelevant: every transition gets its own row.
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=1, **kwargs)  # type: ignore[call-arg]

    def sample_indices(self, batch_size: int) -> np.ndarray:
        """Rows of ``batch_size`` distinct stored transitions, drawn uniformly (B7)."""
        size = self.size()  # type: ignore[attr-defined]
        if batch_size > size:
            raise ValueError(
                f"Cannot sample {batch_size} distinct transitions from a replay memory holding {size}: "
                "sampling is without replacement (B7). Lower batch_size or store more transitions first."
            )
        return sample_without_replacement(size, batch_size)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> Any:
        """Draw ``batch_size`` distinct stored transitions uniformly (B7)."""
        return self._get_samples(self.sample_indices(batch_size), env=env)  # type: ignore[attr-defined]


class HistoryReplayBuffer(OneRowPerTransition, ReplayBuffer):
    """
    FIFO replay memory of single transitions, sampled without replacement.

    SB3's ``ReplayBuffer`` stores one row per ``env.step()`` holding every env's
    transition, and samples with replacement. The blog stores only transitions whose
    history is full (B2), one at a time, in a FIFO of ``buffer_size`` transitions (B5),
    and draws a minibatch *without* replacement (B7, ``random.sample``). So this buffer
    is always laid out for one env; BlogDQN adds each stored env's transition as its own
    row. Observations are raw histories: standardization happens in the policy (B4).
    """


class NStepHistoryReplayBuffer(HistoryReplayBuffer, NStepReplayBuffer):
    """
    BlogDQN's memory (B5, B7) with SB3's n-step returns (``n_steps > 1``, one env only):
    minibatches drawn without replacement, each transition's return summed over the
    following rows up to the episode's end, as SB3's ``NStepReplayBuffer`` does.
    """


class DictHistoryReplayBuffer(OneRowPerTransition, DictReplayBuffer):
    """BlogDQN's memory (B5, B7) for Dict observations: one row per stored transition, drawn without replacement."""
