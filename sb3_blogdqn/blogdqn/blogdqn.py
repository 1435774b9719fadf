"""BlogDQN: the blog's reproduction of the Nature-2015 DQN as an SB3 algorithm.

Every rule is cited as B1...B17 from BLOG_SEMANTICS.md. Where the blog differs from
standard DQN, a constructor switch restores the standard behaviour (README, option table).
"""

import io
import math
import pathlib
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import (
    GymEnv,
    MaybeCallback,
    RolloutReturn,
    Schedule,
    TrainFreq,
    TrainFrequencyUnit,
)
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.dqn import DQN

from sb3_blogdqn.blogdqn.kernel import ReplayKernel
from sb3_blogdqn.blogdqn.learning import ReplayLearning
from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy, MlpPolicy
from sb3_blogdqn.blogdqn.saving import describe_path, read_saved_model, saved_env_problems
from sb3_blogdqn.common.buffers import HistoryReplayBuffer, NStepHistoryReplayBuffer
from sb3_blogdqn.common.checks import (
    BLOG_HISTORY_LENGTH,
    QRDQN_N_QUANTILES,
    Problem,
    SetupError,
    batch_of_one_problems,
    find_vec_wrapper,
    history_length_problems,
    hyperparameter_problems,
    n_step_problems,
    quantile_loss_problems,
    raise_problems,
    sb3_argument_problems,
    scaler_problems,
)
from sb3_blogdqn.common.wrappers import VecHistory, encode_states, env_history, wrap_blog_env

SelfBlogDQN = TypeVar("SelfBlogDQN", bound="BlogDQN")


