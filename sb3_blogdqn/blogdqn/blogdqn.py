"""BlogDQN: the blog's reproduction of the Nature-2015 DQN as an SB3 algorithm.

Every rule is cited as B1...B17 from BLOG_SEMANTICS.md. Where the blog differs from
standard DQN, a constructor switch restores the standard behaviour (README, option table).
"""

import io
import pathlib
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, RolloutReturn, Schedule, TrainFreq
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.dqn import DQN
from torch.nn import functional as F

from sb3_blogdqn.blogdqn.kernel import ReplayKernel, kernel_unsupported_reason, sample_replay_indices
from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy, MlpPolicy
from sb3_blogdqn.common.buffers import HistoryReplayBuffer
from sb3_blogdqn.common.checks import (
    Problem,
    SetupError,
    describe_path,
    find_vec_wrapper,
    history_length_problems,
    hyperparameter_problems,
    raise_problems,
    read_saved_model,
    saved_env_problems,
)
from sb3_blogdqn.common.wrappers import VecHistory, wrap_blog_env

SelfBlogDQN = TypeVar("SelfBlogDQN", bound="BlogDQN")


class BlogDQN(DQN):
    """
    The blog's DQN (Keras, CartPole-v1) on SB3's off-policy machinery.

    Defaults reproduce the blog (B1-B16). The env is wrapped in a ``VecHistory`` (B1-B3)
    unless it already has one; the policy's input layer is a StandardScaler fitted once
    on the warm-up histories (B4, B6). The first ``learn()`` call starts with the warm-up:
    random play until ``learning_starts`` full-history transitions are stored, which
    callbacks do not see (the blog's warm-up is not one of its 400 episodes).

    :param policy: ``"MlpPolicy"`` (:class:`BlogDQNPolicy`) or a policy class
    :param env: an env id, a gymnasium env or a VecEnv (wrapped as needed, see above)
    :param learning_rate: Adam's learning rate, or a schedule (B12; blog 1e-3)
    :param buffer_size: replay memory capacity, FIFO (B5; blog ``memory_size`` 2000)
    :param learning_starts: full-history transitions stored by random play before
        learning; the scaler is fitted on them (B4, B6; blog ``replay_start_size`` 32)
    :param batch_size: transitions per replay, drawn without replacement (B7; ``mb_size`` 32)
    :param gamma: discount factor (blog 0.99)
    :param history_length: states per observation history (B1; ``agent_hist_len`` 4)
    :param target_update_interval: target copy period (B13; blog ``C`` 100)
    :param target_update_on_episode_step: B13. True: copy Q into Q̂ after the step's
        replay whenever the *within-episode* step index is a multiple of
        ``target_update_interval`` (so also at every episode's step 0). False: standard
        DQN, every ``target_update_interval`` environment steps. With several envs the
        copy happens when any env's step index qualifies.
    :param exploration_initial_eps: ε before the first decision (blog ``eps`` 1.0)
    :param exploration_final_eps: ε floor (blog ``eps_min`` 1e-4)
    :param exploration_decisions: B8, ε reaches its floor after this many full-history
        action choices, decremented before each draw (blog ``final_expl_step`` 1000)
    :param exploration_fraction: B8 switch. None: the blog's per-decision decay. A float:
        SB3's schedule, linear over that fraction of each ``learn()`` call.
    :param loss_on_all_actions: B10. True: the target vector is Q̂(s) with the taken
        action's entry replaced by the TD target, and the loss is the MSE over all
        actions. False: standard DQN, MSE on the taken action only.
    :param per_sample_updates: B11. True: each replay fits the minibatch one sample at a
        time (``batch_size`` Adam steps on batches of one, targets computed once before).
        False: one Adam step on the whole minibatch.
    :param handle_timeout_termination: B14. False: an episode cut by the env's time limit
        is stored as terminal (no bootstrap), like old gym's ``done``. True: SB3's
        standard, bootstrap through truncation.
    :param act_with_target: B16. ``predict()`` acts with the target network, as the blog's
        ``run()``; off by default so that callbacks evaluate the online network.
    :param use_kernel: run the replays (B10-B12) and the greedy actions (B9) in the fused
        numba kernel (``sb3_blogdqn.blogdqn.kernel``) instead of the plain-torch reference
        path; same numbers up to float rounding, tens of times faster. None (auto): the
        kernel wherever it can serve (CPU, the blog's network shape of Linear layers with
        ReLU, StandardScalerExtractor, KerasAdam), else the reference path with one
        warning naming the reason. True: the kernel or a ValueError saying why not.
        False: always the reference path.
    :param on_nonfinite: what a NaN or infinite observation or reward from the env does.
        ``"raise"``: a ``ValueError`` naming the env and the value, before it is stored.
        ``"skip"``: a warning; every transition whose history, next history or reward is
        non-finite is dropped, and a non-finite history is acted on like a short one (B2:
        random action, no ε change). Either way it never reaches the replay memory, the
        scaler or the weights; ``n_rejected_nonfinite`` counts the dropped transitions.
    :param stats_window_size: episodes averaged for ``rollout/`` logging
    :param tensorboard_log: tensorboard log folder (None: no tensorboard)
    :param policy_kwargs: passed to the policy (``net_arch``, ``optimizer_kwargs``...)
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed for the pseudo-random generators
    :param device: torch device (``"auto"``: CUDA if available)
    :param _init_setup_model: whether to build the network on creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": MlpPolicy}
    policy: BlogDQNPolicy
    replay_buffer: HistoryReplayBuffer

    def __init__(
        self,
        policy: str | type[BlogDQNPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 2000,
        learning_starts: int = 32,
        batch_size: int = 32,
        gamma: float = 0.99,
        history_length: int = 4,
        target_update_interval: int = 100,
        target_update_on_episode_step: bool = True,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 1e-4,
        exploration_decisions: int = 1000,
        exploration_fraction: float | None = None,
        loss_on_all_actions: bool = True,
        per_sample_updates: bool = True,
        handle_timeout_termination: bool = False,
        act_with_target: bool = False,
        use_kernel: bool | None = None,
        on_nonfinite: str = "raise",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        # check_env-style: every problem of the sizes, the spaces and the wrappers, in one error.
        problems = hyperparameter_problems(
            buffer_size, learning_starts, batch_size, target_update_interval, exploration_decisions, gamma,
            exploration_initial_eps, exploration_final_eps, exploration_fraction, on_nonfinite,
        )
        if env is None:
            problems += history_length_problems(history_length)
        else:
            try:
                env = wrap_blog_env(env, history_length, verbose)
            except SetupError as error:
                problems += error.problems
        raise_problems(problems)
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=1.0,
            gamma=gamma,
            train_freq=1,
            # Replays run inside the step (B11, B13 order), from _on_step(): learn() must not add more.
            gradient_steps=0,
            replay_buffer_class=HistoryReplayBuffer,
            replay_buffer_kwargs=dict(handle_timeout_termination=handle_timeout_termination),
            target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction,  # type: ignore[arg-type]
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            max_grad_norm=float("inf"),  # the blog clips neither errors nor gradients (B10)
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
        )
        self.history_length = history_length
        self.target_update_on_episode_step = target_update_on_episode_step
        self.exploration_decisions = exploration_decisions
        self.loss_on_all_actions = loss_on_all_actions
        self.per_sample_updates = per_sample_updates
        self.handle_timeout_termination = handle_timeout_termination
        self.act_with_target = act_with_target
        self.use_kernel = use_kernel
        self.on_nonfinite = on_nonfinite
        self._kernel: ReplayKernel | None = None  # bound lazily to the policy's tensors, never saved

        # The learned agent's state beyond the weights; all of it is saved with the model.
        self.exploration_rate = exploration_initial_eps
        self._n_exploration_decisions = 0  # B8 counts decisions, across learn() calls
        self._warmup_done = False  # B6 happens once per model
        self._warmup_timesteps = 0  # env steps the warm-up took (counted in num_timesteps, unseen by callbacks)
        n_envs = self.n_envs if env is not None else 1  # BaseAlgorithm sets n_envs only with an env
        self._episode_steps = np.zeros(n_envs, dtype=np.int64)  # within-episode step index (B2, B13)
        self._n_target_updates = 0
        self.n_rejected_nonfinite = 0  # transitions dropped by on_nonfinite="skip"
        self._n_stored = 0  # transitions stored by the current env step
        self._last_dones = np.zeros(n_envs, dtype=bool)

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self.policy.act_with_target = self.act_with_target
        self._kernel = None
        self._kernel_fallback_reason = self._check_kernel()

    def _check_kernel(self) -> str | None:
        """Why the kernel cannot run this model (None: it can); raise or warn as ``use_kernel`` asks."""
        reason = kernel_unsupported_reason(self.policy, self.device)
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

    def _uses_kernel(self) -> bool:
        return self._kernel_fallback_reason is None and self.use_kernel is not False

    def _bound_kernel(self) -> ReplayKernel:
        """The kernel on the policy's current tensors (rebound after load or set_parameters)."""
        if self._kernel is None or not self._kernel.is_bound_to(self.policy):
            self._kernel = ReplayKernel(self.policy)
        return self._kernel

    def _excluded_save_params(self) -> list[str]:
        # The kernel only holds views of tensors that are saved anyway.
        return [*super()._excluded_save_params(), "_kernel", "_kernel_fallback_reason"]

    # ----------------------------------------------------------------- acting (B2, B8, B9)

    def _blog_epsilon(self, n_decisions: int) -> float:
        """ε after ``n_decisions`` decrements of ``(initial - final) / exploration_decisions`` (B8)."""
        decay = (self.exploration_initial_eps - self.exploration_final_eps) / self.exploration_decisions
        return max(self.exploration_initial_eps - n_decisions * decay, self.exploration_final_eps)

    def _explores(self) -> bool:
        """One ε-greedy decision with a full history: decrement ε first, then draw (B8)."""
        self._n_exploration_decisions += 1
        if self.exploration_fraction is None:
            self.exploration_rate = self._blog_epsilon(self._n_exploration_decisions)
        return bool(np.random.rand() < self.exploration_rate)

    def _greedy_actions(self, observations: np.ndarray) -> np.ndarray:
        """argmax of the online network Q (B9)."""
        if self._uses_kernel():
            return self._bound_kernel().greedy_actions(observations)
        with th.no_grad():
            q_values = self.q_net(th.as_tensor(observations, device=self.device))
        return q_values.argmax(dim=1).cpu().numpy()

    def _sample_action(
        self,
        learning_starts: int,
        action_noise: ActionNoise | None = None,
        n_envs: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        # A history holding NaN/inf (kept only with on_nonfinite="skip") is acted on like a short one.
        full_history = (self._episode_steps >= self.history_length - 1) & np.isfinite(self._last_obs).all(axis=1)
        actions = np.zeros(n_envs, dtype=np.int64)
        greedy = np.zeros(n_envs, dtype=bool)
        for i in range(n_envs):
            # B2: a short history means a random action and no ε change.
            if full_history[i] and not self._explores():
                greedy[i] = True
            else:
                actions[i] = self.action_space.sample()
        if greedy.any():
            actions[greedy] = self._greedy_actions(self._last_obs[greedy])  # type: ignore[index]
        return actions, actions

    # ------------------------------------------------------------- storing (B2, B5, B6, B14)

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray,  # type: ignore[override]
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
        limit: int | None = None,
    ) -> None:
        """Store the transitions of the envs whose history was full (B2), at most ``limit``."""
        # On episode end new_obs[i] is already the next episode's; VecHistory put the
        # terminal history in infos (B5).
        next_observations = [infos[i]["terminal_observation"] if dones[i] else new_obs[i] for i in range(len(dones))]
        finite = self._finite_transitions(next_observations, reward)
        stored = np.flatnonzero((self._episode_steps >= self.history_length - 1) & finite)[:limit]
        for i in stored:
            next_obs = next_observations[i]
            replay_buffer.add(
                self._last_obs[i : i + 1],  # type: ignore[index]
                next_obs[None],
                buffer_action[i : i + 1],
                reward[i : i + 1],
                dones[i : i + 1],  # B14: a time-limit cut is terminal unless handle_timeout_termination
                [infos[i]],
            )
        self._n_stored = len(stored)
        self._last_obs = new_obs
        self._last_dones = dones

    def _finite_transitions(self, next_observations: list[np.ndarray], rewards: np.ndarray) -> np.ndarray:
        """Per env, whether the step's history, next history and reward are finite (``on_nonfinite``)."""
        all_finite = (
            np.isfinite(self._last_obs).all()  # type: ignore[arg-type]
            and np.isfinite(np.concatenate(next_observations)).all()
            and np.isfinite(rewards).all()
        )
        if all_finite:  # the common case, on the per-step path: three vectorized checks
            return np.ones(len(rewards), dtype=bool)
        checks = {
            "history": np.isfinite(self._last_obs).all(axis=1),  # type: ignore[arg-type]
            "next observation": np.array([np.isfinite(obs).all() for obs in next_observations]),
            "reward": np.isfinite(rewards),
        }
        finite = np.logical_and.reduce(list(checks.values()))
        if self.on_nonfinite == "raise" and not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            what = next(name for name, ok in checks.items() if not ok[i])
            values = {"history": self._last_obs[i], "next observation": next_observations[i], "reward": rewards[i]}  # type: ignore[index]
            value = np.asarray(values[what]).tolist()
            raise ValueError(
                f"Env {i} gave a non-finite {what} (NaN or inf) at timestep {self.num_timesteps}: {value}. "
                "BlogDQN stops before storing it: it must not reach the replay memory, the StandardScaler "
                "(B4, which would spread it to every input) or the weights. Fix the env or clip it with a wrapper "
                "(gymnasium.wrappers.ClipReward, TransformObservation), or pass on_nonfinite='skip' to drop "
                "such transitions with a warning."
            )
        n_rejected = int(np.sum(~finite & (self._episode_steps >= self.history_length - 1)))
        if n_rejected:
            self.n_rejected_nonfinite += n_rejected
            warnings.warn(
                "on_nonfinite='skip': the env gave a non-finite history, next observation or reward; the "
                "transitions holding it are dropped (n_rejected_nonfinite counts them).",
                RuntimeWarning,
                stacklevel=2,
            )
        return finite

    def _advance_episode_steps(self, dones: np.ndarray) -> None:
        self._episode_steps += 1
        self._episode_steps[dones] = 0

    def _warm_up(self, env: VecEnv, replay_buffer: ReplayBuffer) -> None:
        """
        B6: random play (no ε change) until ``learning_starts`` full-history transitions
        are stored, possibly stopping mid-episode; fit the scaler on their histories
        (B4); start learning from a fresh reset. Callbacks do not see these steps.

        A model loaded without its replay buffer refills the memory the same way before
        it learns again (as SB3's DQN replays ``learning_starts`` random steps after
        ``load()``), keeping its scaler and ε.
        """
        first_row = replay_buffer.pos
        n_stored = 0
        while n_stored < self.learning_starts:
            actions = np.array([self.action_space.sample() for _ in range(env.num_envs)])
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            self._warmup_timesteps += env.num_envs
            self._store_transition(replay_buffer, actions, new_obs, rewards, dones, infos, self.learning_starts - n_stored)
            n_stored += self._n_stored
            self._advance_episode_steps(dones)
        if not self._warmup_done:  # B4: fitted once, never refitted by a later refill
            rows = (first_row + np.arange(self.learning_starts)) % replay_buffer.buffer_size
            self.policy.fit_scaler(replay_buffer.observations[rows, 0])
            self._warmup_done = True
        self._last_obs = env.reset()  # type: ignore[assignment]
        self._last_episode_starts = np.ones(env.num_envs, dtype=bool)
        self._episode_steps[:] = 0

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
        if replay_buffer.size() < self.learning_starts:
            self._warm_up(env, replay_buffer)
        return super().collect_rollouts(env, callback, train_freq, replay_buffer, action_noise, learning_starts, log_interval)

    # ------------------------------------------------------------- learning (B10-B13)

    def _on_step(self) -> None:
        """After each env step: the step's replays (B11), then the target copy (B13)."""
        if self._n_stored > 0:
            self.train(gradient_steps=self._n_stored, batch_size=self.batch_size)
        self._n_calls += 1
        if self.target_update_on_episode_step:
            copy_target = bool(np.any(self._episode_steps % self.target_update_interval == 0))
        else:
            copy_target = self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0
        if copy_target:
            self.q_net_target.load_state_dict(self.q_net.state_dict())
            self._n_target_updates += 1
        if self.exploration_fraction is not None:
            self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self._advance_episode_steps(self._last_dones)

    def _td_targets(self, observations: th.Tensor, actions: th.Tensor, rewards: th.Tensor,
                    next_observations: th.Tensor, dones: th.Tensor) -> th.Tensor:
        """
        Regression targets, all from the target network Q̂ (B10): ``r + γ max_a Q̂(s', a)``
        (``r`` when done) for the taken action; with ``loss_on_all_actions`` the other
        entries are Q̂(s), so untaken actions are pulled toward the target network.
        """
        next_q_values = self.q_net_target(next_observations).max(dim=1, keepdim=True).values
        td_targets = rewards + (1 - dones) * self.gamma * next_q_values
        if not self.loss_on_all_actions:
            return td_targets
        return self.q_net_target(observations).scatter(1, actions.long(), td_targets)

    def _fit(self, observations: th.Tensor, actions: th.Tensor, targets: th.Tensor) -> float:
        """One Adam step on the MSE to ``targets`` (Keras ``mse``: mean over actions and batch)."""
        q_values = self.q_net(observations)
        if not self.loss_on_all_actions:
            q_values = q_values.gather(1, actions.long())
        loss = F.mse_loss(q_values, targets)
        self.policy.optimizer.zero_grad()
        loss.backward()
        self.policy.optimizer.step()
        return loss.item()

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        """``gradient_steps`` replays (B7, B10, B11): the fused kernel, else the reference path."""
        self._update_learning_rate(self.policy.optimizer)
        if self._uses_kernel():
            # The same minibatches from the same draws of numpy's generator as the reference path.
            indices = sample_replay_indices(self.replay_buffer, gradient_steps, batch_size)
            losses = self._bound_kernel().replay(
                self.replay_buffer, indices, self.gamma, self.loss_on_all_actions, self.per_sample_updates
            )
        else:
            losses = self._reference_replays(gradient_steps, batch_size)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))

    def _reference_replays(self, gradient_steps: int, batch_size: int) -> list[float]:
        """The plain-torch replays, obviously correct and slow: what the kernel is checked against."""
        self.policy.set_training_mode(True)
        losses = []
        for _ in range(gradient_steps):
            replay = self.replay_buffer.sample(batch_size)
            with th.no_grad():
                targets = self._td_targets(
                    replay.observations, replay.actions, replay.rewards, replay.next_observations, replay.dones
                )
            if self.per_sample_updates:
                # B11: train_on_batch in a loop, each sample its own Adam step.
                for i in range(batch_size):
                    losses.append(self._fit(replay.observations[i : i + 1], replay.actions[i : i + 1], targets[i : i + 1]))
            else:
                losses.append(self._fit(replay.observations, replay.actions, targets))
        self.policy.set_training_mode(False)
        return losses

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
            self._last_dones = np.zeros(self.n_envs, dtype=bool)
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
            return super().learn(
                total_timesteps=total_timesteps,
                callback=callback,
                log_interval=log_interval,
                tb_log_name=tb_log_name,
                reset_num_timesteps=reset_num_timesteps,
                progress_bar=progress_bar,
            )
        except KeyboardInterrupt:
            # Ctrl-C may land between env.step() and storing its transition, leaving the env a
            # step ahead of _last_obs. Forget the env's position: the model still saves and
            # loads, and the next learn() starts fresh episodes, so no transition spans the gap.
            self._last_obs = None  # type: ignore[assignment]
            raise

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

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        super().set_env(wrap_blog_env(env, self.history_length, self.verbose), force_reset=force_reset)

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfBlogDQN],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfBlogDQN:
        """
        SB3's ``load``, refusing what it would load wrongly or partly (issue 6): a truncated or
        corrupted zip, a zip saved by another algorithm or missing part of the agent's state,
        and an env whose history length, state size or actions differ from the model's. Each
        raises a :class:`~sb3_blogdqn.common.checks.SetupError` naming the file and the mismatch.
        """
        where = describe_path(path)
        data, _ = read_saved_model(path, custom_objects)
        if env is not None:
            # SB3 checks the env's spaces before building the model: give it the history first
            # (the env's own, if it has one, so that a different length is reported, not hidden).
            history = find_vec_wrapper(env, VecHistory) if isinstance(env, VecEnv) else None
            history_length = data["history_length"] if history is None else history.history_length
            try:
                env = wrap_blog_env(env, history_length, data.get("verbose", 0))
                problems = saved_env_problems(data, env)
            except SetupError as error:
                problems = error.problems
            raise_problems(problems, f"Cannot load the BlogDQN model {where} on this env")
        try:
            return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        except RuntimeError as error:  # torch's load_state_dict: the weights do not fit the network
            raise SetupError([Problem(f"its parameters do not fit the network it describes: {error}")],
                             f"Cannot load a BlogDQN model from {where}") from error
