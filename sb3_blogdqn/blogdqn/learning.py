"""
How BlogDQN learns from its memory (B7, B10-B13): the replays and the target update.

A replay draws a minibatch (B7), computes its targets from the target network Q̂ once (B10)
and fits Q to them, one sample at a time (B11) or the minibatch at once, by the
:class:`~sb3_blogdqn.blogdqn.objectives.TDObjective`. Two implementations run it, with the same
methods: :class:`ReferenceReplays` here, plain torch, obviously correct and slow, and
:class:`KernelReplays`, the fused kernel, checked against it
(``tests/test_kernel.py``). :func:`make_replays` picks one.
"""

import math
import warnings
from typing import Any

import numba
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.utils import obs_as_tensor, polyak_update

from sb3_blogdqn.blogdqn.kernel import (
    Memory,
    Settings,
    adam_record,
    fit_kernel,
    greedy_kernel,
    kernel_unsupported_reason,
    memory_record,
    network_record,
    replay_kernel,
    targets_kernel,
)
from sb3_blogdqn.blogdqn.objectives import TDObjective
from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy
from sb3_blogdqn.common.buffers import HistoryReplayBuffer
from sb3_blogdqn.common.checks import is_image_state
from sb3_blogdqn.common.observations import map_observations


class Replays:
    """
    What both paths share: the policy they fit and how. Each path has the same four methods:
    ``replay`` (draw minibatches, B7, and run their replays), its two halves ``td_targets`` (B10)
    and ``fit`` (B11), and ``greedy_actions`` (B9).

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


class ReferenceReplays(Replays):
    """The replays in plain torch, as SB3's DQN writes its ``train()``: what the kernel is checked against."""

    def replay(self, replay_buffer: ReplayBuffer, n_replays: int, batch_size: int, gamma: float) -> np.ndarray:
        """``n_replays`` replays of ``batch_size`` samples drawn by the memory (B7); each fit's loss."""
        self.policy.set_training_mode(True)
        losses = []
        for _ in range(n_replays):
            replay = replay_buffer.sample(batch_size)
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

    def fit(self, observations: Any, actions: th.Tensor | np.ndarray, targets: th.Tensor | np.ndarray) -> np.ndarray:
        """The fits of one replay: ``train_on_batch`` in a loop, each sample its own Adam step (B11), or one step."""
        observations = map_observations(th.as_tensor, observations)  # a dict of them for Dict spaces
        actions, targets = th.as_tensor(actions), th.as_tensor(targets)
        if not self.per_sample_updates:
            return np.array([self._step(observations, actions, targets)])
        return np.array([self._step(map_observations(lambda x: x[i : i + 1], observations),  # noqa: B023 (called here)
                                    actions[i : i + 1], targets[i : i + 1]) for i in range(len(actions))])

    def _step(self, observations: Any, actions: th.Tensor, targets: th.Tensor) -> float:
        """One Adam step on the objective's loss of ``observations`` to ``targets``."""
        loss = self.objective(self.policy.q_net, observations, actions, targets)
        self.policy.optimizer.zero_grad()
        loss.backward()
        if math.isfinite(self.max_grad_norm):  # the blog clips nothing (B10); SB3's DQN clips at 10
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.policy.optimizer.step()
        return loss.item()

    def greedy_actions(self, observations: Any) -> np.ndarray:
        """argmax of the online network Q (B9)."""
        with th.no_grad():
            q_values = self.policy.q_net(obs_as_tensor(observations, self.policy.device))
        return q_values.argmax(dim=1).cpu().numpy()


