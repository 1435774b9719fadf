"""
The blog's rules B1-B16 (BLOG_SEMANTICS.md) as a specification: each test is named after
the rule it checks and fails when an implementation breaks that rule.

Most tests run BlogDQN on :class:`CounterEnv`, whose observation is the within-episode
step counter, so every history, transition and score is known exactly. Warm-up and
minibatch sizes are kept small where the rule does not depend on them (the rules hold
for any size), so that the whole file runs in seconds. Tests that count optimizer steps
or read gradients instrument the plain-torch reference path; the end-to-end replay test
(hand-computed targets, loss and Keras Adam) runs on both the default and the reference path.
"""

import inspect
import itertools
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from sb3_blogdqn import BlogDQN, KerasAdam, StopTrainingOnMaxLearningEpisodes, VecHistory, make_blog_env
from sb3_blogdqn.common.buffers import _partial_fisher_yates, sample_without_replacement

HISTORY = 4  # the blog's agent_hist_len
SHORT = HISTORY - 1  # B2: steps 0..2 of every episode have a short history
CONSTANT = 5.0  # CounterEnv's constant feature (zero std, B4)
EPS_DECAY = (1.0 - 1e-4) / 1000  # B8 with the blog's defaults
SMALL = dict(learning_starts=4, batch_size=4, seed=0)  # a small warm-up and minibatch, rules unchanged


# ----------------------------------------------------------------------------- helpers


class CounterEnv(gym.Env):
    """
    A state is ``[t, episode, 5]``: the within-episode step index, the episode number
    (from 0, counting every reset) and a constant. Step ``t`` (0-based) pays ``t + 1``.
    The episode terminates after ``terminate_at`` steps (if given); wrap the env in a
    ``TimeLimit`` for truncation. ``steps`` records ``(episode, t, action)`` of each step.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(self, n_actions: int = 2, terminate_at: int | None = 10) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = spaces.Discrete(n_actions)
        self.terminate_at = terminate_at
        self.episode = -1
        self.t = 0
        self.steps: list[tuple[int, int, int]] = []

    def state(self, episode: int, t: int) -> np.ndarray:
        return np.array([t, episode, CONSTANT], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self.state(self.episode, 0), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps.append((self.episode, self.t, int(action)))
        reward = float(self.t + 1)
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        return self.state(self.episode, self.t), reward, terminated, False, {}

    def history(self, episode: int, t: int) -> np.ndarray:
        """The raw full history at step ``t``, oldest state first (B1)."""
        return np.concatenate([self.state(episode, i) for i in range(t - SHORT, t + 1)])


def reference_path() -> dict[str, Any]:
    """Constructor kwargs selecting the plain-torch path, whose optimizer and sampling we instrument."""
    return {"use_kernel": False} if "use_kernel" in inspect.signature(BlogDQN.__init__).parameters else {}


def linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def mlp_numpy(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """The net's dense layers by hand (ReLU between, linear output), on already standardized input."""
    layers = linears(net)
    for i, layer in enumerate(layers):
        x = x @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def flat_params(net: nn.Module) -> th.Tensor:
    return th.cat([p.detach().flatten() for p in net.parameters()]).clone()


def nets_equal(model: BlogDQN) -> bool:
    return bool(th.equal(flat_params(model.q_net), flat_params(model.q_net_target)))


def favour(net: nn.Module, action: int) -> None:
    """Make ``action`` the network's argmax for every (standardized) input, in place."""
    with th.no_grad():
        linears(net)[-1].bias[action] += 1e3


class LearningStepCallback(BaseCallback):
    """Counts the learning steps: callbacks see the warm-up's steps too (B6), as SB3's ``learning_starts``."""

    model: BlogDQN  # follows a BlogDQN: typed so that its own attributes (warming_up, q_net, ...) check

    def __init__(self) -> None:
        super().__init__()
        self.n_learning_steps = 0

    def _on_step(self) -> bool:
        # Callbacks run before the step's transition is stored: warming_up is the step's phase.
        if self.model.warming_up:
            return True
        self.n_learning_steps += 1
        return self._on_learning_step()

    def _on_learning_step(self) -> bool:
        return True


class StopAfter(LearningStepCallback):
    """Lets exactly ``n_steps`` learning steps complete (the next one is chosen, then stopped)."""

    def __init__(self, n_steps: int) -> None:
        super().__init__()
        self.n_steps = n_steps

    def _on_learning_step(self) -> bool:
        return self.n_learning_steps <= self.n_steps


class FirstStep(LearningStepCallback):
    """Records what the first learning step a callback sees looks like, and the learning episodes it sees."""

    def __init__(self, counter: CounterEnv) -> None:
        super().__init__()
        self.counter = counter
        self.episodes: list[dict] = []

    def _on_learning_step(self) -> bool:
        if self.n_learning_steps == 1:
            self.n_env_steps_before = len(self.counter.steps) - 1
            self.first_step = self.counter.steps[-1]
            self.first_epsilon = self.model.exploration_rate
        self.episodes += [info["episode"] for info in self.locals["infos"] if "episode" in info]
        return True


class StepProbe:
    """Wraps ``model._on_step``: after each learning step (replay and target copy done), records its effects."""

    def __init__(self, model: BlogDQN, counter: CounterEnv) -> None:
        self.records: list[dict[str, Any]] = []
        self.params_before_learning = flat_params(model.q_net)
        original = model._on_step
        original_sample_action = model._sample_action
        warm_up_step = [True]

        def sample_action(*args, **kwargs):
            warm_up_step[0] = model.warming_up  # the phase of the step about to be taken
            return original_sample_action(*args, **kwargs)

        def on_step() -> None:
            original()
            if warm_up_step[0]:
                return
            episode, t, action = counter.steps[-1]
            self.records.append(dict(
                episode=episode, t=t, action=action, epsilon=model.exploration_rate,
                stored=model.replay_buffer.size(), params=flat_params(model.q_net), target_is_q=nets_equal(model),
                num_timesteps=model.num_timesteps,
            ))

        model._on_step = on_step  # type: ignore[method-assign]
        model._sample_action = sample_action  # type: ignore[method-assign]


