"""
BlogDQN: the blog's reproduction of the Nature-2015 DQN as an SB3 algorithm.

This file gathers experience in the blog's order (B2, B5, B6, B8, B9, B14) inside SB3's
off-policy loop. What a replay fits is ``objectives.py``, how it runs ``learning.py`` and
``kernel.py``, when it runs (and what ε is) ``schedules.py``. Every rule is cited as
B1...B17 from BLOG_SEMANTICS.md; ``docs/blogdqn.md`` explains each switch.
"""

import functools
import io
import math
import pathlib
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, RolloutReturn, Schedule, TrainFreq
from stable_baselines3.common.type_aliases import TrainFrequencyUnit as Unit
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.dqn import DQN

from sb3_blogdqn.blogdqn import checks
from sb3_blogdqn.blogdqn.envs import nonfinite_transitions, wrap_blog_env
from sb3_blogdqn.blogdqn.learning import KernelReplays, make_replays, update_target
from sb3_blogdqn.blogdqn.objectives import LOSSES, TDObjective
from sb3_blogdqn.blogdqn.policies import POLICY_ALIASES, BlogDQNPolicy
from sb3_blogdqn.blogdqn.saving import load_model, save_atomically
from sb3_blogdqn.blogdqn.schedules import Schedule as BlogSchedule
from sb3_blogdqn.common.buffers import DictHistoryReplayBuffer, HistoryReplayBuffer, NStepHistoryReplayBuffer
from sb3_blogdqn.common.checks import raise_problems
from sb3_blogdqn.common.observations import finite_rows, float_sum, map_observations, row, with_batch_axis
from sb3_blogdqn.common.wrappers import continued_histories, holds_states

SelfBlogDQN = TypeVar("SelfBlogDQN", bound="BlogDQN")

BLOG_SWITCHES = (
    "history_length", "target_update_on_episode_step", "exploration_decisions", "loss_on_all_actions",
    "per_sample_updates", "handle_timeout_termination", "act_with_target", "use_kernel", "on_nonfinite", "double_q",
    "loss", "scaler_from_bounds", "standardize_inputs", "skip_short_histories",
)
"""BlogDQN's arguments that SB3's DQN does not take: the blog's rules and their switches, saved as given."""


