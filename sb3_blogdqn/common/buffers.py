"""The blog's replay memory (rules B5, B7)."""

import numpy as np
from stable_baselines3.common.buffers import NStepReplayBuffer, ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize


class HistoryReplayBuffer(ReplayBuffer):
    """
    FIFO replay memory of single transitions, sampled without replacement.

    SB3's ``ReplayBuffer`` stores one row per ``env.step()`` holding every env's
    transition, and samples with replacement. The blog stores only transitions whose
    history is full (B2), one at a time, in a FIFO of ``buffer_size`` transitions (B5),
    and draws a minibatch *without* replacement (B7, ``random.sample``). So this buffer
    is always laid out for one env; BlogDQN adds each stored env's transition as its own
    row. Observations are raw histories: standardization happens in the policy (B4).
    """

    def __init__(self, *args, n_envs: int = 1, **kwargs) -> None:
        # The vectorized n_envs is irrelevant: every transition gets its own row.
        super().__init__(*args, n_envs=1, **kwargs)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """Draw ``batch_size`` distinct stored transitions uniformly (B7)."""
        size = self.size()
        if batch_size > size:
            raise ValueError(
                f"Cannot sample {batch_size} distinct transitions from a replay memory holding {size}: "
                "sampling is without replacement (B7). Lower batch_size or store more transitions first."
            )
        batch_inds = np.random.choice(size, size=batch_size, replace=False)
        return self._get_samples(batch_inds, env=env)


class NStepHistoryReplayBuffer(HistoryReplayBuffer, NStepReplayBuffer):
    """
    BlogDQN's memory (B5, B7) with SB3's n-step returns (``n_steps > 1``, one env only):
    minibatches drawn without replacement, each transition's return summed over the
    following rows up to the episode's end, as SB3's ``NStepReplayBuffer`` does.
    """
