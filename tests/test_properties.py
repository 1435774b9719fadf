"""
Property-based tests of the history (B1, B3) and the transition storage (B2, B5, B14).

The scripted env's state *is* its position, ``[env index, episode number, step index]``,
so every history and every stored transition can be checked against where it must come
from: the last ``history_length`` raw states of one episode, oldest first.
"""

import gymnasium as gym
import numpy as np
import pytest
from helpers import InterruptAt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_blogdqn import BlogDQN, VecHistory

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