def count_optimizer_steps(model: BlogDQN) -> list[int]:
    """Counts ``optimizer.step()`` calls (reference path): returns a list that grows by one per call."""
    calls: list[int] = []
    optimizer = model.policy.optimizer
    original = optimizer.step

    def step(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    optimizer.step = step  # type: ignore[method-assign]
    return calls


def n_warmup_steps(learning_starts: int, episode_length: int = 10) -> int:
    """Env steps of the warm-up on a CounterEnv of fixed episode length (B2, B6)."""
    per_episode = episode_length - SHORT
    full_episodes, rest = divmod(learning_starts, per_episode)
    return full_episodes * episode_length + (SHORT + rest if rest else 0)


def learning_steps(counter: CounterEnv, learning_starts: int) -> list[tuple[int, int, int]]:
    """The ``(episode, t, action)`` of the steps after the warm-up (episodes of 10 steps)."""
    return counter.steps[n_warmup_steps(learning_starts):]


# ----------------------------------------------------------------------------- B1 history


def test_b1_history_is_last_four_states_oldest_first():
    counter = CounterEnv(terminate_at=None)
    venv = VecHistory(DummyVecEnv([lambda: counter]), HISTORY)
    venv.reset()
    for t in range(1, 7):
        obs, _, _, _ = venv.step(np.array([0]))
        expected = np.concatenate([counter.state(0, max(i, 0)) for i in range(t - SHORT, t + 1)])
        np.testing.assert_array_equal(obs[0], expected)
    assert venv.observation_space.shape == (HISTORY * 3,)


def test_b1_blogdqn_wraps_a_plain_env_in_a_four_state_history():
    model = BlogDQN("MlpPolicy", CounterEnv(), **SMALL)
    assert model.observation_space.shape == (HISTORY * 3,)
    assert linears(model.q_net)[0].in_features == HISTORY * 3


# ----------------------------------------------------------------------------- B2 short history


def test_b2_no_epsilon_change_storage_or_replay_on_first_three_steps():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, **SMALL)
    probe = StepProbe(model, counter)
    model.learn(10**6, callback=StopAfter(25))

    assert len(probe.records) == 25
    epsilon, stored, params = 1.0, SMALL["learning_starts"], probe.params_before_learning
    for record in probe.records:
        full = record["t"] >= SHORT
        assert record["stored"] - stored == int(full), record
        assert record["epsilon"] == pytest.approx(epsilon - EPS_DECAY * full, abs=1e-12), record
        assert (not th.equal(record["params"], params)) == full, record  # a replay changes Q
        epsilon, stored, params = record["epsilon"], record["stored"], record["params"]
    # The B2 steps are part of the episode: steps 0..9 each episode, not 3..12.
    assert [r["t"] for r in probe.records[:12]] == [*range(10), 0, 1]


def test_b2_short_history_actions_are_uniformly_random():
    counter = CounterEnv(n_actions=8, terminate_at=10)
    # ε = 0 and a Q whose argmax is always 5: full-history steps are greedy, B2 steps random.
    model = BlogDQN("MlpPolicy", counter, learning_rate=0.0, exploration_initial_eps=0.0, exploration_final_eps=0.0,
                    **SMALL)
    favour(model.q_net, 5)
    model.learn(10**6, callback=StopAfter(60))
    steps = learning_steps(counter, SMALL["learning_starts"])
    assert {a for _, t, a in steps if t >= SHORT} == {5}
    short_actions = [a for _, t, a in steps if t < SHORT]
    assert len(short_actions) >= 18 and len(set(short_actions)) >= 4


def test_b2_switch_skip_short_histories_off_acts_on_and_stores_the_padded_histories(tmp_path):
    counter = CounterEnv(n_actions=8, terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, skip_short_histories=False, **SMALL)
    assert BlogDQN("MlpPolicy", counter).skip_short_histories  # the blog's B2 by default
    probe = StepProbe(model, counter)
    model.learn(10**6, callback=StopAfter(25))
    # Every step, the first three of each episode too, is a decision, a stored transition and a replay.
    epsilon, stored, params = 1.0, SMALL["learning_starts"], probe.params_before_learning
    for record in probe.records:
        assert record["stored"] - stored == 1, record
        assert record["epsilon"] == pytest.approx(epsilon - EPS_DECAY, abs=1e-12), record
        assert not th.equal(record["params"], params), record
        epsilon, stored, params = record["epsilon"], record["stored"], record["params"]
    assert [r["t"] for r in probe.records[:12]] == [*range(10), 0, 1]
    # The warm-up stored from step 0 on: its first transition starts from the padded history (B3).
    memory = model.replay_buffer
    np.testing.assert_array_equal(memory.observations[0, 0], np.tile(counter.state(0, 0), HISTORY))

    # ε = 0 and a Q whose argmax is always 5: the padded-history steps are greedy too.
    greedy = BlogDQN("MlpPolicy", CounterEnv(n_actions=8, terminate_at=10), learning_rate=0.0,
                     exploration_initial_eps=0.0, exploration_final_eps=0.0, skip_short_histories=False, **SMALL)
    favour(greedy.q_net, 5)
    greedy.learn(10**6, callback=StopAfter(30))
    counter = greedy.env.envs[0].unwrapped
    assert {a for _, _, a in counter.steps[SMALL["learning_starts"]:]} == {5}
    greedy.save(tmp_path / "model.zip")
    assert BlogDQN.load(tmp_path / "model.zip").skip_short_histories is False


# ----------------------------------------------------------------------------- B3 padded history