class BlogDQN(ReplayLearning, DQN):
    """
    The blog's DQN (Keras, CartPole-v1) on SB3's off-policy machinery.

    Defaults reproduce the blog (B1-B16). The env is wrapped in a ``VecHistory`` (B1-B3)
    unless it already has one; the policy's input layer is a StandardScaler fitted once
    on the warm-up histories (B4, B6). The first ``learn()`` call starts with the warm-up:
    random play until ``learning_starts`` full-history transitions are stored. It runs in
    SB3's loop like DQN's ``learning_starts``: callbacks see its steps and ``num_timesteps``
    counts them; :class:`StopTrainingOnMaxLearningEpisodes` counts the blog's learning
    episodes, which exclude it.

    :param policy: ``"MlpPolicy"`` (:class:`BlogDQNPolicy`) or a policy class
    :param env: an env id, a gymnasium env or a VecEnv (wrapped as needed, see above)
    :param learning_rate: Adam's learning rate, or a schedule (B12; blog 1e-3)
    :param buffer_size: replay memory capacity, FIFO (B5; blog ``memory_size`` 2000)
    :param learning_starts: full-history transitions stored by random play before
        learning; the scaler is fitted on them (B4, B6; blog ``replay_start_size`` 32).
        SB3's DQN counts env steps here; BlogDQN counts stored transitions (B2 steps store
        none), and at least ``batch_size`` of them, which the first replay draws (B7).
    :param batch_size: transitions per replay, drawn without replacement (B7; ``mb_size`` 32)
    :param tau: the target update's coefficient: 1 copies Q into Q̂ (B13, the blog), below 1
        is SB3's Polyak averaging ``Q̂ ← τ Q + (1 - τ) Q̂`` at the same moments
    :param gamma: discount factor (blog 0.99)
    :param train_freq: with ``gradient_steps=-1`` and the default 1: the blog's schedule
        (B11), one replay per stored transition, run inside its env step before the
        target copy (B13). Anything else is SB3's schedule: ``gradient_steps`` replays after
        every ``train_freq`` env steps (or ``(n, "episode")``), after that step's target update.
    :param gradient_steps: replays per ``train_freq``; -1 (default) as in SB3, as many as
        transitions: with ``train_freq=1``, one per stored transition (the B2 steps store
        none), otherwise one per env step of each env collected in the rollout
    :param replay_buffer_class: None: BlogDQN's memory, :class:`HistoryReplayBuffer` (B5,
        B7), or its n-step variant when ``n_steps > 1``. Any SB3 ``ReplayBuffer`` subclass
        is accepted; BlogDQN builds every buffer with one row per stored transition
        (``n_envs=1``), since each env's transitions are stored one by one (B2, B5).
    :param replay_buffer_kwargs: passed to the replay buffer's constructor
    :param optimize_memory_usage: must stay False: the blog's memory stores each next
        history (B5), the rows of several envs and episodes with skipped steps (B2)
        interleave, so a next observation cannot be read from the following row
    :param n_steps: SB3's n-step returns (1: the blog's one-step targets, B10); with more,
        consecutive rows must be consecutive steps of one env, so it needs one env
    :param target_update_interval: target copy period (B13; blog ``C`` 100)
    :param exploration_fraction: B8 switch. None: the blog's per-decision decay. A float:
        SB3's schedule, linear over that fraction of each ``learn()`` call.
    :param exploration_initial_eps: ε before the first decision (blog ``eps`` 1.0)
    :param exploration_final_eps: ε floor (blog ``eps_min`` 1e-4)
    :param max_grad_norm: gradient-norm clipping; ``inf`` (default): none, as the blog (B10)
    :param stats_window_size: episodes averaged for ``rollout/`` logging
    :param tensorboard_log: tensorboard log folder (None: no tensorboard)
    :param policy_kwargs: passed to the policy (``net_arch``, ``optimizer_kwargs``...)
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed for the pseudo-random generators
    :param device: torch device (``"auto"``: CUDA if available)
    :param history_length: states per observation history (B1; ``agent_hist_len`` 4).
        None (default): the length of the env's ``VecHistory`` if it has one, else 4.
    :param target_update_on_episode_step: B13. True: copy Q into Q̂ after the step's
        replay whenever the *within-episode* step index is a multiple of
        ``target_update_interval`` (so also at every episode's step 0). False: standard
        DQN, every ``target_update_interval`` environment steps. With several envs the
        copy happens when any env's step index qualifies.
    :param exploration_decisions: B8, ε reaches its floor after this many full-history
        action choices, decremented before each draw (blog ``final_expl_step`` 1000)
    :param loss_on_all_actions: B10. True: the target vector is Q̂(s) with the taken
        action's entry replaced by the TD target, and the loss is the MSE over all
        actions. False: standard DQN, MSE on the taken action only.
    :param per_sample_updates: B11. True: each replay fits the minibatch one sample at a
        time (``batch_size`` Adam steps on batches of one, targets computed once before).
        False: one Adam step on the whole minibatch. Layers that cannot train on batches of
        one (BatchNorm) are refused while it is True.
    :param handle_timeout_termination: B14. False: an episode cut by the env's time limit
        is stored as terminal (no bootstrap), like old gym's ``done``. True: SB3's
        standard, bootstrap through truncation. None (default): the value given in
        ``replay_buffer_kwargs`` (SB3's place for it), else False.
    :param act_with_target: B16. ``predict()`` acts with the target network, as the blog's
        ``run()``; off by default so that callbacks evaluate the online network.
    :param use_kernel: run the replays (B10-B12) and the greedy actions (B9) in the fused
        numba kernel (``sb3_blogdqn.blogdqn.kernel``) instead of the plain-torch reference
        path; same numbers up to float rounding, tens of times faster. None (auto): the
        kernel wherever it can serve (CPU, the blog's network shape of Linear layers with
        ReLU, StandardScalerExtractor, KerasAdam or plain torch Adam, BlogDQN's one-step or
        n-step memory), else the reference path with one warning naming the reason. True:
        the kernel or a ValueError saying why not. False: always the reference path.
    :param on_nonfinite: what a NaN or infinite observation or reward from the env does.
        ``"raise"``: a ``ValueError`` naming the env and the value, before it is stored.
        ``"skip"``: a warning; every transition whose history, next history or reward is
        non-finite is dropped, and a non-finite history is acted on like a short one (B2:
        random action, no ε change). Either way it never reaches the replay memory, the
        scaler or the weights; ``n_rejected_nonfinite`` counts the dropped transitions.
    :param double_q: not in the blog nor in SB3's DQN (van Hasselt et al., 2016). False
        (default): the TD target bootstraps on ``max_a Q̂(s', a)`` (B10). True: Double DQN,
        on ``Q̂(s', argmax_a Q(s', a))``, the online network choosing the action.
    :param loss: ``"mse"`` (default): B10's Keras ``mse``, mean squared error. ``"huber"``:
        SB3 DQN's ``F.smooth_l1_loss``, quadratic within 1 of the target and linear beyond,
        averaged over the same terms (all actions or the taken one, ``loss_on_all_actions``).
        ``"quantile"``: QR-DQN's (Dabney et al., 2018; sb3-contrib's ``QRDQN``): Q and Q̂ give
        ``policy_kwargs["n_quantiles"]`` quantiles per action (default 200, as sb3-contrib), Q
        is their mean, and the taken action's quantiles are fitted to the TD target's
        ``r + γ θ̂_j(s', a*)``, ``a*`` the greedy next action, by the quantile Huber loss
        (κ = 1, summed over Q's quantiles, averaged over the targets' and the batch). It
        needs ``loss_on_all_actions=False``.
    :param scaler_from_bounds: B4 switch, not in the blog. False (default): the scaler is
        fitted on the warm-up histories. True: every feature whose observation-space bounds
        are finite is scaled by them instead, ``[low, high]`` onto [-1, 1]; unbounded ones
        (CartPole-v1's velocities) keep the warm-up's statistics. For envs whose random play
        stays in a small part of the state space (MountainCar-v0).
    :param standardize_inputs: B4 switch, not in the blog. True (default): the network's input
        layer is the StandardScaler fitted on the warm-up histories. False: it stays the
        identity, so the network sees the histories as the env gives them (as SB3's DQN does);
        the layer is kept, so the fused kernel serves it, and the warm-up (B6) is then only the
        memory's first ``max(learning_starts, batch_size)`` transitions of random play.
    :param skip_short_histories: B2 switch. True (default, the blog): on the first
        ``history_length - 1`` steps of each episode the history is not full; the agent acts
        randomly, ε stays and nothing is stored or replayed. False: those steps act ε-greedily
        on the ``VecHistory``'s padded histories (B3, the ones a deployed agent starts from)
        and are stored and replayed like any other, as SB3's DQN on a ``VecHistory`` env.
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
        replay_buffer_kwargs = dict(replay_buffer_kwargs or {})
        # check_env-style: every problem of the sizes, the spaces and the wrappers, in one error.
        problems = hyperparameter_problems(
            buffer_size, learning_starts, batch_size, target_update_interval, exploration_decisions, gamma,
            exploration_initial_eps, exploration_final_eps, exploration_fraction, on_nonfinite, loss,
        )
        problems += sb3_argument_problems(
            tau, gradient_steps, replay_buffer_class, replay_buffer_kwargs, handle_timeout_termination,
            optimize_memory_usage, n_steps, max_grad_norm,
        )
        problems += quantile_loss_problems(loss, loss_on_all_actions, policy_kwargs)
        problems += scaler_problems(standardize_inputs, scaler_from_bounds)
        if env is None:
            history_length = BLOG_HISTORY_LENGTH if history_length is None else history_length
            problems += history_length_problems(history_length)
        else:
            try:
                env = wrap_blog_env(env, history_length, verbose)
                history = env_history(env)
                history_length = history.history_length
                # The states the history is made of, for predict() on the unwrapped env's states.
                self.state_space = history.state_space
            except SetupError as error:
                problems += error.problems
            else:
                problems += n_step_problems(n_steps, replay_buffer_class, env.num_envs)
        raise_problems(problems)
        if handle_timeout_termination is None:  # SB3's way to set it, else the blog's B14
            handle_timeout_termination = replay_buffer_kwargs.get("handle_timeout_termination", False)
        replay_buffer_kwargs["handle_timeout_termination"] = handle_timeout_termination
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction,  # type: ignore[arg-type]
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            max_grad_norm=max_grad_norm,
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
        self.double_q = double_q
        self.loss = loss
        if loss == "quantile":  # the policy's quantile head (QRDQN's n_quantiles, a policy kwarg there too)
            self.policy_kwargs = {"n_quantiles": QRDQN_N_QUANTILES, **self.policy_kwargs}
        self.scaler_from_bounds = scaler_from_bounds
        self.standardize_inputs = standardize_inputs
        self.skip_short_histories = skip_short_histories
        self._kernel: ReplayKernel | None = None  # bound lazily to the policy's tensors, never saved

        # The learned agent's state beyond the weights; all of it is saved with the model.
        self.exploration_rate = exploration_initial_eps
        self._n_exploration_decisions = 0  # B8 counts decisions, across learn() calls
        self._warmup_done = False  # B4: the scaler is fitted once per model, by the first warm-up
        n_envs = self.n_envs if env is not None else 1  # BaseAlgorithm sets n_envs only with an env
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
            raise_problems(batch_of_one_problems(self.policy))
        self._kernel = None
        self._kernel_fallback_reason = self._check_kernel()

    def _make_replay_buffer(self) -> ReplayBuffer:
        kwargs = dict(self.replay_buffer_kwargs)
        buffer_class = self.replay_buffer_class
        if buffer_class is None:
            buffer_class = HistoryReplayBuffer
            if self.n_steps > 1:
                buffer_class = NStepHistoryReplayBuffer
                kwargs.update(n_steps=self.n_steps, gamma=self.gamma)
        return buffer_class(
            self.buffer_size,
            self.observation_space,
            self.action_space,
            device=self.device,
            n_envs=1,
            optimize_memory_usage=self.optimize_memory_usage,
            **kwargs,
        )

    @property
    def replays_in_step(self) -> bool:
        """The blog's schedule (B11, B13): ``train_freq=1``, ``gradient_steps=-1``; else SB3's."""
        return self.gradient_steps == -1 and self.train_freq == TrainFreq(1, TrainFrequencyUnit.STEP)

    @property
    def warmup_size(self) -> int:
        """Transitions the warm-up stores (B6): ``learning_starts``, and at least one minibatch (B7)."""
        return max(self.learning_starts, self.batch_size)

    @property
    def warming_up(self) -> bool:
        """Whether the next env step is random warm-up play (B6): fewer than ``warmup_size`` stored."""
        return self.replay_buffer is None or self.replay_buffer.size() < self.warmup_size

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
        if self.warming_up:
            full_history = np.zeros(n_envs, dtype=bool)  # B6: random play, no ε change
        else:
            full_history = self._stores_step()
            if self.on_nonfinite == "skip":  # with "raise", a NaN/inf history raises before it is stored
                # A history holding NaN/inf is acted on like a short one.
                full_history &= np.isfinite(self._last_obs).all(axis=1)
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

    # ------------------------------------------------- one env step: store, replay, copy

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
        full-history transitions (B2, B5, B14); during the warm-up, only until it is complete
        (B6), then fit the scaler and start learning episodes from a fresh reset; while
        learning, one replay per stored transition (B11) and then the target copy (B13).
        """
        warming_up = self.warming_up
        # On episode end new_obs[i] is already the next episode's; VecHistory put the
        # terminal history in infos (B5).
        next_observations = [infos[i]["terminal_observation"] if dones[i] else new_obs[i] for i in range(len(dones))]
        finite = self._finite_transitions(next_observations, reward)
        stored = np.flatnonzero(self._stores_step() & finite)
        if warming_up:
            stored = stored[: self.warmup_size - replay_buffer.size()]  # B6 stops at the 32nd, mid-episode
        for i in stored:
            replay_buffer.add(
                self._last_obs[i : i + 1],  # type: ignore[index]
                next_observations[i][None],
                buffer_action[i : i + 1],
                reward[i : i + 1],
                dones[i : i + 1],  # B14: a time-limit cut is terminal unless handle_timeout_termination
                [infos[i]],
            )
        self._last_obs = new_obs
        if warming_up:
            self._advance_episode_steps(dones)
            if not self.warming_up:
                self._end_warm_up()
            return
        if self.replays_in_step and len(stored) > 0:
            self.train(gradient_steps=len(stored), batch_size=self.batch_size)
        if self.target_update_on_episode_step and np.any(self._episode_steps % self.target_update_interval == 0):
            self._update_target()
        self._advance_episode_steps(dones)

    def _end_warm_up(self) -> None:
        """
        B6's end: fit the scaler on the warm-up histories (B4, once per model: a memory
        refilled after ``load()`` keeps the saved scaler; ``scaler_from_bounds`` takes the
        bounded features' statistics from the space; ``standardize_inputs=False`` fits none),
        then start the learning episodes from a fresh reset. The episodes cut here report no
        end to Monitor or callbacks.
        """
        if not self._warmup_done and self.standardize_inputs:
            space = self.observation_space
            bounds = (space.low, space.high) if self.scaler_from_bounds else None  # type: ignore[attr-defined]
            self.policy.fit_scaler(self.replay_buffer.observations[: self.warmup_size, 0], bounds)
        self._warmup_done = True
        self._last_obs = self.env.reset()  # type: ignore[assignment,union-attr]
        self._last_episode_starts = np.ones(self.n_envs, dtype=bool)
        self._episode_steps[:] = 0

    def _finite_transitions(self, next_observations: list[np.ndarray], rewards: np.ndarray) -> np.ndarray:
        """Per env, whether the step's history, next history and reward are finite (``on_nonfinite``)."""
        # The common case, on the per-step path: one sum, which NaN and inf (and an overflow,
        # for which the per-env checks below then find nothing wrong) make non-finite.
        total = self._last_obs.sum() + sum(obs.sum() for obs in next_observations) + rewards.sum()  # type: ignore[union-attr]
        if np.isfinite(total):
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
        n_rejected = int(np.sum(~finite & self._stores_step()))
        if n_rejected:
            self.n_rejected_nonfinite += n_rejected
            warnings.warn(
                "on_nonfinite='skip': the env gave a non-finite history, next observation or reward; the "
                "transitions holding it are dropped (n_rejected_nonfinite counts them).",
                RuntimeWarning,
                stacklevel=2,
            )
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
        if self.replays_in_step:
            # SB3's loop then runs gradient_steps=-1 replays per collected env step: none are
            # left, each stored transition had its replay inside its step (B11).
            return rollout._replace(episode_timesteps=0)
        return rollout

    def _on_step(self) -> None:
        """SB3's hook after each env step: the standard-DQN target update (B13 switch) and ε's log."""
        self._n_calls += 1
        sb3_period = max(self.target_update_interval // self.n_envs, 1)
        if not self.target_update_on_episode_step and not self.warming_up and self._n_calls % sb3_period == 0:
            self._update_target()
        if self.exploration_fraction is not None:
            self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

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
            super().learn(
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
        if self.warming_up:
            warnings.warn(self._unfinished_warm_up_message(), stacklevel=2)
        return self

    def _unfinished_warm_up_message(self) -> str:
        stored = self.replay_buffer.size()
        message = (
            f"learn() ended after {self.num_timesteps} env steps still in the warm-up (B6): {stored} of "
            f"{self.warmup_size} full-history transitions are stored, so nothing was learned yet. "
        )
        lengths = [info["l"] for info in self.ep_info_buffer or []]
        if lengths and max(lengths) < self.history_length and self.skip_short_histories:
            return message + (
                f"The env's episodes last at most {max(lengths)} steps, fewer than history_length={self.history_length}: "
                f"a transition is stored only once the history is full (B2), so none ever will be. Use a smaller "
                "history_length or an env with longer episodes."
            )
        return message + "Call learn() again to continue (the warm-up goes on), or lower learning_starts."

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
        :func:`make_blog_env` returns them, or on states of the unwrapped env: then the
        history travels in ``state`` the way recurrent policies keep theirs, padded with the
        state at an episode start (``state=None`` or ``episode_start``, B3) and shifted by one
        state per call (B1). ``evaluate_policy`` threads both, so it runs on unwrapped envs too.
        """
        if not self._holds_states(observation):
            return super().predict(observation, state, episode_start, deterministic)  # type: ignore[arg-type]
        state_space = self.state_space
        vectorized = np.shape(observation) != state_space.shape
        states = encode_states(np.asarray(observation).reshape(-1, *state_space.shape), state_space)
        history = np.repeat(states[:, None], self.history_length, axis=1)
        if state is not None:
            history[:, :-1] = np.asarray(state[0])[:, 1:]
            if episode_start is not None:
                starts = np.asarray(episode_start, dtype=bool).reshape(-1)
                history[starts] = states[starts, None]
        histories = history.reshape(len(states), -1).astype(self.observation_space.dtype, copy=False)
        actions, _ = super().predict(histories if vectorized else histories[0], None, None, deterministic)
        return actions, (history,)

    def _holds_states(self, observation: Any) -> bool:
        """Whether ``observation`` is one state or a batch of states of the unwrapped env, not histories."""
        state_space = getattr(self, "state_space", None)  # None: a model saved before it was recorded
        if state_space is None or self.history_length == 1 or isinstance(observation, dict):
            return False
        if not isinstance(state_space, spaces.Box) and np.asarray(observation).dtype.kind == "f":
            return False  # encoded histories are floats, Discrete-like states integers
        shape = np.shape(observation)
        return shape in (state_space.shape, shape[:1] + state_space.shape)

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
            # The model is then built on it with history_length=None: the env's length.
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
