"""
How BlogDQN learns from its memory (B7, B10-B13): the replays and the target update.

The other half of the algorithm, how experience is gathered (B2, B6, B8, the histories and
storing), is ``blogdqn.py``; :class:`ReplayLearning` is mixed into :class:`BlogDQN`, which
provides the policy, the replay buffer and the switches these methods read. Each replay
runs on the fused kernel (``kernel.py``) or on the plain-torch reference path here, which
is obviously correct and slow: ``tests/test_kernel.py`` checks that the two agree.
"""

import math
import warnings

import numpy as np
import torch as th
from sb3_contrib.common.utils import quantile_huber_loss
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.utils import polyak_update
from torch.nn import functional as F

from sb3_blogdqn.blogdqn.kernel import ReplayKernel, kernel_unsupported_reason, sample_replay_indices
from sb3_blogdqn.common.buffers import HistoryReplayBuffer, NStepHistoryReplayBuffer


class ReplayLearning:
    """BlogDQN's replays (B7, B10-B12) and target update (B13), on the kernel or the reference path."""

    def _check_kernel(self) -> str | None:
        """Why the kernel cannot run this model (None: it can); raise or warn as ``use_kernel`` asks."""
        reason = self._algorithm_kernel_reason() or kernel_unsupported_reason(self.policy, self.device)
        if reason is not None and self.use_kernel is not False:
            if self.use_kernel:
                raise ValueError(
                    f"use_kernel=True, but the fused kernel cannot run this model: {reason}. Pass "
                    "use_kernel=None to fall back to the plain-torch reference path."
                )
            warnings.warn(
                f"BlogDQN runs its replays on the plain-torch reference path, tens of times slower than the "
                f"fused kernel, because {reason}. The numbers agree up to float rounding; pass use_kernel=False to "
                "silence this.",
                stacklevel=3,
            )
        return reason

    def _algorithm_kernel_reason(self) -> str | None:
        """What of the algorithm's settings (not the policy's) the kernel lacks, or None."""
        if type(self.replay_buffer) not in (HistoryReplayBuffer, NStepHistoryReplayBuffer):
            return (f"the replay buffer is a {type(self.replay_buffer).__name__}; the kernel samples BlogDQN's "
                    "HistoryReplayBuffer (B7) and its n-step variant only")
        return None

    def _uses_kernel(self) -> bool:
        return self._kernel_fallback_reason is None and self.use_kernel is not False

    def _bound_kernel(self) -> ReplayKernel:
        """The kernel on the policy's current tensors (rebound after load or set_parameters)."""
        if self._kernel is None or not self._kernel.is_bound_to(self.policy):
            self._kernel = ReplayKernel(self.policy)
        return self._kernel

    def _update_target(self) -> None:
        """Q̂ ← τ Q + (1 - τ) Q̂: the blog's copy with τ = 1 (B13), SB3's Polyak averaging below."""
        polyak_update(self.q_net.parameters(), self.q_net_target.parameters(), self.tau)
        # The scaler's (B4) and BatchNorm's statistics are copied whole, as SB3 copies running statistics.
        with th.no_grad():
            for buffer, target_buffer in zip(self.q_net.buffers(), self.q_net_target.buffers(), strict=True):
                target_buffer.copy_(buffer)
        self._n_target_updates += 1

    def _td_targets(self, replay: ReplayBufferSamples) -> th.Tensor:
        """
        Regression targets, all from the target network Q̂ (B10): ``r + γ max_a Q̂(s', a)``
        (``r`` when done; with ``double_q``, Q̂ at Q's greedy action) for the taken action;
        with ``loss_on_all_actions`` the other entries are Q̂(s), so untaken actions are
        pulled toward the target network. With
        n-step returns (``n_steps``), ``r`` is the n-step return and γ the buffer's discount.
        With the quantile loss, one target per quantile of Q̂ at that action: ``(batch, n_quantiles)``.
        """
        discounts = self.gamma if replay.discounts is None else replay.discounts
        quantile = self.loss == "quantile"
        if quantile:  # one pass of Q̂ gives both its quantiles and their mean, Q̂'s values
            next_quantiles = self.q_net_target.quantiles(replay.next_observations)
            next_q_values = next_quantiles.mean(dim=1)
        else:
            next_q_values = self.q_net_target(replay.next_observations)
        if self.double_q:  # Double DQN: Q picks the action, Q̂ values it
            next_actions = self.q_net(replay.next_observations).argmax(dim=1, keepdim=True)
        else:
            next_actions = next_q_values.argmax(dim=1, keepdim=True)
        if quantile:
            n_quantiles = next_quantiles.shape[1]
            next_values = next_quantiles.gather(2, next_actions[:, None, :].expand(-1, n_quantiles, 1)).squeeze(2)
        else:
            next_values = next_q_values.gather(1, next_actions)
        td_targets = replay.rewards + (1 - replay.dones) * discounts * next_values
        if not self.loss_on_all_actions:
            return td_targets
        return self.q_net_target(replay.observations).scatter(1, replay.actions.long(), td_targets)

    def _fit(self, observations: th.Tensor, actions: th.Tensor, targets: th.Tensor) -> float:
        """One Adam step on the MSE (Keras ``mse``: mean over actions and batch), Huber or quantile loss to ``targets``."""
        if self.loss == "quantile":
            quantiles = self.q_net.quantiles(observations)
            taken = actions.long()[:, None, :].expand(-1, quantiles.shape[1], 1)
            loss = quantile_huber_loss(quantiles.gather(2, taken).squeeze(2), targets)
        else:
            q_values = self.q_net(observations)
            if not self.loss_on_all_actions:
                q_values = q_values.gather(1, actions.long())
            loss = F.smooth_l1_loss(q_values, targets) if self.loss == "huber" else F.mse_loss(q_values, targets)
        self.policy.optimizer.zero_grad()
        loss.backward()
        if math.isfinite(self.max_grad_norm):  # the blog clips nothing (B10); SB3's DQN clips at 10
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.policy.optimizer.step()
        return loss.item()

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        """
        ``gradient_steps`` replays (B7, B10, B11): the fused kernel, else the reference path.
        Called inside each env step with the blog's schedule, by SB3's loop with another
        ``train_freq`` / ``gradient_steps``; never during the warm-up (B6).
        """
        if self.warming_up:
            return
        self._update_learning_rate(self.policy.optimizer)
        if self._uses_kernel():
            # The same minibatches from the same draws of numpy's generator as the reference path.
            indices = sample_replay_indices(self.replay_buffer, gradient_steps, batch_size)
            losses = self._bound_kernel().replay(
                self.replay_buffer, indices, self.gamma, self.loss_on_all_actions, self.per_sample_updates,
                self.double_q, self.loss == "huber", self.max_grad_norm,
            )
        else:
            losses = self._reference_replays(gradient_steps, batch_size)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.sum(losses)) / np.size(losses))  # a plain sum: cheaper than np.mean

    def _reference_replays(self, gradient_steps: int, batch_size: int) -> list[float]:
        """The plain-torch replays, obviously correct and slow: what the kernel is checked against."""
        self.policy.set_training_mode(True)
        losses = []
        for _ in range(gradient_steps):
            replay = self.replay_buffer.sample(batch_size)
            with th.no_grad():
                targets = self._td_targets(replay)
            if self.per_sample_updates:
                # B11: train_on_batch in a loop, each sample its own Adam step.
                for i in range(batch_size):
                    losses.append(self._fit(replay.observations[i : i + 1], replay.actions[i : i + 1], targets[i : i + 1]))
            else:
                losses.append(self._fit(replay.observations, replay.actions, targets))
        self.policy.set_training_mode(False)
        return losses