def test_b3_history_padded_with_first_state_at_reset_and_after_done():
    counter = CounterEnv(terminate_at=3)
    venv = VecHistory(DummyVecEnv([lambda: counter]), HISTORY)
    np.testing.assert_array_equal(venv.reset()[0], np.tile(counter.state(0, 0), HISTORY))
    for _ in range(2):
        venv.step(np.array([0]))
    obs, _, dones, infos = venv.step(np.array([0]))
    assert dones[0]
    np.testing.assert_array_equal(obs[0], np.tile(counter.state(1, 0), HISTORY))
    # The terminal history is the real one, not padded (B5).
    np.testing.assert_array_equal(infos[0]["terminal_observation"], counter.history(0, 3))

    cartpole = make_blog_env("CartPole-v1", seed=0)
    first = cartpole.reset()[0]
    np.testing.assert_array_equal(first, np.tile(first[:4], HISTORY))


def test_b3_acts_greedily_from_step_zero_on_the_padded_history():
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.learn(60)
    env = make_blog_env("CartPole-v1", seed=3)
    obs = env.reset()
    with th.no_grad():
        greedy = model.q_net(th.as_tensor(obs)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], greedy)


# ----------------------------------------------------------------------------- B4 scaler


def _check_standardized_inputs(model: BlogDQN, mean: np.ndarray, std: np.ndarray) -> None:
    """Q, Q̂ and predict() all see ``(x - mean) / std`` of the raw history."""
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(6, mean.size)).astype(np.float32)
    z = (x - mean) / std
    with th.no_grad():
        np.testing.assert_allclose(model.q_net(th.as_tensor(x)).numpy(), mlp_numpy(model.q_net, z), atol=1e-4)
        np.testing.assert_allclose(model.q_net_target(th.as_tensor(x)).numpy(), mlp_numpy(model.q_net_target, z),
                                   atol=1e-4)
    np.testing.assert_array_equal(model.predict(x, deterministic=True)[0], mlp_numpy(model.q_net, z).argmax(axis=1))


def test_b4_scaler_fitted_once_on_exactly_the_warmup_histories():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, learning_starts=32, batch_size=4, seed=0)
    model.learn(10**6, callback=StopAfter(15))

    warmup = counter.steps[: n_warmup_steps(32)]
    histories = np.array([counter.history(e, t) for e, t, _ in warmup if t >= SHORT], dtype=np.float64)
    assert len(histories) == 32
    mean, std = histories.mean(axis=0), histories.std(axis=0)  # population std, as scikit-learn
    assert np.all(std[2::3] == 0)  # the constant feature...
    std[std == 0] = 1.0  # ...is scaled by 1, not turned into NaN
    _check_standardized_inputs(model, mean, std)

    # Frozen: more learning, and a second learn() call, leave it unchanged.
    model.learn(10**6, callback=StopAfter(10), reset_num_timesteps=False)
    model.learn(10**6, callback=StopAfter(5))
    _check_standardized_inputs(model, mean, std)


def test_b4_switch_scaler_from_bounds_maps_the_spaces_bounds_onto_minus_one_to_one():
    """Not the blog's: MountainCar-v0's states are all bounded, so no statistic comes from the warm-up."""
    model = BlogDQN("MlpPolicy", "MountainCar-v0", scaler_from_bounds=True, seed=0)
    assert model.scaler_from_bounds and not BlogDQN("MlpPolicy", "MountainCar-v0").scaler_from_bounds
    model.learn(100)  # past the warm-up (B6), where the scaler is fitted (B4)
    low, high = model.observation_space.low, model.observation_space.high  # B1's history of 4 states
    extractor = model.policy.scaler
    for bound, expected in ((low, -1.0), (high, 1.0)):
        scaled = extractor(th.as_tensor(bound[None])).numpy()
        np.testing.assert_allclose(scaled, np.full_like(scaled, expected), atol=1e-6)
    assert extractor.n_samples_seen == 32  # fitted at the warm-up's end, as without the switch


def test_b4_switch_standardize_inputs_off_leaves_the_histories_unscaled(tmp_path):
    """Not the blog's: the input layer stays the identity past the warm-up, through save and load."""
    # use_kernel=True: the identity layer is still the scaler the fused kernel reads (or this raises).
    model = BlogDQN("MlpPolicy", "MountainCar-v0", standardize_inputs=False, use_kernel=True, seed=0)
    assert not model.standardize_inputs and BlogDQN("MlpPolicy", "MountainCar-v0").standardize_inputs
    model.learn(100)  # past the warm-up (B6), where the scaler would be fitted (B4)
    assert model._warmup_done and not model.policy.scaler.fitted
    histories = th.as_tensor(model.replay_buffer.observations[:32, 0])
    for q_net in (model.q_net, model.q_net_target):
        assert th.equal(q_net.features_extractor(histories), histories)
    model.save(tmp_path / "model.zip")  # a done warm-up with an unfitted scaler is consistent here
    loaded = BlogDQN.load(tmp_path / "model.zip")
    assert not loaded.standardize_inputs and th.equal(loaded.q_net.features_extractor(histories), histories)
    with pytest.raises(ValueError, match=r"scaler_from_bounds=True .* standardize_inputs=False"):
        BlogDQN("MlpPolicy", "MountainCar-v0", standardize_inputs=False, scaler_from_bounds=True)


def test_b4_replay_memory_holds_raw_histories():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, **SMALL)
    model.learn(10**6, callback=StopAfter(10))
    stored = model.replay_buffer.observations[: model.replay_buffer.size(), 0]
    assert np.all(stored[:, 2::3] == CONSTANT)  # unscaled: a standardized constant would be 0
    assert set(np.unique(stored[:, 0::3])) <= set(range(10))


# ----------------------------------------------------------------------------- B5 memory


def test_b5_stores_history_action_reward_next_history_done_in_order():
    counter = CounterEnv(n_actions=3, terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, **SMALL)
    model.learn(10**6, callback=StopAfter(25))
    # Every full-history step is stored, in order, except the one the callback stopped.
    full_steps = [(e, t, a) for e, t, a in counter.steps[:-1] if t >= SHORT]
    buffer = model.replay_buffer
    assert buffer.size() == len(full_steps)
    for row, (episode, t, action) in enumerate(full_steps):
        history = counter.history(episode, t)
        np.testing.assert_array_equal(buffer.observations[row, 0], history)
        # The next history is the history shifted by one state plus the next state.
        np.testing.assert_array_equal(buffer.next_observations[row, 0],
                                      np.concatenate([history[3:], counter.state(episode, t + 1)]))
        assert buffer.actions[row, 0, 0] == action
        assert buffer.rewards[row, 0] == t + 1
        assert buffer.dones[row, 0] == float(t + 1 == 10)


