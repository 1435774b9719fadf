"""
Property-based tests of the history (B1, B3), the transition storage (B2, B5, B14), and the
refusal of every bad value given to BlogDQN, to VecStandardScaler or edited into a saved zip.

The scripted env's state *is* its position, ``[env index, episode number, step index]``,
so every history and every stored transition can be checked against where it must come
from: the last ``history_length`` raw states of one episode, oldest first. The bad values
are drawn per argument (NaN, inf, a wrong sign, zero where a count starts at one, a wrong
type) and must each give a typed error naming the argument, within seconds.
"""

import functools
import io
import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest
from helpers import InterruptAt
from hostile import time_limit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_blogdqn import BlogDQN, SetupError, VecHistory, VecStandardScaler, make_blog_env

PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class ScriptedEnv(gym.Env):
    """Episodes of the given lengths in turn; ``truncate[k]`` ends the k-th by time limit instead."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, index: int, lengths: list[int], truncate: list[bool]) -> None:
        self.index, self.lengths, self.truncate = index, lengths, truncate
        self.episode, self.t = 0, 0

    def _state(self) -> np.ndarray:
        return np.array([self.index, self.episode, self.t], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self._state(), {}

    def step(self, action):
        self.t += 1
        k = (self.episode - 1) % len(self.lengths)
        ended = self.t >= self.lengths[k]
        return self._state(), 1.0, ended and not self.truncate[k], ended and self.truncate[k], {}


def scripted_vec_env(episodes: list[list[tuple[int, bool]]]) -> DummyVecEnv:
    def make(index: int, script: list[tuple[int, bool]]):
        return lambda: ScriptedEnv(index, [length for length, _ in script], [cut for _, cut in script])

    return DummyVecEnv([make(i, script) for i, script in enumerate(episodes)])


def window(index: int, episode: int, t: int, history_length: int) -> np.ndarray:
    """The history after ``t`` steps of an episode: the last states, padded with its first (B1, B3)."""
    steps = np.maximum(np.arange(t - history_length + 1, t + 1), 0)
    return np.stack([np.full_like(steps, index), np.full_like(steps, episode), steps], axis=1).reshape(-1)


episode_scripts = st.lists(  # per env: the (length, cut by time limit) of its episodes, repeated
    st.lists(st.tuples(st.integers(1, 9), st.booleans()), min_size=1, max_size=4), min_size=1, max_size=3
)


@PROPERTY_SETTINGS
@given(scripts=episode_scripts, history_length=st.integers(1, 5),
       operations=st.lists(st.one_of(st.just("reset"), st.just("step")), min_size=1, max_size=60))
def test_b1_b3_history_is_the_last_raw_states_oldest_first(scripts, history_length, operations):
    env = VecHistory(scripted_vec_env(scripts), history_length)
    n_envs = len(scripts)
    episodes, steps = np.zeros(n_envs, dtype=int), np.zeros(n_envs, dtype=int)

    def check(observations: np.ndarray) -> None:
        for i in range(n_envs):
            np.testing.assert_array_equal(observations[i], window(i, episodes[i], steps[i], history_length))

    episodes += 1
    check(env.reset())
    for operation in operations:
        if operation == "reset":
            episodes += 1
            steps[:] = 0
            check(env.reset())
            continue
        observations, _, dones, infos = env.step(np.zeros(n_envs, dtype=int))
        steps += 1
        for i in range(n_envs):
            length, cut = scripts[i][(episodes[i] - 1) % len(scripts[i])]
            assert dones[i] == (steps[i] == length)
            if dones[i]:
                # The terminal history belongs to the episode that ended (B5), the next one starts padded (B3).
                terminal = window(i, episodes[i], steps[i], history_length)
                np.testing.assert_array_equal(infos[i]["terminal_observation"], terminal)
                assert infos[i].get("TimeLimit.truncated", False) == cut
                episodes[i] += 1
                steps[i] = 0
        check(observations)


@PROPERTY_SETTINGS
@given(scripts=episode_scripts, history_length=st.integers(1, 5), learning_starts=st.integers(1, 12),
       buffer_extra=st.integers(0, 1000), handle_timeout_termination=st.booleans(),
       runs=st.lists(st.tuples(st.integers(1, 60), st.sampled_from(["continue", "reset", "interrupt"])),
                     min_size=1, max_size=3),
       seed=st.integers(0, 2**16))
def test_b2_b5_stored_transitions_are_full_histories_of_one_episode(
    scripts, history_length, learning_starts, buffer_extra, handle_timeout_termination, runs, seed
):
    # A warm-up needs an episode long enough to fill a history (B2, B6).
    if max(length for script in scripts for length, _ in script) < history_length:
        scripts = [[(history_length, False), *scripts[0]], *scripts[1:]]
    model = BlogDQN("MlpPolicy", scripted_vec_env(scripts), history_length=history_length,
                    learning_starts=learning_starts, batch_size=1, buffer_size=learning_starts + buffer_extra,
                    per_sample_updates=False, handle_timeout_termination=handle_timeout_termination, seed=seed)
    for n_steps, how in runs:
        if how == "interrupt":
            with pytest.raises(KeyboardInterrupt):
                model.learn(n_steps + 1000, callback=InterruptAt(n_steps), reset_num_timesteps=False)
        else:
            model.learn(n_steps, reset_num_timesteps=how == "reset")

    buffer = model.replay_buffer
    rows = np.arange(buffer.size())
    # The warm-up (B6) lasts until learning_starts transitions are stored, across learn() calls.
    assert model.warming_up == (len(rows) < learning_starts)
    observations = buffer.observations[rows, 0].reshape(len(rows), history_length, 3)
    next_observations = buffer.next_observations[rows, 0].reshape(len(rows), history_length, 3)
    for row, history, next_history in zip(rows, observations, next_observations, strict=True):
        index, episode, first_step = history[0]
        # One episode of one env, consecutive states with no padding (B1, B2), the next shifted by one (B5).
        expected = window(int(index), int(episode), int(first_step) + history_length - 1, history_length)
        np.testing.assert_array_equal(history.reshape(-1), expected)
        assert first_step >= 0 and (history_length == 1 or history[1, 2] == first_step + 1)
        np.testing.assert_array_equal(next_history.reshape(-1), window(index, episode, first_step + history_length,
                                                                        history_length))
        # Done exactly when the next state ends the episode; a time-limit cut is terminal unless handled (B14).
        length, cut = scripts[int(index)][(int(episode) - 1) % len(scripts[int(index)])]
        ended = first_step + history_length == length
        assert buffer.dones[row, 0] == ended
        assert buffer.timeouts[row, 0] == (ended and cut and handle_timeout_termination)
    positions = {tuple(history[-1]) for history in observations}
    assert len(positions) == len(rows)  # each transition is stored once
    if not buffer.full:
        # B2: an episode's transitions are stored from its first full history on, none skipped
        # (an episode may stop early: warm-up end, reset, interrupt).
        for index, episode in {(i, e) for i, e, _ in positions}:
            first_steps = sorted(int(t) - history_length + 1 for i, e, t in positions if (i, e) == (index, episode))
            assert first_steps == list(range(len(first_steps))), (index, episode, first_steps)


# ------------------------------------------------------------------ bad values: constructor, wrapper, saved zip

NAN, INF = float("nan"), float("inf")
ENV = make_blog_env("CartPole-v1")
NOT_NUMBERS = st.one_of(st.text(max_size=3), st.none(), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=1), st.integers(), max_size=1))
NOT_INTEGERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), NOT_NUMBERS)


def bad_count(least: int) -> st.SearchStrategy:
    """What an integer count of at least ``least`` must not be: below it, a float (even 5.0), a bool, no number."""
    return st.one_of(st.integers(max_value=least - 1), NOT_INTEGERS)


def bad_real(inside) -> st.SearchStrategy:
    """Numbers for which ``inside`` is false (NaN always is), bools, and what is no number."""
    return st.one_of(st.just(NAN), st.floats(allow_nan=False).filter(lambda x: not inside(x)), st.booleans(), NOT_NUMBERS)


BAD_SWITCH = st.one_of(st.integers(), st.floats(), st.text(max_size=3))  # not a bool (numpy's neither)
BAD_SCHEDULES = st.sampled_from([NAN, INF, -1e-3]).map(lambda rate: lambda progress: rate * progress + rate)
BAD_ARGUMENTS = {
    # counts, each with its least value (BlogDQN's docstring and B5-B13)
    "buffer_size": bad_count(1), "learning_starts": bad_count(0), "batch_size": bad_count(1),
    "target_update_interval": bad_count(1), "exploration_decisions": bad_count(1), "gradient_steps": bad_count(-1),
    "n_steps": bad_count(1), "stats_window_size": bad_count(1), "verbose": bad_count(0),
    "history_length": st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=3)),
    "train_freq": st.one_of(bad_count(1), st.tuples(st.integers(max_value=0), st.just("step")),
                            st.tuples(st.integers(1, 4), st.text(max_size=4).filter(lambda u: u not in ("step", "episode")))),
    "seed": st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32), st.floats(), st.booleans(),
                      st.text(max_size=3)),
    # rates and their ranges
    "learning_rate": st.one_of(bad_real(lambda x: 0 <= x < INF), BAD_SCHEDULES),
    "gamma": bad_real(lambda x: 0 <= x <= 1), "tau": bad_real(lambda x: 0 < x <= 1),
    "exploration_initial_eps": bad_real(lambda x: 0 <= x <= 1), "exploration_final_eps": bad_real(lambda x: 0 <= x <= 1),
    "exploration_fraction": st.one_of(st.just(NAN), st.floats(allow_nan=False).filter(lambda x: not 0 < x <= 1),
                                      st.booleans(), st.text(max_size=3)),
    "max_grad_norm": bad_real(lambda x: x > 0),
    # switches and choices
    **{name: BAD_SWITCH for name in ("target_update_on_episode_step", "loss_on_all_actions", "per_sample_updates",
                                     "act_with_target", "double_q", "scaler_from_bounds", "standardize_inputs",
                                     "skip_short_histories", "optimize_memory_usage")},
    **{name: st.one_of(st.integers(), st.floats(), st.text(min_size=1, max_size=3))
       for name in ("handle_timeout_termination", "use_kernel")},  # None is theirs: BlogDQN decides
    "on_nonfinite": st.one_of(st.text(max_size=5).filter(lambda s: s not in ("raise", "skip")), st.integers(), st.none()),
    "loss": st.one_of(st.text(max_size=5).filter(lambda s: s not in ("mse", "huber", "quantile")), st.integers(),
                      st.none(), st.lists(st.just("mse"), min_size=1, max_size=1)),
    "policy_kwargs": st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)),
    "replay_buffer_kwargs": st.one_of(st.integers(), st.text(min_size=1, max_size=3), st.lists(st.integers(), max_size=2)),
    "tensorboard_log": st.one_of(st.integers(), st.floats(), st.lists(st.text(max_size=2), max_size=2)),
    "policy": st.one_of(st.integers(), st.none(), st.just(dict)),
    "device": st.sampled_from(["gpu", "", "cpu:x", None, -1]),
}
CASES = st.sampled_from(sorted(BAD_ARGUMENTS)).flatmap(lambda name: st.tuples(st.just(name), BAD_ARGUMENTS[name]))
MANY_EXAMPLES = settings(PROPERTY_SETTINGS, max_examples=300)


@MANY_EXAMPLES
@given(case=CASES)
def test_every_bad_constructor_value_is_refused_by_name_within_seconds(case):
    name, value = case
    with time_limit(10), pytest.raises((SetupError, ValueError, TypeError)) as error:
        BlogDQN(**{"policy": "MlpPolicy", "env": ENV, name: value})
    assert name in str(error.value)


SAVED_AS = {"policy": None, "device": None, "stats_window_size": "_stats_window_size"}  # not saved, or under SB3's name


@functools.cache
def saved_zip_entries() -> dict[str, bytes]:
    buffer = io.BytesIO()
    BlogDQN("MlpPolicy", make_blog_env("CartPole-v1", seed=0), learning_starts=8, batch_size=8, seed=0).learn(30).save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@settings(PROPERTY_SETTINGS, max_examples=150)  # each example writes and reads a zip twice
@given(case=CASES.filter(lambda case: SAVED_AS.get(case[0], case[0]) is not None and not callable(case[1])))
def test_every_bad_value_edited_into_a_saved_zip_is_refused_by_name(case):
    name, value = case
    entries = dict(saved_zip_entries())
    data = json.loads(entries["data"])
    data[SAVED_AS.get(name, name)] = value
    entries["data"] = json.dumps(data).encode()
    edited = io.BytesIO()
    with zipfile.ZipFile(edited, "w") as archive:
        for entry, content in entries.items():
            archive.writestr(entry, content)
    for trusted in (True, False):
        with time_limit(10), pytest.raises(SetupError) as error:
            BlogDQN.load(io.BytesIO(edited.getvalue()), env=ENV, trusted=trusted)
        assert name in str(error.value)


BAD_OBSERVATIONS = st.one_of(
    st.tuples(st.integers(1, 5), st.integers(1, 40).filter(lambda width: width != 16)).map(np.zeros),  # another width
    st.integers(1, 5).map(lambda rows: np.full((rows, 16), NAN)),
    st.just(np.zeros((0, 16))), st.just(np.zeros(16)), st.just([["a"] * 16]),
)
BAD_SCALER_ARGUMENTS = {"n_fit_samples": bad_count(0), "skip_episode_start": bad_count(0), "from_bounds": BAD_SWITCH,
                        "observations": BAD_OBSERVATIONS}


@MANY_EXAMPLES
@given(case=st.sampled_from(sorted(BAD_SCALER_ARGUMENTS)).flatmap(
    lambda name: st.tuples(st.just(name), BAD_SCALER_ARGUMENTS[name])))
def test_every_bad_scaler_value_is_refused_by_name_within_seconds(case):
    name, value = case
    with time_limit(10), pytest.raises(SetupError) as error:
        VecStandardScaler(ENV, **{name: value})
    assert name in str(error.value)
