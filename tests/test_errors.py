"""Bad input gives an error that names the problem and the fix."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize

from sb3_blogdqn import BlogDQN, SetupError, StandardScalerExtractor, VecStandardScaler

BAD_INPUT = (TypeError, ValueError)


class SpacesEnv(gym.Env):
    """An env with the given spaces that returns zeros, or ``bad_value`` from step ``bad_from`` on."""

    def __init__(self, observation_space, action_space=None, bad_value=0.0, bad_from=10**9):
        self.observation_space = observation_space
        self.action_space = action_space or spaces.Discrete(2)
        self.bad_value, self.bad_from, self.t = bad_value, bad_from, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample() * 0, {}

    def step(self, action):
        self.t += 1
        obs = np.full(self.observation_space.shape, self.bad_value if self.t >= self.bad_from else float(self.t),
                      dtype=np.float32)
        return obs, 1.0, self.t >= 20, False, {}


def test_continuous_actions_are_refused_with_a_pointer_to_sac_td3():
    with pytest.raises(BAD_INPUT, match=r"Discrete action space.*(SAC|TD3)"):
        BlogDQN("MlpPolicy", "Pendulum-v1")


def test_a_policy_that_cannot_read_the_observations_names_the_one_that_can():
    with pytest.raises(BAD_INPUT, match=r"CnnPolicy reads images.*'MlpPolicy'"):
        BlogDQN("CnnPolicy", "CartPole-v1")
    env = SpacesEnv(spaces.Dict({"a": spaces.Box(-1, 1, (2,)), "b": spaces.Box(-1, 1, (3,))}))
    with pytest.raises(BAD_INPUT, match="use 'MultiInputPolicy'"):
        BlogDQN("MlpPolicy", env)
    with pytest.raises(BAD_INPUT, match="use 'MlpPolicy'"):
        BlogDQN("MultiInputPolicy", "CartPole-v1")


def test_warmup_larger_than_buffer():
    with pytest.raises(ValueError, match=r"learning_starts=64.*buffer_size=50"):
        BlogDQN("MlpPolicy", "CartPole-v1", buffer_size=50, learning_starts=64)
    with pytest.raises(ValueError, match=r"batch_size=64\).*buffer_size=50"):
        BlogDQN("MlpPolicy", "CartPole-v1", buffer_size=50, batch_size=64)


@pytest.mark.parametrize("learning_starts", [0, 10])
def test_warmup_stores_at_least_one_minibatch(learning_starts):
    # The first replay draws batch_size distinct transitions (B7): SB3's learning_starts=0 means
    # "learn as soon as possible", which for BlogDQN is after one minibatch of random play (B6).
    model = BlogDQN("MlpPolicy", "CartPole-v1", learning_starts=learning_starts, batch_size=16, seed=0)
    assert model.warmup_size == 16
    model.learn(80)
    assert model.policy.scaler.n_samples_seen == 16 and model._n_updates > 0


@pytest.mark.parametrize("history_length", [0, -3])
def test_history_length_below_one(history_length):
    with pytest.raises(ValueError, match="history_length must be an integer >= 1"):
        BlogDQN("MlpPolicy", "CartPole-v1", history_length=history_length)


@pytest.mark.parametrize("wrapper", [lambda v: VecFrameStack(v, 4), lambda v: VecNormalize(v)])
def test_frame_stack_or_normalize_of_vectors_is_refused(wrapper):
    with pytest.raises(ValueError, match=r"(VecFrameStack|VecNormalize).*BlogDQN"):
        BlogDQN("MlpPolicy", wrapper(make_vec_env("CartPole-v1")))


def test_non_finite_observations_while_fitting_the_scaler():
    env = SpacesEnv(spaces.Box(-np.inf, np.inf, (3,), np.float32), bad_value=np.nan, bad_from=5)
    model = BlogDQN("MlpPolicy", env, learning_starts=8, batch_size=8)
    with pytest.raises(ValueError, match=r"non-finite.*StandardScaler"):
        model.learn(50)


def test_constant_features_are_scaled_by_one_not_nan():
    scaler = StandardScalerExtractor(spaces.Box(-10, 10, (3,)))
    data = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 2.0], [5.0, 5.0, 2.0 + 1e-17]])
    scaler.fit(data)
    assert scaler.scale.tolist()[1:] == [1.0, 1.0]
    out = scaler(torch.as_tensor(data, dtype=torch.float32)).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 1], 0.0)


@pytest.mark.parametrize("argument, value", [
    ("learning_rate", float("nan")),  # would train every weight to NaN
    ("exploration_decisions", float("nan")),  # would make ε NaN: the agent would never explore (B8)
    ("learning_starts", -10),
    ("buffer_size", 2000.0),  # a count is an integer
    ("double_q", "yes"),
])
def test_values_that_used_to_pass_silently_are_refused(argument, value):
    with pytest.raises(SetupError, match=rf"{argument} must be"):
        BlogDQN("MlpPolicy", "CartPole-v1", **{argument: value})


def test_all_bad_arguments_are_listed_in_one_error():
    with pytest.raises(SetupError, match=r"(?s)\(3 problems\).*learning_starts.*gamma.*learning_rate"):
        BlogDQN("MlpPolicy", "CartPole-v1", learning_starts=-1, gamma=float("inf"), learning_rate=-1e-3)


def test_a_learning_rate_schedule_is_checked_where_it_starts_and_ends():
    with pytest.raises(SetupError, match=r"learning_rate schedule .* at progress 1 and 0 it gives 0.001 and nan"):
        BlogDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda progress: 1e-3 if progress > 0 else float("nan"))
    BlogDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda progress: 1e-3 * progress)  # the RL Zoo's lin_ decays to 0
    BlogDQN("MlpPolicy", "CartPole-v1", learning_rate=0.0)  # holds the weights fixed, as some tests need


def test_fitting_play_on_episodes_too_short_for_the_skip_ends_with_an_error_naming_them():
    short_episodes = make_vec_env(lambda: gym.make("CartPole-v1", max_episode_steps=2))
    with pytest.raises(SetupError, match=r"(?s)skip_episode_start=5.*episodes that ended lasted at most 2 steps"):
        VecStandardScaler(short_episodes, n_fit_samples=32, skip_episode_start=5)


def test_scaler_refuses_a_scaler_underneath_and_observations_of_another_width():
    scaled = VecStandardScaler(make_vec_env("CartPole-v1"), n_fit_samples=8)
    with pytest.raises(SetupError, match="a VecStandardScaler is inside it already"):
        VecStandardScaler(scaled)
    with pytest.raises(SetupError, match=r"observations must be .* of 4 features.*shape \(8, 3\)"):
        VecStandardScaler(make_vec_env("CartPole-v1"), observations=np.zeros((8, 3)))
    unfitted = VecStandardScaler(make_vec_env("CartPole-v1"), n_fit_samples=0)
    with pytest.raises(SetupError, match="of 4 features"):
        unfitted.fit(np.zeros((8, 1)))  # one column would have been broadcast over the four