def test_b5_memory_is_a_fifo_of_2000_transitions():
    model = BlogDQN("MlpPolicy", CounterEnv(), seed=0)
    buffer = model.replay_buffer
    assert buffer.buffer_size == 2000
    for i in range(2003):
        obs = np.full((1, 12), i, dtype=np.float32)
        buffer.add(obs, obs + 1, np.array([[0]]), np.array([0.0]), np.array([False]), [{}])
    assert buffer.size() == 2000
    kept = buffer.sample(2000).observations[:, 0].numpy()
    assert sorted(kept.astype(int).tolist()) == list(range(3, 2003))  # the 3 oldest are gone


# ----------------------------------------------------------------------------- B6 warm-up


def test_b6_warmup_stops_at_32_stored_midepisode_and_learning_starts_from_fresh_reset():
    counter = CounterEnv(n_actions=4, terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, learning_starts=32, batch_size=4, seed=0)
    favour(model.q_net, 3)  # a greedy warm-up would always pick 3
    params = flat_params(model.q_net)
    seen = FirstStep(counter)
    model.learn(10**6, callback=[seen, StopTrainingOnMaxLearningEpisodes(2)])

    # 4 episodes of 7 full-history transitions, then 4 more in the 5th: it stops at its step 6.
    warmup = counter.steps[: seen.n_env_steps_before]
    assert len(warmup) == 4 * 10 + 7
    assert sum(t >= SHORT for _, t, _ in warmup) == 32
    assert warmup[-1][:2] == (4, 6)
    assert len({a for _, _, a in warmup}) >= 3  # uniform random, not greedy
    # Learning starts from a fresh reset, at step 0 of a new episode, with ε untouched and Q untrained.
    assert seen.first_step[:2] == (5, 0)
    assert seen.first_epsilon == 1.0
    # Callbacks see every env step, as SB3's learning_starts; the learning episodes (B15) are
    # counted after the warm-up: exactly 2 of them, 20 steps.
    assert seen.n_calls == len(counter.steps) == len(warmup) + 20
    assert seen.n_learning_steps == 20
    assert len(seen.episodes) == 2
    assert not th.equal(flat_params(model.q_net), params)
    # The warm-up transitions stay in memory for learning.
    rows = model.replay_buffer.observations[:32, 0]
    expected = [counter.history(e, t) for e, t, _ in warmup if t >= SHORT]
    np.testing.assert_array_equal(rows, np.array(expected))
    assert model.replay_buffer.size() > 32


@pytest.mark.parametrize("reference", [False, True], ids=["default_path", "reference_path"])
def test_b6_adam_state_lives_for_the_whole_run(reference):
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, **SMALL, **(reference_path() if reference else {}))
    optimizer = model.policy.optimizer
    probe = StepProbe(model, counter)
    model.learn(10**6, callback=StopAfter(12))
    model.learn(10**6, callback=StopAfter(12))
    assert model.policy.optimizer is optimizer
    n_replays = sum(r["t"] >= SHORT for r in probe.records)
    first = next(iter(model.q_net.parameters()))
    assert float(optimizer.state[first]["step"]) == n_replays * SMALL["batch_size"]


# ----------------------------------------------------------------------------- B7 sampling


def test_b7_minibatch_drawn_uniformly_without_replacement():
    model = BlogDQN("MlpPolicy", CounterEnv(), seed=0)
    buffer = model.replay_buffer
    for i in range(40):
        obs = np.full((1, 12), i, dtype=np.float32)
        buffer.add(obs, obs, np.array([[0]]), np.array([0.0]), np.array([False]), [{}])
    counts = np.zeros(40)
    for _ in range(300):
        drawn = buffer.sample(32).observations[:, 0].numpy().astype(int)
        assert len(set(drawn.tolist())) == 32  # with replacement, a repeat is almost certain
        counts[drawn] += 1
    assert np.all(np.abs(counts - 300 * 32 / 40) < 40)  # about 6 standard deviations
    assert sorted(buffer.sample(40).observations[:, 0].numpy().astype(int).tolist()) == list(range(40))
    with pytest.raises(ValueError, match="without replacement"):
        buffer.sample(41)


def test_b7_sampler_maps_uniform_offsets_one_to_one_onto_ordered_minibatches():
    """
    Exactness: step t of the partial Fisher-Yates shuffle takes an offset in [0, n - t);
    every combination of offsets gives a different ordered minibatch of distinct rows, and
    there are as many combinations as ordered minibatches. So exactly uniform offsets give
    exactly uniform minibatches, as Python's random.sample draws them.
    """
    n, k = 6, 3
    seen = set()
    for offsets in itertools.product(*(range(n - t) for t in range(k))):
        out = np.empty(k, dtype=np.int64)
        assert _partial_fisher_yates(n, np.array(offsets) / 2**53, out)  # a draw of b / 2**53 gives offset b
        seen.add(tuple(out.tolist()))
    assert seen == set(itertools.permutations(range(n), k))


def test_b7_sampler_rejects_the_top_draws_that_would_bias_it():
    # 2**53 = 3 * q + 2: the two largest 53-bit draws would favour offsets 0 and 1 of range(3).
    out = np.empty(1, dtype=np.int64)
    assert not _partial_fisher_yates(3, np.array([1 - 2**-53]), out)  # rejected, and no draw left
    assert _partial_fisher_yates(3, np.array([1 - 2**-53, 0.5]), out)  # the next draw is used
    assert out[0] == 2**52 % 3