class BlogDQN(DQN):
    """
    The blog's DQN (Keras, CartPole-v1) on SB3's off-policy machinery.

    Defaults reproduce the blog (B1-B16). The env is wrapped in a ``VecHistory`` (B1-B3) unless
    it has one; the policy's input layer is a StandardScaler fitted once on the warm-up (B4, B6),
    random play until ``learning_starts`` full-history transitions are stored, which runs in
    SB3's loop like DQN's ``learning_starts``. ``docs/blogdqn.md`` explains every switch.

    :param policy: ``"MlpPolicy"`` (:class:`BlogDQNPolicy`), ``"CnnPolicy"``, ``"MultiInputPolicy"`` or a policy class
    :param env: an env id, a gymnasium env or a VecEnv (wrapped as needed)
    :param learning_rate: Adam's learning rate, or a schedule (B12; blog 1e-3)
    :param buffer_size: replay memory capacity, FIFO (B5; blog 2000)
    :param learning_starts: full-history transitions stored by the warm-up (B6; blog 32)
    :param batch_size: transitions per replay, drawn without replacement (B7; blog 32)
    :param tau: 1: the target copy (B13); below 1: SB3's Polyak averaging
    :param gamma: discount factor (blog 0.99)
    :param train_freq: 1 with ``gradient_steps=-1``: the blog's replays (B11); else SB3's
    :param gradient_steps: replays per ``train_freq``; -1: one per stored transition
    :param replay_buffer_class: None: BlogDQN's memory (B5, B7); else an SB3 ``ReplayBuffer``
    :param replay_buffer_kwargs: passed to the replay buffer's constructor
    :param optimize_memory_usage: must stay False (B2, B5)
    :param n_steps: n-step returns (1: the blog's one-step targets, B10; more needs one env)
    :param target_update_interval: target update period (B13; blog ``C`` 100)
    :param exploration_fraction: None: the blog's per-decision ε (B8); a float: SB3's
    :param exploration_initial_eps: ε before the first decision (blog 1.0)
    :param exploration_final_eps: ε's floor (blog 1e-4)
    :param max_grad_norm: gradient-norm clipping; ``inf``: none, as the blog (B10)
    :param stats_window_size: episodes averaged for ``rollout/`` logging
    :param tensorboard_log: tensorboard log folder (None: no tensorboard)
    :param policy_kwargs: passed to the policy (``net_arch``, ``n_quantiles``...)
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed for the pseudo-random generators
    :param device: torch device (``"auto"``: CUDA if available)
    :param history_length: states per history (B1; blog 4); None: the env's, else 4
    :param target_update_on_episode_step: B13: copy at within-episode step multiples of C
    :param exploration_decisions: B8: decisions until ε reaches its floor (blog 1000)
    :param loss_on_all_actions: B10: fit every action's output, untaken ones to Q̂(s)
    :param per_sample_updates: B11: fit each minibatch one sample at a time
    :param handle_timeout_termination: B14: False: a time-limit cut is terminal; None: from kwargs
    :param act_with_target: B16: ``predict()`` acts with the target network
    :param use_kernel: the fused kernel (True), the reference path (False), or the kernel where it can (None)
    :param on_nonfinite: NaN or inf from the env: ``"raise"``, or ``"skip"`` the transition
    :param double_q: Double DQN targets (not the blog's)
    :param loss: ``"mse"`` (B10), ``"huber"`` (SB3's DQN) or ``"quantile"`` (QR-DQN)
    :param scaler_from_bounds: B4: scale bounded features by the space's bounds
    :param standardize_inputs: B4: the scaler; False leaves the inputs as the env gives them
    :param skip_short_histories: B2: random actions, nothing stored, on short histories
    :param _init_setup_model: whether to build the network on creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = dict(POLICY_ALIASES)
    policy: BlogDQNPolicy
    replay_buffer: HistoryReplayBuffer
    observation_space: spaces.Box | spaces.Dict  # histories (VecHistory), a Dict's per key
    _last_obs: np.ndarray | None  # a dict of them for a Dict space
    history_length: int
    target_update_on_episode_step: bool
    exploration_decisions: int
    loss_on_all_actions: bool
    per_sample_updates: bool
    handle_timeout_termination: bool
    act_with_target: bool
    use_kernel: bool | None
    on_nonfinite: str
    double_q: bool
    loss: str
    scaler_from_bounds: bool
    standardize_inputs: bool
    skip_short_histories: bool

    def __init__(
        self,
        policy: str | type[BlogDQNPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 2000,
        learning_starts: int = 32,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = -1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int = 100,
        exploration_fraction: float | None = None,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 1e-4,
        max_grad_norm: float = math.inf,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        history_length: int | None = None,
        target_update_on_episode_step: bool = True,
        exploration_decisions: int = 1000,
        loss_on_all_actions: bool = True,
        per_sample_updates: bool = True,
        handle_timeout_termination: bool | None = None,
        act_with_target: bool = False,
        use_kernel: bool | None = None,
        on_nonfinite: str = "raise",
        double_q: bool = False,
        loss: str = "mse",
        scaler_from_bounds: bool = False,
        standardize_inputs: bool = True,
        skip_short_histories: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        # The flat arguments (the public surface: Zoo YAML and saved zips use these names), grouped
        # into SB3's DQN's and the blog's switches; the objective and the schedule are built from them.
        arguments = {name: value for name, value in locals().items() if name not in ("self", "__class__", "_init_setup_model")}
        history = checks.check_arguments(arguments)
        if history is not None:  # the states the history is made of, for predict() on the unwrapped env's states
            self.state_space = history.state_space
        switches = {name: arguments.pop(name) for name in BLOG_SWITCHES}
        super().__init__(**arguments, _init_setup_model=False)
        vars(self).update(switches)
        self._kernel_fallback_reason: str | None = None
        # The learned agent's state beyond the weights; all of it is saved with the model.
        self.exploration_rate = exploration_initial_eps
        self._n_exploration_decisions = 0  # B8 counts decisions, across learn() calls
        self._warmup_done = False  # B4: the scaler is fitted once per model, by the first warm-up
        n_envs = self.n_envs if self.env is not None else 1  # BaseAlgorithm sets n_envs only with an env
        self._episode_steps = np.zeros(n_envs, dtype=np.int64)  # within-episode step index (B2, B13)
        self._n_target_updates = 0
        self.n_rejected_nonfinite = 0  # transitions dropped by on_nonfinite="skip"
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # One row per stored transition whatever the number of envs (B2, B5): BlogDQN builds
        # the memory itself, before SB3's setup (which builds none when one exists).
        if self.replay_buffer is None:
            self.replay_buffer = self._make_replay_buffer()
        replay_buffer_class = self.replay_buffer_class
        super()._setup_model()
        self.replay_buffer_class = replay_buffer_class  # None stays "BlogDQN's memory" (SB3 names its own default)
        self.policy.act_with_target = self.act_with_target
        if self.per_sample_updates:
            raise_problems(checks.batch_of_one_problems(self.policy))
        self._objective = TDObjective(LOSSES[self.loss], self.loss_on_all_actions, self.double_q)
        self._schedule = BlogSchedule(
            self.gradient_steps == -1 and self.train_freq == TrainFreq(1, Unit.STEP), self.target_update_interval,
            self.target_update_on_episode_step, self.exploration_initial_eps, self.exploration_final_eps,
            self.exploration_decisions, self.exploration_fraction,
        )
        self._replays, self._kernel_fallback_reason = make_replays(
            self.policy, self.replay_buffer, self._objective, self.per_sample_updates, self.max_grad_norm, self.use_kernel
        )

    def _make_replay_buffer(self) -> ReplayBuffer:
        kwargs = dict(self.replay_buffer_kwargs)
        buffer_class = self.replay_buffer_class
        if buffer_class is None:
            buffer_class = DictHistoryReplayBuffer if isinstance(self.observation_space, spaces.Dict) else HistoryReplayBuffer
            if self.n_steps > 1:
                buffer_class = NStepHistoryReplayBuffer
                kwargs.update(n_steps=self.n_steps, gamma=self.gamma)
        return buffer_class(self.buffer_size, self.observation_space, self.action_space, device=self.device, n_envs=1,
                            optimize_memory_usage=self.optimize_memory_usage, **kwargs)

    @property
    def replays_in_step(self) -> bool:
        """The blog's schedule of replays (B11): one per stored transition, inside its env step."""
        return self._schedule.replays_in_step

    @property
    def uses_kernel(self) -> bool:
        """Whether the replays run on the fused kernel; else on the reference path (``_kernel_fallback_reason`` says why)."""
        return isinstance(self._replays, KernelReplays)

    @property
    def warmup_size(self) -> int:
        """Transitions the warm-up stores (B6): ``learning_starts``, and at least one minibatch (B7)."""
        return max(self.learning_starts, self.batch_size)

    @property
    def warming_up(self) -> bool:
        """Whether the next env step is random warm-up play (B6): fewer than ``warmup_size`` stored."""
        return self.replay_buffer is None or self.replay_buffer.size() < self.warmup_size

    def _excluded_save_params(self) -> list[str]:
        # Built from the saved switches by _setup_model; the kernel only holds views of saved tensors.
        return [*super()._excluded_save_params(), "_objective", "_schedule", "_replays", "_kernel_fallback_reason"]

    # ----------------------------------------------------------------- acting (B2, B8, B9)

    def _decisions(self) -> np.ndarray:
        """Per env: whether this step is an ε-greedy decision on a full history (B2), not random play (B6)."""
        if self.warming_up:
            return np.zeros(self.n_envs, dtype=bool)
        deciding = self._stores_step()
        if self.on_nonfinite == "skip":  # with "raise", a NaN/inf history raises before it is stored
            assert self._last_obs is not None, "self._last_obs was not set"
            deciding &= finite_rows(self._last_obs)  # acted on like a short history
        return deciding

    def _explores(self) -> bool:
        """One ε-greedy decision with a full history: ε first (B8), then the draw."""
        self._n_exploration_decisions += 1
        self.exploration_rate = self._schedule.epsilon_at_decision(self._n_exploration_decisions, self.exploration_rate)
        return bool(np.random.rand() < self.exploration_rate)

    def _sample_action(
        self,
        learning_starts: int,
        action_noise: ActionNoise | None = None,
        n_envs: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        deciding = self._decisions()
        actions = np.zeros(n_envs, dtype=np.int64)
        greedy = []  # a list, not a mask: fewer numpy calls on the per-step path
        for i in range(n_envs):
            # B2, B6: a random action, and no ε change, unless deciding on a full history.
            if deciding[i] and not self._explores():
                greedy.append(i)
            else:
                actions[i] = self.action_space.sample()
        if greedy:
            assert self._last_obs is not None, "self._last_obs was not set"
            actions[greedy] = self._replays.greedy_actions(row(self._last_obs, greedy))  # Q's argmax (B9)
        return actions, actions

    # ------------------------------------------------- one env step: store, replay, update the target

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray,  # type: ignore[override]
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """
        SB3's hook after each env step, where the blog's step happens in its order: store the
        full-history transitions (B2, B5, B14); during the warm-up, only until it is complete (B6),
        then fit the scaler and start learning episodes; while learning, the step's replays (B11)
        and target copy (B13) if the schedule puts them inside the step.
        """
        warming_up = self.warming_up
        # On episode end new_obs[i] is already the next episode's; VecHistory put the terminal history in infos (B5).
        next_observations = [infos[i]["terminal_observation"] if dones[i] else row(new_obs, i) for i in range(len(dones))]
        stored = np.flatnonzero(self._stores_step() & self._finite(next_observations, reward))
        if warming_up:
            stored = stored[: self.warmup_size - replay_buffer.size()]  # B6 stops at the last one, mid-episode
        assert self._last_obs is not None, "self._last_obs was not set"
        for i in stored:
            replay_buffer.add(row(self._last_obs, slice(i, i + 1)), with_batch_axis(next_observations[i]),
                              buffer_action[i : i + 1],
                              reward[i : i + 1], dones[i : i + 1], [infos[i]])  # B14: dones as given
        self._last_obs = new_obs
        if warming_up:
            self._advance_episode_steps(dones)
            if not self.warming_up:
                self._end_warm_up()
            return
        if self._schedule.replays_in_step and len(stored) > 0:
            self.train(gradient_steps=len(stored), batch_size=self.batch_size)
        if self._schedule.target_update_in_step(self._episode_steps):
            self._update_target()
        self._advance_episode_steps(dones)

    def _end_warm_up(self) -> None:
        """
        B6's end: fit the scaler on the warm-up histories (B4; once per model: a memory refilled
        after ``load()`` keeps the saved scaler), then start the learning episodes from a fresh
        reset. The episodes cut here report no end to Monitor or callbacks.
        """
        if not self._warmup_done and self.standardize_inputs:
            space = self.observation_space
            boxes = space.spaces if isinstance(space, spaces.Dict) else space
            bounds = map_observations(lambda box: (box.low, box.high), boxes) if self.scaler_from_bounds else None
            self.policy.fit_scaler(map_observations(lambda x: x[: self.warmup_size, 0], self.replay_buffer.observations),
                                   bounds)
        self._warmup_done = True
        self._last_obs = self.env.reset()  # type: ignore[assignment,union-attr]
        self._last_episode_starts = np.ones(self.n_envs, dtype=bool)
        self._episode_steps[:] = 0

    def _finite(self, next_observations: list[np.ndarray], rewards: np.ndarray) -> np.ndarray:
        """Per env, whether the step's history, next history and reward are finite (``on_nonfinite``)."""
        # The common case, on the per-step path: one sum, which NaN and inf (and an overflow,
        # for which the per-env checks then find nothing wrong) make non-finite.
        assert self._last_obs is not None, "self._last_obs was not set"
        total = float_sum(self._last_obs) + sum(float_sum(obs) for obs in next_observations) + rewards.sum()
        if np.isfinite(total):
            return np.ones(len(rewards), dtype=bool)
        finite, n_rejected = nonfinite_transitions(self._last_obs, next_observations, rewards, self._stores_step(),
                                                   self.on_nonfinite, self.num_timesteps)
        self.n_rejected_nonfinite += n_rejected
        return finite

    def _stores_step(self) -> np.ndarray:
        """Per env: whether this step's history is acted on and stored (B2: full, or any if the switch is off)."""
        if self.skip_short_histories:
            return self._episode_steps >= self.history_length - 1
        return np.ones(len(self._episode_steps), dtype=bool)

    def _advance_episode_steps(self, dones: np.ndarray) -> None:
        self._episode_steps += 1
        if dones.any():  # rare: skip the masked write on the other steps (the per-step path)
            self._episode_steps[dones] = 0

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        train_freq: TrainFreq,
        replay_buffer: ReplayBuffer,
        action_noise: ActionNoise | None = None,
        learning_starts: int = 0,
        log_interval: int | None = None,
    ) -> RolloutReturn:
        rollout = super().collect_rollouts(env, callback, train_freq, replay_buffer, action_noise, learning_starts,
                                           log_interval)
        if self._schedule.replays_in_step:
            # SB3's loop then runs gradient_steps=-1 replays per collected env step: none are
            # left, each stored transition had its replay inside its step (B11).
            return rollout._replace(episode_timesteps=0)
        return rollout

    def _on_step(self) -> None:
        """SB3's hook after each env step: SB3's target update (B13's switch) and ε (B8's switch), as the schedule says."""
        self._n_calls += 1
        if not self.warming_up and self._schedule.target_update_after_step(self._n_calls, self.n_envs):
            self._update_target()
        self.exploration_rate = self._schedule.epsilon_after_step(self._current_progress_remaining, self.exploration_rate)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    # ----------------------------------------------------------------- learning (B7, B10-B13)

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        """
        ``gradient_steps`` replays (B7, B10, B11), on the fused kernel or the reference path. Called
        inside each env step with the blog's schedule, by SB3's loop with another ``train_freq`` /
        ``gradient_steps``; never during the warm-up (B6).
        """
        if self.warming_up:
            return
        self._update_learning_rate(self.policy.optimizer)
        losses = self._replays.replay(self.replay_buffer, gradient_steps, batch_size, self.gamma)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(losses.sum()) / losses.size)  # the array's sum: cheaper than np.mean

    def _update_target(self) -> None:
        update_target(self.policy, self.tau)
        self._n_target_updates += 1

    # ----------------------------------------------------------- SB3 plumbing

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        # SB3 resets the envs here when asked to or after load()/set_env(): every env then
        # starts a new episode, at step index 0. ε and the counters carry on (B8).
        env_is_reset = reset_num_timesteps or self._last_obs is None
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if env_is_reset:
            self._episode_steps = np.zeros(self.n_envs, dtype=np.int64)
        return result

    def learn(
        self: SelfBlogDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "BlogDQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfBlogDQN:
        try:
            super().learn(total_timesteps=total_timesteps, callback=callback, log_interval=log_interval,
                          tb_log_name=tb_log_name, reset_num_timesteps=reset_num_timesteps, progress_bar=progress_bar)
        except KeyboardInterrupt:
            # Ctrl-C may land between env.step() and storing its transition, leaving the env a
            # step ahead of _last_obs. Forget the env's position: the model still saves and
            # loads, and the next learn() starts fresh episodes, so no transition spans the gap.
            self._last_obs = None
            raise
        if self.warming_up:
            lengths = [info["l"] for info in self.ep_info_buffer or []]
            warnings.warn(checks.unfinished_warm_up_message(self, max(lengths, default=None)), stacklevel=2)
        return self

    def dump_logs(self) -> None:
        self.logger.record("train/n_target_updates", self._n_target_updates)
        self.logger.record("rollout/exploration_decisions", self._n_exploration_decisions)
        scaler = self.policy.scaler
        if scaler is not None and scaler.fitted:
            # Constant after the warm-up (B4); per feature, kept out of the console table.
            for name, values in (("mean", scaler.mean), ("std", scaler.scale)):
                for i, value in enumerate(values.tolist()):
                    self.logger.record(f"scaler/{name}_{i}", value, exclude="stdout")
        super().dump_logs()

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        SB3's ``predict`` (DQN's, with ε when not deterministic) on histories, as the env of
        :func:`make_blog_env` returns them, or on states of the unwrapped env: then the history
        travels in ``state`` the way recurrent policies keep theirs, kept by ``VecHistory``'s
        :class:`Histories` (padded at an episode start, B3; shifted by one state per call, B1).
        ``evaluate_policy`` threads both, so it runs on unwrapped envs too.
        """
        state_space = getattr(self, "state_space", None)  # None: a model saved before it was recorded
        if state_space is None or not holds_states(observation, state_space, self.history_length):
            return super().predict(observation, state, episode_start, deterministic)
        histories, state, vectorized = continued_histories(state, observation, episode_start, state_space,
                                                           self.observation_space, self.history_length)
        actions, _ = super().predict(histories if vectorized else row(histories, 0), None, None, deterministic)
        return actions, state

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        super().set_env(wrap_blog_env(env, self.history_length, self.verbose), force_reset=force_reset)

    def save(self, path: str | pathlib.Path | io.BufferedIOBase, exclude: Iterable[str] | None = None,
             include: Iterable[str] | None = None) -> None:
        """SB3's ``save``, atomic: a process killed while saving leaves the previous file whole."""
        save_atomically(functools.partial(super().save, exclude=exclude, include=include), path, "zip")

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """SB3's ``save_replay_buffer`` (a pickle), atomic as :meth:`save`."""
        save_atomically(super().save_replay_buffer, path, "pkl")

    @classmethod
    def load(
        cls: type[SelfBlogDQN],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        trusted: bool = True,  # False: run no code from the file (blogdqn.saving rebuilds what SB3 cloudpickles)
        **kwargs: Any,
    ) -> SelfBlogDQN:
        """SB3's ``load``, refusing (``SetupError``) damaged, foreign, partial or out-of-range saves and unfitting envs."""
        return load_model(cls, path, env, device, custom_objects, print_system_info, force_reset, trusted, kwargs)