class KernelReplays(Replays):
    """
    The replays on the fused kernel (``kernel.py``), bound to the policy: numpy views of Q's and
    Q̂'s weights and scalers and of the Adam state (created here, as the optimizer would, if no
    step was taken yet). It rebinds itself when the policy's tensors were replaced (after ``load``
    or ``set_parameters``). The policy must be one :func:`kernel_unsupported_reason` accepts.
    """

    # Set by _bind, which compares them with the policy's on each call to know when to bind again.
    _optimizer_state: dict[Any, Any]
    _bound_ptrs: list[int] | None

    def __init__(self, policy: BlogDQNPolicy, objective: TDObjective, per_sample_updates: bool,
                 max_grad_norm: float) -> None:
        super().__init__(policy, objective, per_sample_updates, max_grad_norm)
        self.optimizer: th.optim.Optimizer | None = None
        self._entry_points: dict[Any, Any] = {}
        self._memory_of: tuple[Any, Memory | None] = (None, None)

    def _bind(self) -> None:
        """Views of the policy's current tensors, when they are not the ones bound."""
        policy = self.policy
        if (self.optimizer is policy.optimizer and policy.optimizer.state is self._optimizer_state
                and self._data_ptrs() == self._bound_ptrs):
            return
        optimizer = policy.optimizer
        q_params = list(policy.q_net.q_net.parameters())
        self.torch_adam = type(optimizer) is th.optim.Adam  # else KerasAdam (B12)
        for param in q_params:
            if not optimizer.state[param]:
                # Each optimizer's own step type: torch's Adam counts in float32, KerasAdam in float64.
                optimizer.state[param].update(step=th.zeros((), dtype=th.float32 if self.torch_adam else th.float64),
                                              exp_avg=th.zeros_like(param), exp_avg_sq=th.zeros_like(param))
        self.adam = adam_record([optimizer.state[p] for p in q_params])
        self.online, self.target = network_record(policy.q_net), network_record(policy.q_net_target)
        self.optimizer, self._optimizer_state = optimizer, optimizer.state
        self._tensors = (*q_params, *policy.q_net_target.q_net.parameters())
        self._bound_ptrs = self._data_ptrs()
        self._entry_points = {}

    def _run(self, kernel: Any, *args: Any) -> Any:
        """
        ``kernel(*args)``, past numba's dispatcher once the arguments' types are known: the
        dispatcher resolves the records' types on every call, which costs more than a small replay
        (4 µs of 40). The types are those of the first call until the next binding or memory.
        """
        entry_point = self._entry_points.get(kernel)
        if entry_point is not None:
            return entry_point(*args)
        result = kernel(*args)
        overload = kernel.overloads.get(tuple(map(numba.typeof, args)))  # None: keep calling the dispatcher
        self._entry_points[kernel] = kernel if overload is None else overload.entry_point
        return result

    def _memory(self, replay_buffer: HistoryReplayBuffer) -> Memory:
        """:func:`memory_record`, its views kept while the memory's arrays stay the same."""
        arrays_of, memory = self._memory_of
        if arrays_of is not replay_buffer.observations or memory is None:
            memory = memory_record(replay_buffer)
            self._memory_of = (replay_buffer.observations, memory)
            self._entry_points = {}  # the memory's arrays are part of the kernels' types
            return memory
        return Memory(*memory[:6], getattr(replay_buffer, "n_steps", 1), (replay_buffer.pos - 1) % len(memory.observations))

    def _data_ptrs(self) -> list[int] | None:
        # Checked before every replay and greedy action: map is about twice as fast as a generator here.
        return list(map(th.Tensor.data_ptr, self._tensors)) if self.optimizer is not None else None

    def settings(self, gamma: float) -> Settings:
        """The replays' record of settings, with the optimizer's current learning rate."""
        assert self.optimizer is not None, "bound by _bind, which every replay calls first"
        group = self.optimizer.param_groups[0]
        return Settings(*self.objective.codes(), bool(self.per_sample_updates), float(self.max_grad_norm),
                        float(gamma), float(group["lr"]), float(group["betas"][0]), float(group["betas"][1]),
                        float(group["eps"]), self.torch_adam)

    def replay(self, replay_buffer: HistoryReplayBuffer, n_replays: int, batch_size: int, gamma: float) -> np.ndarray:
        """``n_replays`` replays of ``batch_size`` samples drawn by the memory (B7); each fit's loss."""
        self._bind()
        indices = sample_replay_indices(replay_buffer, n_replays, batch_size)
        losses = np.zeros((n_replays, batch_size if self.per_sample_updates else 1))
        self._run(replay_kernel, indices, self._memory(replay_buffer), self.online, self.target, self.adam,
                  self.settings(gamma), losses)
        return losses

    def td_targets(self, replay_buffer: HistoryReplayBuffer, rows: np.ndarray, gamma: float) -> np.ndarray:
        """:meth:`TDObjective.targets` of the memory rows ``rows``: one row of targets per sample."""
        self._bind()
        targets = targets_kernel(rows, self._memory(replay_buffer), self.online, self.target, self.settings(gamma))
        n_targets = self.target.n_quantiles or (int(self.target.sizes[-1]) if self.objective.all_actions else 1)
        return targets[:, :n_targets]

    def fit(self, observations: np.ndarray, actions: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The fits of one replay on raw ``observations`` to ``targets`` (B11, or one batch step); each loss."""
        self._bind()
        losses = np.zeros(len(observations) if self.per_sample_updates else 1)
        fit_kernel(np.ascontiguousarray(observations, dtype=np.float32), np.asarray(actions, np.int64).reshape(-1),
                   np.asarray(targets, np.float32), self.online, self.adam, self.settings(0.0), losses)
        return losses

    def greedy_actions(self, observations: np.ndarray) -> np.ndarray:
        """argmax of the online network Q for each row of ``observations`` (B9)."""
        self._bind()
        return self._run(greedy_kernel, np.ascontiguousarray(observations, dtype=np.float32), self.online)


def sample_replay_indices(replay_buffer: HistoryReplayBuffer, n_replays: int, batch_size: int) -> np.ndarray:
    """
    Memory rows of ``n_replays`` minibatches drawn without replacement (B7), one after the other
    with the memory's own sampler, as ``HistoryReplayBuffer.sample`` draws them, so that the
    kernel and the reference path see the same minibatches from the same seed.
    """
    indices = np.empty((n_replays, batch_size), dtype=np.int64)
    for k in range(n_replays):
        indices[k] = replay_buffer.sample_indices(batch_size)
    return indices


PER_SAMPLE_IMAGES_COST = (
    "per_sample_updates=True (B11, the blog's rule) on image or Dict observations: each replay runs batch_size Adam "
    "steps of one sample each through the network, on the torch path. Measured against one Adam step on the "
    "minibatch, it trains 6 to 13 times fewer env steps per second on Pong and MinAtar Breakout "
    "(benchmarks/image_throughput.md). Pass per_sample_updates=False for one step on the minibatch."
)
"""The warning a model with B11's per-sample updates on images gets: their measured cost."""


def make_replays(policy: BlogDQNPolicy, replay_buffer: ReplayBuffer, objective: TDObjective, per_sample_updates: bool,
                 max_grad_norm: float, use_kernel: bool | None) -> tuple[ReferenceReplays | KernelReplays, str | None]:
    """
    The fused kernel where it can serve (``use_kernel`` None or True), else the reference path,
    and why the kernel was not taken (None when it was, or when ``use_kernel=False`` asked for the
    reference path). ``use_kernel=True`` raises where the kernel cannot serve; None warns once, except
    for the convolutional and Dict extractors of images and Dict observations, which the kernel
    (an MLP's) does not serve by design.
    """
    # The kernel wherever it serves: it is the faster path for the blog's per-sample fits and for
    # 256x256 minibatch steps alike (benchmarks/step_budget.py times a replay on both paths).
    reason = kernel_unsupported_reason(policy, replay_buffer, policy.device)
    space = policy.observation_space
    if per_sample_updates and (isinstance(space, spaces.Dict) or is_image_state(space)):
        warnings.warn(PER_SAMPLE_IMAGES_COST, stacklevel=4)
    if use_kernel is False:
        return ReferenceReplays(policy, objective, per_sample_updates, max_grad_norm), reason
    if reason is None:
        return KernelReplays(policy, objective, per_sample_updates, max_grad_norm), None
    space = policy.observation_space
    if use_kernel is None and (isinstance(space, spaces.Dict) or is_image_state(space)):
        return ReferenceReplays(policy, objective, per_sample_updates, max_grad_norm), reason  # images, Dict: by design
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