def test_b7_sampler_frequencies_are_uniform():
    np.random.seed(0)
    n, k, n_draws = 50, 10, 20_000
    first, anywhere = np.zeros(n), np.zeros(n)
    for _ in range(n_draws):
        drawn = sample_without_replacement(n, k)
        assert len(set(drawn.tolist())) == k and drawn.min() >= 0 and drawn.max() < n
        first[drawn[0]] += 1
        anywhere[drawn] += 1
    # Pearson's statistic over 50 cells has mean 49 and standard deviation about 10 under
    # uniformity; 100 leaves 5 standard deviations. (Counts over whole minibatches vary less
    # than a multinomial's, which only makes the bound looser.)
    for counts in (first, anywhere):
        expected = counts.sum() / n
        assert np.sum((counts - expected) ** 2 / expected) < 100


# ----------------------------------------------------------------------------- B8 ε schedule


def test_b8_epsilon_decrements_per_full_history_choice():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, **SMALL)
    probe = StepProbe(model, counter)
    # A huge total_timesteps: ε must not depend on the length of the run, only on the decisions.
    model.learn(10**6, callback=StopAfter(25))
    n_decisions = sum(t >= SHORT for _, t, _ in learning_steps(counter, 4))  # incl. the stopped one
    assert model.exploration_rate == pytest.approx(1.0 - n_decisions * EPS_DECAY, abs=1e-12)
    for previous, record in zip(probe.records, probe.records[1:], strict=False):
        expected = previous["epsilon"] - EPS_DECAY * (record["t"] >= SHORT)
        assert record["epsilon"] == pytest.approx(expected, abs=1e-12)

    # A new learn() call continues the count.
    n_before = len(counter.steps)
    model.learn(10**6, callback=StopAfter(12))
    n_decisions += sum(t >= SHORT for _, t, _ in counter.steps[n_before:])
    assert model.exploration_rate == pytest.approx(1.0 - n_decisions * EPS_DECAY, abs=1e-12)


def test_b8_epsilon_reaches_floor_after_exploration_decisions():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, exploration_decisions=10, **SMALL)
    probe = StepProbe(model, counter)
    model.learn(10**6, callback=StopAfter(25))
    decay = (1.0 - 1e-4) / 10
    n_decisions = 0
    for record in probe.records:
        n_decisions += record["t"] >= SHORT
        assert record["epsilon"] == pytest.approx(max(1.0 - n_decisions * decay, 1e-4), abs=1e-12)
    assert n_decisions > 10 and model.exploration_rate == 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_b8_epsilon_decremented_before_the_random_draw(seed):
    # With one decision to the floor ε = 0, the very first full-history choice is already greedy.
    counter = CounterEnv(n_actions=64, terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, learning_rate=0.0, exploration_decisions=1, exploration_final_eps=0.0,
                    learning_starts=4, batch_size=4, seed=seed)
    favour(model.q_net, 7)
    model.learn(10**6, callback=StopAfter(4))
    first_choice = next(a for _, t, a in learning_steps(counter, 4) if t >= SHORT)
    assert first_choice == 7


def test_b8_switch_exploration_fraction_gives_sb3_linear_schedule():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, exploration_fraction=0.5, exploration_final_eps=0.1, **SMALL)
    probe = StepProbe(model, counter)
    model.learn(100, callback=StopAfter(30))
    schedule = LinearSchedule(1.0, 0.1, 0.5)
    for record in probe.records:
        assert record["epsilon"] == pytest.approx(schedule(1.0 - record["num_timesteps"] / 100), abs=1e-9)
    assert probe.records[-1]["epsilon"] < 0.5  # the blog's per-decision ε would still be about 0.98


# ----------------------------------------------------------------------------- B9 behaviour network


@pytest.mark.parametrize("act_with_target", [False, True])
def test_b9_epsilon_greedy_acts_with_the_online_network(act_with_target):
    counter = CounterEnv(n_actions=4, terminate_at=10)
    # ε = 0, no learning and no target copy: Q prefers action 1, Q̂ action 2.
    model = BlogDQN("MlpPolicy", counter, learning_rate=0.0, exploration_initial_eps=0.0, exploration_final_eps=0.0,
                    target_update_on_episode_step=False, target_update_interval=10**6, act_with_target=act_with_target,
                    **SMALL)
    favour(model.q_net, 1)
    favour(model.q_net_target, 2)
    model.learn(10**6, callback=StopAfter(20))
    assert {a for _, t, a in learning_steps(counter, 4) if t >= SHORT} == {1}


# ----------------------------------------------------------------------------- B10, B11 targets and updates

N_ACTIONS = 3
BATCH = 6
GAMMA = 0.99


def _replay_setup(batch_size: int = BATCH, reference: bool = True, **kwargs: Any) -> tuple[BlogDQN, dict[str, Any]]:
    """
    A model whose memory holds exactly ``batch_size`` known transitions (so one replay
    draws them all), a fitted scaler, a target network different from Q, and the
    expected B10 target vectors computed by hand.
    """
    model = BlogDQN("MlpPolicy", CounterEnv(n_actions=N_ACTIONS), learning_starts=batch_size, batch_size=batch_size,
                    gamma=GAMMA, seed=0, **(reference_path() if reference else {}), **kwargs)
    model.set_logger(configure(None, []))
    rng = np.random.default_rng(1)
    data: dict[str, Any] = dict(
        obs=rng.normal(2.0, 3.0, (batch_size, 12)).astype(np.float32),
        next_obs=rng.normal(2.0, 3.0, (batch_size, 12)).astype(np.float32),
        actions=np.arange(batch_size) % N_ACTIONS,
        rewards=rng.normal(size=batch_size).astype(np.float32),
        dones=(np.arange(batch_size) % 3 == 2).astype(np.float32),
    )
    for i in range(batch_size):
        # Every episode end here is a cut by the env's time limit (B14).
        model.replay_buffer.add(data["obs"][i : i + 1], data["next_obs"][i : i + 1], data["actions"][i : i + 1, None],
                                data["rewards"][i : i + 1], data["dones"][i : i + 1],
                                [{"TimeLimit.truncated": bool(data["dones"][i])}])
    model.policy.fit_scaler(data["obs"])
    with th.no_grad():
        for p in model.q_net_target.parameters():
            p.add_(0.3 * th.randn_like(p))
    # Expected targets by hand (B4, B10): Q̂(s) with the taken entry replaced by r + γ max Q̂(s') (r if done).
    mean, std = data["obs"].astype(np.float64).mean(axis=0), data["obs"].astype(np.float64).std(axis=0)
    data["z"] = (data["obs"] - mean) / std
    targets = mlp_numpy(model.q_net_target, data["z"])
    next_values = mlp_numpy(model.q_net_target, (data["next_obs"] - mean) / std).max(axis=1)
    terminal = data["dones"] * (not kwargs.get("handle_timeout_termination", False))  # B14: bootstrap only if switched
    targets[np.arange(batch_size), data["actions"]] = data["rewards"] + GAMMA * (1 - terminal) * next_values
    data["targets"] = targets
    return model, data


