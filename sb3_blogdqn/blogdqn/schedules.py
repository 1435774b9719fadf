"""
When BlogDQN replays, when it updates its target network and what ε is: the blog's schedule
(B8, B11, B13) or SB3's, switch by switch, answered in one place.

SB3's off-policy loop hands an env step over twice: ``_store_transition``, where BlogDQN stores
the step's transitions, and ``_on_step`` just after. The blog's schedule acts inside the step
(the replays, then the episode-step copy, B11 and B13) and at each decision (ε, B8); SB3's acts
after the step (the target update by env steps, ε by the progress of ``learn()``) and runs its
replays after the rollout. :class:`Schedule` answers at each of those moments.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from stable_baselines3.common.utils import LinearSchedule


@dataclass(frozen=True)
class Schedule:
    """
    :param replays_in_step: B11. True: one replay per stored transition, inside its env step,
        before the target copy. False: SB3's loop runs ``gradient_steps`` replays per ``train_freq``.
    :param target_update_interval: B13's period (blog ``C`` 100)
    :param target_update_on_episode_step: B13. True: after the step's replays, when any env's
        within-episode step index is a multiple of the period. False: every period env steps.
    :param exploration_initial_eps: ε before the first decision
    :param exploration_final_eps: ε's floor
    :param exploration_decisions: B8: ε reaches its floor after this many full-history decisions
    :param exploration_fraction: B8's switch: None, the blog's per-decision ε; a float, SB3's
        linear ε over that fraction of each ``learn()`` call
    """

    replays_in_step: bool
    target_update_interval: int
    target_update_on_episode_step: bool
    exploration_initial_eps: float
    exploration_final_eps: float
    exploration_decisions: int
    exploration_fraction: float | None

    def target_update_in_step(self, episode_steps: np.ndarray) -> bool:
        """After the step's replays: the blog's copy when an env's within-episode step index is a multiple of C (B13)."""
        # The array's own any(): np.any's dispatch costs more than the test, on the per-step path.
        return self.target_update_on_episode_step and bool((episode_steps % self.target_update_interval == 0).any())

    def target_update_after_step(self, n_calls: int, n_envs: int) -> bool:
        """
        After the ``n_calls``-th step of ``n_envs`` envs (``_on_step``): SB3's update every
        ``target_update_interval`` env steps, counting each env's.
        """
        period = max(self.target_update_interval // n_envs, 1)
        return not self.target_update_on_episode_step and n_calls % period == 0

    def epsilon_at_decision(self, n_decisions: int, epsilon: float) -> float:
        """
        ε for the ``n_decisions``-th full-history decision, before its draw: the blog's, decremented
        by ``(initial - final) / exploration_decisions`` per decision down to the floor (B8); SB3's
        stays the ``epsilon`` set after the last step.
        """
        if self.exploration_fraction is not None:
            return epsilon
        decay = (self.exploration_initial_eps - self.exploration_final_eps) / self.exploration_decisions
        return max(self.exploration_initial_eps - n_decisions * decay, self.exploration_final_eps)

    def epsilon_after_step(self, progress_remaining: float, epsilon: float) -> float:
        """ε after an env step: SB3's, linear in the progress of ``learn()``; the blog's stays ``epsilon`` (B8)."""
        if self.exploration_fraction is None:
            return epsilon
        return self._sb3_epsilon(progress_remaining)

    @cached_property
    def _sb3_epsilon(self) -> LinearSchedule:
        assert self.exploration_fraction is not None, "read by epsilon_after_step only with SB3's schedule"
        return LinearSchedule(self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction)
