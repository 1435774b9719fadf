"""
What a replay fits (B10): the TD targets and the loss, stated once.

A :class:`TDObjective` says, for a minibatch, which outputs of Q are fitted (every action's,
or the taken action's; Q-values, or quantiles), to which targets (from the target network
Q̂: ``r + γ^m Q̂(s', a*)``, ``a*`` greedy for Q̂ or, with double-Q, for Q; ``γ^m`` the memory's
n-step discount) and by which :class:`Loss`. The plain-torch reference path
(``learning.py``) runs its torch methods; the fused kernel (``kernel.py``) reads the same
choices as :meth:`TDObjective.codes` and branches on them in ``_loss_term`` and
``_output_gradient``. A new elementwise loss is a :class:`Loss` here and a branch of
``kernel._loss_term``; ``docs/learning_core.md`` walks through one.
"""

from dataclasses import dataclass
from typing import ClassVar, cast

import torch as th
from sb3_contrib.common.utils import quantile_huber_loss
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.dqn.policies import QNetwork
from torch.nn import functional as F

from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy, QuantileQNetwork


class Loss:
    """A loss between estimates and their targets, averaged over its terms; ``code`` is the kernel's branch."""

    code: ClassVar[int]
    distributional: ClassVar[bool] = False
    """True: the estimates are quantiles of the return (a quantile head), not Q-values."""

    def __call__(self, estimates: th.Tensor, targets: th.Tensor) -> th.Tensor:
        raise NotImplementedError


class SquaredError(Loss):
    """B10: Keras' ``mse``, the mean of the squared errors; its derivative ``2 (q - y)``."""

    code = 0

    def __call__(self, estimates: th.Tensor, targets: th.Tensor) -> th.Tensor:
        return F.mse_loss(estimates, targets)


class Huber(Loss):
    """SB3 DQN's loss, ``F.smooth_l1_loss`` (β = 1): quadratic within 1 of the target, linear beyond."""

    code = 1

    def __call__(self, estimates: th.Tensor, targets: th.Tensor) -> th.Tensor:
        return F.smooth_l1_loss(estimates, targets)


class QuantileHuber(Loss):
    """
    QR-DQN's quantile Huber loss (Dabney et al., 2018; sb3-contrib's ``quantile_huber_loss``, κ = 1):
    each of Q's quantiles against every target quantile, summed over Q's and averaged over the targets'.
    """

    code = 2
    distributional = True

    def __call__(self, estimates: th.Tensor, targets: th.Tensor) -> th.Tensor:
        return quantile_huber_loss(estimates, targets)


LOSSES: dict[str, Loss] = {"mse": SquaredError(), "huber": Huber(), "quantile": QuantileHuber()}
"""BlogDQN's ``loss`` argument: B10's ``"mse"``, SB3 DQN's ``"huber"``, sb3-contrib QR-DQN's ``"quantile"``."""


@dataclass(frozen=True)
class TDObjective:
    """
    The regression a replay runs (B10): targets from Q̂ and a loss.

    :param loss: one of :data:`LOSSES`
    :param all_actions: B10. True: the target vector is Q̂(s) with the taken action's entry
        replaced by the TD target, and every action's output is fitted. False: the taken one only.
    :param double_q: the TD target bootstraps on Q̂ at Q's greedy next action (van Hasselt et al.,
        2016) instead of Q̂'s own
    """

    loss: Loss
    all_actions: bool = True
    double_q: bool = False

    def codes(self) -> tuple[int, bool, bool]:
        """The kernel's view of this objective: ``(loss code, all_actions, double_q)``."""
        return self.loss.code, self.all_actions, self.double_q

    def estimates(self, q_net: QNetwork, observations: th.Tensor) -> th.Tensor:
        """Per action, what the loss fits: Q-values ``(batch, n_actions)`` or quantiles ``(batch, n_quantiles, n_actions)``."""
        if self.loss.distributional:
            # A distributional loss is chosen together with the policy's quantile head (n_quantiles).
            return cast(QuantileQNetwork, q_net).quantiles(observations)
        return q_net(observations)

    def targets(self, policy: BlogDQNPolicy, replay: ReplayBufferSamples, gamma: float) -> th.Tensor:
        """
        The regression targets, all from Q̂ (B10): ``r + γ^m Q̂(s', a*)``, ``r`` alone when done,
        one per sample (``(batch, 1)``) or per quantile (``(batch, n_quantiles)``); with
        ``all_actions``, Q̂(s) with the taken action's entry replaced by it (``(batch, n_actions)``).
        ``γ^m`` is the n-step memory's discount where it gives one, else ``gamma``.
        """
        next_estimates = self.estimates(policy.q_net_target, replay.next_observations)
        # One pass of Q̂ gives its quantiles and their mean, its Q-values.
        next_q_values = next_estimates.mean(dim=1) if self.loss.distributional else next_estimates
        chooser = policy.q_net(replay.next_observations) if self.double_q else next_q_values
        next_actions = chooser.argmax(dim=1, keepdim=True)
        discounts = gamma if replay.discounts is None else replay.discounts
        td_targets = replay.rewards + (1 - replay.dones) * discounts * _at(next_estimates, next_actions)
        if not self.all_actions:
            return td_targets
        return policy.q_net_target(replay.observations).scatter(1, replay.actions.long(), td_targets)

    def __call__(self, q_net: QNetwork, observations: th.Tensor, actions: th.Tensor, targets: th.Tensor) -> th.Tensor:
        """The loss of Q's estimates for ``observations`` (at ``actions`` unless ``all_actions``) to ``targets``."""
        estimates = self.estimates(q_net, observations)
        if not self.all_actions:
            estimates = _at(estimates, actions.long())
        return self.loss(estimates, targets)


def _at(estimates: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """Each row's estimates at its action (``actions``: ``(batch, 1)``): ``(batch, 1)``, or ``(batch, n_quantiles)``."""
    if estimates.dim() == 2:
        return estimates.gather(1, actions)
    n_quantiles = estimates.shape[1]
    return estimates.gather(2, actions[:, None, :].expand(-1, n_quantiles, 1)).squeeze(2)