def _record_output_gradients(model: BlogDQN, z: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """At each optimizer step: the loss gradient wrt the output bias, and Q's outputs on ``z`` at that moment."""
    records: list[tuple[np.ndarray, np.ndarray]] = []
    optimizer = model.policy.optimizer
    original = optimizer.step
    head = linears(model.q_net)[-1]

    def step(*args, **kwargs):
        records.append((head.bias.grad.double().numpy().copy(), mlp_numpy(model.q_net, z)))
        return original(*args, **kwargs)

    optimizer.step = step  # type: ignore[method-assign]
    return records


def test_b10_b11_each_sample_fitted_alone_toward_target_network_values():
    model, data = _replay_setup()
    records = _record_output_gradients(model, data["z"])
    model.train(gradient_steps=1, batch_size=BATCH)

    # B11: one Adam step per sample. For Keras' mse on a batch of one, d loss / d q_a = 2 (q_a - y_a) / n_actions,
    # so each step's output gradient names the one transition it was fitted on and its full target vector y.
    assert len(records) == BATCH
    fitted = []
    for gradient, q in records:
        matches = [k for k in range(BATCH)
                   if np.allclose(gradient, 2 * (q[k] - data["targets"][k]) / N_ACTIONS, atol=1e-5)]
        assert len(matches) == 1, "the step's gradient is not that of one sample toward the B10 target vector"
        fitted.append(matches[0])
    # B7: the replay drew every transition exactly once.
    assert sorted(fitted) == list(range(BATCH))


def test_b10_untaken_actions_pulled_toward_target_network_outputs():
    model, data = _replay_setup()
    records = _record_output_gradients(model, data["z"])
    model.train(gradient_steps=1, batch_size=BATCH)
    gradient, q = records[0]
    k = next(k for k in range(BATCH) if np.allclose(gradient, 2 * (q[k] - data["targets"][k]) / N_ACTIONS, atol=1e-5))
    untaken = np.arange(N_ACTIONS) != data["actions"][k]
    # The untaken entries move toward Q̂(s), not toward Q(s) (which would give a zero gradient).
    recovered = q[k] - gradient * N_ACTIONS / 2
    np.testing.assert_allclose(recovered[untaken], mlp_numpy(model.q_net_target, data["z"][k : k + 1])[0][untaken],
                               atol=1e-5)
    assert np.all(np.abs(gradient[untaken]) > 1e-4)


def test_b10_switch_loss_on_taken_action_only():
    model, data = _replay_setup(loss_on_all_actions=False)
    records = _record_output_gradients(model, data["z"])
    model.train(gradient_steps=1, batch_size=BATCH)
    assert len(records) == BATCH
    fitted = []
    for gradient, q in records:
        (taken,) = np.flatnonzero(gradient)  # untaken actions get no gradient at all
        matches = [k for k in range(BATCH) if data["actions"][k] == taken
                   and np.isclose(gradient[taken], 2 * (q[k, taken] - data["targets"][k, taken]), atol=1e-5)]
        assert len(matches) == 1
        fitted.append(matches[0])
    assert sorted(fitted) == list(range(BATCH))


def test_b11_switch_per_sample_updates_false_one_step_on_the_batch():
    model, data = _replay_setup(per_sample_updates=False)
    q_before = mlp_numpy(model.q_net, data["z"])
    records = _record_output_gradients(model, data["z"])
    model.train(gradient_steps=1, batch_size=BATCH)
    assert len(records) == 1
    expected = (2 * (q_before - data["targets"]) / (BATCH * N_ACTIONS)).sum(axis=0)
    np.testing.assert_allclose(records[0][0], expected, atol=1e-5)


def _replay_by_hand(initial: list[th.Tensor], data: dict[str, Any], order: tuple[int, ...], loss_on_all_actions: bool,
                    per_sample_updates: bool) -> list[np.ndarray]:
    """Q's parameters after one replay of the transitions in ``order``, by hand in float64 (B10, B11, B12)."""
    params = [p.detach().double().clone().requires_grad_(True) for p in initial]
    m = [th.zeros_like(p) for p in params]
    v = [th.zeros_like(p) for p in params]
    z, targets = th.as_tensor(data["z"]), th.as_tensor(data["targets"])
    actions = th.as_tensor(data["actions"])
    for t, fit in enumerate([[k] for k in order] if per_sample_updates else [list(order)], start=1):
        x = z[fit]
        for i in range(0, len(params), 2):
            x = x @ params[i].T + params[i + 1]
            x = th.relu(x) if i < len(params) - 2 else x
        if loss_on_all_actions:
            loss = ((x - targets[fit]) ** 2).mean()  # Keras' mse: mean over the actions and the batch
        else:
            rows = th.arange(len(fit))
            loss = ((x[rows, actions[fit]] - targets[fit, actions[fit]]) ** 2).mean()
        grads = th.autograd.grad(loss, params)
        with th.no_grad():
            for p, g, m_i, v_i in zip(params, grads, m, v, strict=True):
                m_i.mul_(0.9).add_(0.1 * g)
                v_i.mul_(0.999).add_(0.001 * g * g)
                p.sub_(1e-3 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m_i / (v_i.sqrt() + 1e-7))
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("reference", [False, True], ids=["default_path", "reference_path"])
@pytest.mark.parametrize("switches", [
    {}, dict(loss_on_all_actions=False), dict(per_sample_updates=False),
    dict(loss_on_all_actions=False, per_sample_updates=False), dict(handle_timeout_termination=True),
], ids=["blog", "b10_switch", "b11_switch", "b10_b11_switches", "b14_switch"])
def test_b7_b10_b11_b12_b14_one_replay_matches_hand_computation(reference, switches):
    # Three transitions, minibatch of three: drawn without replacement, a replay fits each once, in some order.
    loss_on_all_actions = switches.get("loss_on_all_actions", True)
    per_sample_updates = switches.get("per_sample_updates", True)
    model, data = _replay_setup(batch_size=3, reference=reference, **switches)
    initial = [p.detach().clone() for p in model.q_net.parameters()]
    model.train(gradient_steps=1, batch_size=3)
    result = [p.detach().double().numpy() for p in model.q_net.parameters()]
    orders = list(itertools.permutations(range(3))) if per_sample_updates else [(0, 1, 2)]
    matching = [order for order in orders
                if all(np.allclose(r, h, rtol=1e-4, atol=1e-6) for r, h in zip(
                    result, _replay_by_hand(initial, data, order, loss_on_all_actions, per_sample_updates), strict=True))]
    assert len(matching) == 1


def test_b11_32_optimizer_steps_of_batch_one_per_learning_step():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, seed=0, **reference_path())  # the blog's 32 and 32
    calls = count_optimizer_steps(model)
    probe = StepProbe(model, counter)
    batch_sizes = []
    forward = model.q_net.forward

    def recording_forward(obs, *args, **kwargs):
        if th.is_grad_enabled():
            batch_sizes.append(obs.shape[0])
        return forward(obs, *args, **kwargs)

    model.q_net.forward = recording_forward  # type: ignore[method-assign]
    n_calls = []
    original = model._store_transition  # where SB3's loop hands BlogDQN the step: store, replay, copy

    def store_transition(*args, **kwargs):
        before, warming_up = len(calls), model.warming_up
        original(*args, **kwargs)
        if not warming_up:
            n_calls.append(len(calls) - before)

    model._store_transition = store_transition  # type: ignore[method-assign]
    model.learn(10**6, callback=StopAfter(12))
    assert n_calls == [32 * (r["t"] >= SHORT) for r in probe.records]
    assert sum(n_calls) == 32 * 7  # steps 3..9 of the first episode
    assert set(batch_sizes) == {1} and len(batch_sizes) == len(calls)


