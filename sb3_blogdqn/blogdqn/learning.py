"""
How BlogDQN learns from its memory (B7, B10-B13): the replays and the target update.

A replay draws a minibatch (B7), computes its targets from the target network Q̂ once (B10)
and fits Q to them, one sample at a time (B11) or the minibatch at once, by the
:class:`~sb3_blogdqn.blogdqn.objectives.TDObjective`. Two implementations run it, with the same
methods: :class:`ReferenceReplays` here, plain torch, obviously correct and slow, and
:class:`~sb3_blogdqn.blogdqn.kernel.KernelReplays`, the fused kernel, checked against it
(``tests/test_kernel.py``). :func:`make_replays` picks one.
"""

import math
import warnings

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.utils import polyak_update

from sb3_blogdqn.blogdqn.kernel import KernelReplays, kernel_unsupported_reason
from sb3_blogdqn.blogdqn.objectives import TDObjective
from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy


class ReferenceReplays:
    """
    The replays in plain torch, as SB3's DQN writes its ``train()``: what the kernel is checked against.

    :param policy: the policy whose Q is fitted (its optimizer steps)
    :param objective: what the replays fit (B10)
    :param per_sample_updates: B11: fit one sample at a time
    :param max_grad_norm: clip each fit's gradient to this norm (``inf``: no clipping, B10)
    """

    def __init__(self, policy: BlogDQNPolicy, objective: TDObjective, per_sample_updates: bool,
                 max_grad_norm: float) -> None:
        self.policy = policy
        self.objective = objective
        self.per_sample_updates = per_sample_updates
        self.max_grad_norm = max_grad_norm

    def replay(self, replay_buffer: ReplayBuffer, n_replays: int, batch_size: int, gamma: float) -> np.ndarray:
        """``n_replays`` replays of ``batch_size`` samples drawn by the memory (B7); each fit's loss."""
        self.policy.set_training_mode(True)
        losses = []
        for _ in range(n_replays):
            replay = replay_buffer.sample(batch_size)  # type: ignore[call-arg]
            # The targets, once per replay, before any fit (B10).
            with th.no_grad():
                targets = self.objective.targets(self.policy, replay, gamma)
            losses.append(self.fit(replay.observations, replay.actions, targets))
        self.policy.set_training_mode(False)
        return np.array(losses)

    def td_targets(self, replay_buffer: ReplayBuffer, rows: np.ndarray, gamma: float) -> np.ndarray:
        """The targets of the memory rows ``rows`` (B10)."""
        with th.no_grad():
            return self.objective.targets(self.policy, replay_buffer._get_samples(rows), gamma).numpy()

    def fit(self, observations: th.Tensor | np.ndarray, actions: th.Tensor | np.ndarray,
            targets: th.Tensor | np.ndarray) -> np.ndarray:
        """The fits of one replay: ``train_on_batch`` in a loop, each sample its own Adam step (B11), or one step."""
        observations, actions, targets = (th.as_tensor(x) for x in (observations, actions, targets))
        if not self.per_sample_updates:
            return np.array([self._step(observations, actions, targets)])
        return np.array([self._step(observations[i : i + 1], actions[i : i + 1], targets[i : i + 1])
                         for i in range(len(observations))])

    def _step(self, observations: th.Tensor, actions: th.Tensor, targets: th.Tensor) -> float:
        """One Adam step on the objective's loss of ``observations`` to ``targets``."""
        loss = self.objective(self.policy.q_net, observations, actions, targets)
        self.policy.optimizer.zero_grad()
        loss.backward()
        if math.isfinite(self.max_grad_norm):  # the blog clips nothing (B10); SB3's DQN clips at 10
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.policy.optimizer.step()
        return loss.item()

    def greedy_actions(self, observations: np.ndarray) -> np.ndarray:
        """argmax of the online network Q (B9)."""
        with th.no_grad():
            q_values = self.policy.q_net(th.as_tensor(observations, device=self.policy.device))
        return q_values.argmax(dim=1).cpu().numpy()


def make_replays(policy: BlogDQNPolicy, replay_buffer: ReplayBuffer, objective: TDObjective, per_sample_updates: bool,
                 max_grad_norm: float, use_kernel: bool | None) -> tuple[ReferenceReplays | KernelReplays, str | None]:
    """
    The fused kernel where it can serve (``use_kernel`` None or True), else the reference path,
    and why the kernel was not taken (None when it was, or when ``use_kernel=False`` asked for the
    reference path). ``use_kernel=True`` raises where the kernel cannot serve; None warns once.
    """
    reason = kernel_unsupported_reason(policy, replay_buffer, policy.device)
    if use_kernel is False:
        return ReferenceReplays(policy, objective, per_sample_updates, max_grad_norm), reason
    if reason is None:
        return KernelReplays(policy, objective, per_sample_updates, max_grad_norm), None
    if use_kernel:
        raise ValueError(
            f"use_kernel=True, but the fused kernel cannot run this model: {reason}. Pass "
            "use_kernel=None to fall back to the plain-torch reference path."
        )
    warnings.warn(
        f"BlogDQN runs its replays on the plain-torch reference path, tens of times slower than the "
        f"fused kernel, because {reason}. The numbers agree up to float rounding; pass use_kernel=False to "
        "silence this.",
        stacklevel=4,
    )
    return ReferenceReplays(policy, objective, per_sample_updates, max_grad_norm), reason


def update_target(policy: BlogDQNPolicy, tau: float) -> None:
    """Q̂ ← τ Q + (1 - τ) Q̂: the blog's copy with τ = 1 (B13), SB3's Polyak averaging below."""
    polyak_update(policy.q_net.parameters(), policy.q_net_target.parameters(), tau)
    # The scaler's (B4) and BatchNorm's statistics are copied whole, as SB3 copies running statistics.
    with th.no_grad():
        for buffer, target_buffer in zip(policy.q_net.buffers(), policy.q_net_target.buffers(), strict=True):
            target_buffer.copy_(buffer)