# ----------------------------------------------------------------------------- B12 network and optimizer


def test_b12_network_is_dense_20_20_10_relu_with_linear_output():
    model = BlogDQN("MlpPolicy", CounterEnv(n_actions=3), seed=0)
    for net in (model.q_net, model.q_net_target):
        layers = [m for m in net.modules() if isinstance(m, nn.Linear | nn.ReLU | nn.Tanh | nn.Sigmoid)]
        assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
        assert [(m.in_features, m.out_features) for m in linears(net)] == [(12, 20), (20, 20), (20, 10), (10, 3)]


def test_b12_glorot_uniform_weights_and_zero_biases():
    scaled = []
    for seed in range(3):
        model = BlogDQN("MlpPolicy", CounterEnv(n_actions=3), seed=seed)
        assert nets_equal(model)
        for layer in linears(model.q_net):
            assert th.count_nonzero(layer.bias) == 0
            limit = np.sqrt(6.0 / (layer.in_features + layer.out_features))
            scaled.append(layer.weight.detach().numpy().ravel() / limit)
    u = np.concatenate(scaled)  # should be uniform on [-1, 1]: about 2,600 draws
    assert np.abs(u).max() <= 1.0 + 1e-6  # Glorot-normal or wider inits exceed the limit
    assert np.abs(u).max() > 0.99  # torch's default (Kaiming-uniform, limit 1/sqrt(fan_in)) stays below ~0.7
    assert abs(np.mean(u**2) - 1 / 3) < 0.03  # variance of U(-1, 1), about 5 standard errors
    assert abs(np.mean(u)) < 0.06
    assert abs(np.mean(np.abs(u) < 0.5) - 0.5) < 0.05


def test_b12_switch_glorot_init_off_keeps_torchs_linear_init(tmp_path):
    model = BlogDQN("MlpPolicy", CounterEnv(n_actions=3), policy_kwargs=dict(glorot_init=False), seed=0)
    assert nets_equal(model)
    scaled = []
    for layer in linears(model.q_net):
        bound = 1 / np.sqrt(layer.in_features)  # torch's Kaiming-uniform (a=sqrt(5)) for weights and biases
        assert th.count_nonzero(layer.bias) == layer.out_features and layer.bias.abs().max() <= bound
        scaled.append(layer.weight.detach().numpy().ravel() / bound)
    u = np.concatenate(scaled)
    assert np.abs(u).max() <= 1.0 + 1e-6 and np.abs(u).max() > 0.99
    # Glorot's limit is wider on the 20-20-10 layers: the blog's init would exceed torch's bound.
    glorot = BlogDQN("MlpPolicy", CounterEnv(n_actions=3), seed=0)
    assert max(float(layer.weight.abs().max()) * np.sqrt(layer.in_features) for layer in linears(glorot.q_net)) > 1.0
    model.save(tmp_path / "model.zip")
    loaded = BlogDQN.load(tmp_path / "model.zip")
    assert loaded.policy.glorot_init is False
    for a, b in zip(loaded.q_net.parameters(), model.q_net.parameters(), strict=True):
        assert th.equal(a, b)


def _keras_adam_numpy(grads: list[np.ndarray], lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7) -> list[np.ndarray]:
    """Keras' Adam by hand, from p = 0: the parameter after each step."""
    p, m, v, path = np.zeros_like(grads[0]), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(v) + eps)
        path.append(p)
    return path


def _run_optimizer(optimizer: th.optim.Optimizer, params: list[th.Tensor], grads: list[list[np.ndarray]]):
    with th.no_grad():
        for p in params:
            p.zero_()
    path = []
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = th.as_tensor(g, dtype=p.dtype).reshape(p.shape)
        optimizer.step()
        path.append([p.detach().double().numpy().ravel().copy() for p in params])
    return path


def test_b12_keras_form_adam_with_keras_defaults():
    model = BlogDQN("MlpPolicy", CounterEnv(n_actions=3), seed=0)
    params = list(model.q_net.parameters())
    rng = np.random.default_rng(0)
    # Gradients from 1e-9 to 1: for the small ones, where eps is added matters.
    grads = [[rng.choice([-1, 1], p.numel()) * 10 ** rng.uniform(-9, 0, p.numel()) for p in params] for _ in range(4)]
    expected = [_keras_adam_numpy([g[i] for g in grads]) for i in range(len(params))]
    path = _run_optimizer(model.policy.optimizer, params, grads)
    for t in range(4):
        for i in range(len(params)):
            np.testing.assert_allclose(path[t][i], expected[i][t], rtol=1e-4, atol=1e-12)  # float32

    # torch's Adam, even with Keras' eps, adds eps after the bias correction: a different update.
    torch_params = [th.zeros_like(p) for p in params]
    torch_path = _run_optimizer(th.optim.Adam(torch_params, lr=1e-3, eps=1e-7), torch_params, grads)
    difference = max(np.abs(torch_path[0][i] - expected[i][0]).max() for i in range(len(params)))
    assert difference > 1e-4
    assert isinstance(model.policy.optimizer, KerasAdam)


# ----------------------------------------------------------------------------- B13 target copy


def test_b13_target_copied_after_within_episode_steps_0_100_200():
    counter = CounterEnv(terminate_at=203)
    model = BlogDQN("MlpPolicy", counter, learning_starts=1, batch_size=1, seed=0)
    probe = StepProbe(model, counter)
    model.learn(10**6, callback=StopAfter(203 + 8))
    # Q changes at every full-history step; right after a copy (at 0, 100, 200) Q̂ equals Q, and it
    # stays equal over steps 1 and 2, which do not replay (B2).
    for record in probe.records:
        assert record["target_is_q"] == (record["t"] % 100 == 0 or record["t"] < SHORT), record
    assert {r["t"] for r in probe.records if r["episode"] == probe.records[-1]["episode"]} == set(range(8))


def _simulated_target_is_q(records: list[dict], copy_at: set[int]) -> list[bool]:
    """Whether Q̂ equals Q after each step, if Q̂ is copied after the steps in ``copy_at`` (1-based)."""
    equal, pattern = True, []
    for n, record in enumerate(records, start=1):
        equal = n in copy_at or (equal and record["t"] < SHORT)
        pattern.append(equal)
    return pattern


def test_b13_switch_target_update_every_n_env_steps():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, target_update_on_episode_step=False, target_update_interval=7, **SMALL)
    probe = StepProbe(model, counter)
    model.learn(10**6, callback=StopAfter(40))
    observed = [r["target_is_q"] for r in probe.records]
    every_7 = [_simulated_target_is_q(probe.records, set(range(offset, 41, 7))) for offset in range(1, 8)]
    assert observed in every_7
    on_episode_step = _simulated_target_is_q(probe.records, {n for n, r in enumerate(probe.records, 1) if r["t"] == 0})
    assert observed != on_episode_step


# ----------------------------------------------------------------------------- B14 time limits


@pytest.mark.parametrize("switch", [{}, dict(handle_timeout_termination=False), dict(handle_timeout_termination=True),
                                    dict(replay_buffer_kwargs=dict(handle_timeout_termination=True))])
def test_b14_time_limit_truncation_stored_as_done(switch):
    handle_timeout_termination = switch.get("handle_timeout_termination") or "replay_buffer_kwargs" in switch
    truncated = TimeLimit(CounterEnv(terminate_at=None), max_episode_steps=10)
    terminated = CounterEnv(terminate_at=10)
    for env, cut_by_time_limit in ((truncated, True), (terminated, False)):
        model = BlogDQN("MlpPolicy", env, **switch, **SMALL)
        assert model.handle_timeout_termination == handle_timeout_termination
        model.learn(10**6, callback=StopAfter(22))
        size = model.replay_buffer.size()
        replay = model.replay_buffer.sample(size)  # all of them
        last_step = replay.next_observations[:, -3].numpy() == 10
        assert last_step.sum() >= 2
        # B14: the env's time limit ends the episode without bootstrap; the switch bootstraps through it.
        expected_done = 0.0 if (cut_by_time_limit and handle_timeout_termination) else 1.0
        assert np.all(replay.dones[last_step].numpy() == expected_done)
        assert np.all(replay.dones[~last_step].numpy() == 0.0)


# ----------------------------------------------------------------------------- B15 episodes and scores


def test_b15_score_is_summed_reward_including_short_history_steps():
    counter = CounterEnv(terminate_at=10)
    model = BlogDQN("MlpPolicy", counter, **SMALL)
    seen = FirstStep(counter)
    model.learn(10**6, callback=[seen, StopTrainingOnMaxLearningEpisodes(3)])
    # Steps 0..9 pay 1..10: the score counts the three B2 steps too (not 55 - 6).
    assert [(e["r"], e["l"]) for e in seen.episodes] == [(55.0, 10)] * 3
    assert all(info["r"] == 55.0 for info in model.ep_info_buffer)


# ----------------------------------------------------------------------------- B16 deployed network


def test_b16_act_with_target_option_acts_with_target_network(tmp_path):
    obs = make_blog_env("CartPole-v1", seed=0).reset()  # a padded history (B3)
    for act_with_target, expected in ((False, 1), (True, 0)):
        model = BlogDQN("MlpPolicy", "CartPole-v1", act_with_target=act_with_target, **SMALL)
        favour(model.q_net, 1)
        favour(model.q_net_target, 0)
        assert model.predict(obs, deterministic=True)[0][0] == expected
        model.save(tmp_path / "model.zip")
        assert BlogDQN.load(tmp_path / "model.zip").predict(obs, deterministic=True)[0][0] == expected
