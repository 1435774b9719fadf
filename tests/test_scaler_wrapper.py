"""VecStandardScaler: the blog's frozen StandardScaler (B4) as a VecEnv wrapper for any SB3 algorithm."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_blogdqn import BlogDQN, SetupError, VecHistory, VecStandardScaler, make_blog_env
from sb3_blogdqn.common.checks import find_vec_wrapper
from sb3_blogdqn.common.scaling import fit_standard_scaler

REPO = Path(__file__).resolve().parent.parent
ENV_ID = "CartPole-v1"


def test_b4_one_fit_for_the_wrapper_and_blogdqns_extractor():
    """Same warm-up histories, same statistics: both call common.scaling (one implementation of B4)."""
    model = BlogDQN("MlpPolicy", make_blog_env(ENV_ID, seed=0), seed=0)
    model.learn(100)  # the warm-up (B6, about 45 env steps) and the fit (B4)
    warmup = model.replay_buffer.observations[:32, 0]
    scaler = VecStandardScaler(make_blog_env(ENV_ID), observations=warmup)
    extractor = model.policy.scaler
    assert scaler.n_samples_seen == int(extractor.n_samples_seen) == 32
    np.testing.assert_array_equal(scaler.mean.astype(np.float32), extractor.mean.numpy())
    np.testing.assert_array_equal(scaler.scale.astype(np.float32), extractor.scale.numpy())


@pytest.mark.parametrize("seed", [0, 1])
def test_b4_make_blog_env_scaler_fits_on_the_histories_blogdqns_warmup_fits_on(seed):
    """scaler=32 plays as BlogDQN's warm-up does (same seed, no padded histories, B2, B6): same statistics."""
    model = BlogDQN("MlpPolicy", make_blog_env(ENV_ID, seed=seed), seed=seed)
    model.learn(100)  # past the warm-up (B6)
    scaler = make_blog_env(ENV_ID, seed=seed, scaler=32)
    assert isinstance(scaler, VecStandardScaler) and isinstance(scaler.venv, VecHistory)  # history first (B1)
    np.testing.assert_array_equal(scaler.mean.astype(np.float32), model.policy.scaler.mean.numpy())
    np.testing.assert_array_equal(scaler.scale.astype(np.float32), model.policy.scaler.scale.numpy())


def test_b4_population_std_and_negligible_std_scaled_by_one():
    data = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 2.0], [5.0, 5.0, 2.0 + 1e-17]])
    mean, scale = fit_standard_scaler(data)
    np.testing.assert_array_equal(mean, data.mean(axis=0))
    assert scale.tolist() == [np.std([1.0, 3.0, 5.0]), 1.0, 1.0]


def test_b4_switch_from_bounds_scales_bounded_features_by_the_space_and_fits_the_unbounded_ones():
    """CartPole-v1 bounds its position and angle, not its velocities: half the features each way."""
    data = np.random.default_rng(0).normal(size=(32, 16))
    fitted = VecStandardScaler(make_blog_env(ENV_ID), observations=data)
    bounded = VecStandardScaler(make_blog_env(ENV_ID), observations=data, from_bounds=True)
    high = bounded.venv.observation_space.high.astype(np.float64)
    finite = np.isfinite(high)
    assert finite.tolist() == [True, False, True, False] * 4  # B1's history of 4 states
    np.testing.assert_array_equal(bounded.mean[finite], 0.0)  # symmetric bounds
    np.testing.assert_allclose(bounded.scale[finite], high[finite])  # high onto 1
    np.testing.assert_array_equal(bounded.mean[~finite], fitted.mean[~finite])
    np.testing.assert_array_equal(bounded.scale[~finite], fitted.scale[~finite])


def test_b4_frozen_every_observation_standardized_including_terminal_ones():
    data = np.random.default_rng(0).normal(size=(32, 16))
    scaled = VecStandardScaler(make_blog_env(ENV_ID, n_envs=2, seed=5), observations=data)  # no play: same env stream
    raw = make_blog_env(ENV_ID, n_envs=2, seed=5)
    mean, scale = scaled.mean.copy(), scaled.scale.copy()

    def expected(x):
        return ((x.astype(np.float64) - mean) / scale).astype(np.float32)

    np.testing.assert_array_equal(scaled.reset(), expected(raw.reset()))
    n_terminal = 0
    for _ in range(60):  # always push left: episodes end within about 10 steps
        actions = np.zeros(2, dtype=np.int64)
        obs, _, dones, infos = scaled.step(actions)
        raw_obs, _, raw_dones, raw_infos = raw.step(actions)
        np.testing.assert_array_equal(obs, expected(raw_obs))
        np.testing.assert_array_equal(dones, raw_dones)
        for i in np.flatnonzero(dones):
            np.testing.assert_array_equal(infos[i]["terminal_observation"], expected(raw_infos[i]["terminal_observation"]))
            n_terminal += 1
    assert n_terminal >= 4
    np.testing.assert_array_equal(scaled.mean, mean)  # frozen
    with pytest.raises(SetupError, match="frozen"):
        scaled.fit(data)


def test_fitting_play_does_not_leak_into_an_episode():
    scaler = make_blog_env(ENV_ID, seed=0, scaler=32)
    with pytest.raises(SetupError, match=r"reset\(\) first"):
        scaler.step(np.array([0]))
    scaler.reset()
    scaler.step(np.array([0]))
    assert scaler.observation_space.shape == (16,)


def test_use_before_fitting_is_a_clear_error():
    scaler = VecStandardScaler(make_blog_env(ENV_ID), n_fit_samples=0)
    assert not scaler.fitted
    with pytest.raises(SetupError, match=r"before it is fitted.*\n.*n_fit_samples > 0.*load"):
        scaler.reset()


def test_stacking_with_vec_normalize_is_refused_in_either_order():
    with pytest.raises(SetupError, match=r"VecNormalize is inside it.*normalize twice"):
        VecStandardScaler(VecNormalize(make_blog_env(ENV_ID)))
    outer = VecNormalize(make_blog_env(ENV_ID, scaler=32))  # VecNormalize's constructor calls nothing of ours
    with pytest.raises(SetupError, match=r"VecNormalize wraps it.*drop the VecNormalize"):
        outer.reset()


def test_blogdqn_refuses_the_wrapper_naming_the_fix():
    with pytest.raises(SetupError, match=r"VecStandardScaler.*its own StandardScaler.*make_blog_env without scaler"):
        BlogDQN("MlpPolicy", make_blog_env(ENV_ID, scaler=32))


def test_load_refuses_an_env_of_another_shape(tmp_path):
    make_blog_env(ENV_ID, seed=0, scaler=32).save(tmp_path / "scaler.json")
    with pytest.raises(SetupError, match=r"shape \(16,\).*\(8,\)"):
        VecStandardScaler.load(tmp_path / "scaler.json", make_blog_env(ENV_ID, history_length=2))


_REPLAY = """
import json, sys
import numpy as np
from stable_baselines3 import DQN
from sb3_blogdqn import make_blog_env
model_path, scaler_path = sys.argv[1:]
env = make_blog_env("CartPole-v1", seed=123, scaler=scaler_path)
model = DQN.load(model_path)
obs, actions = env.reset(), []
for _ in range(200):
    action, _ = model.predict(obs, deterministic=True)
    actions.append(int(action[0]))
    obs, *_ = env.step(action)
print(json.dumps({"actions": actions, "mean": env.mean.tolist()}))
"""


def test_stock_dqn_saves_loads_and_acts_the_same_in_a_fresh_process(tmp_path):
    env = make_blog_env(ENV_ID, seed=0, scaler=32)
    model = DQN("MlpPolicy", env, learning_starts=32, buffer_size=2000, policy_kwargs=dict(net_arch=[20, 20, 10]), seed=0)
    model.learn(300)
    model.save(tmp_path / "dqn")
    env.save(tmp_path / "scaler.json")

    eval_env = make_blog_env(ENV_ID, seed=123, scaler=tmp_path / "scaler.json")
    np.testing.assert_array_equal(eval_env.mean, env.mean)  # loaded, not refitted
    obs, actions = eval_env.reset(), []
    for _ in range(200):
        action, _ = model.predict(obs, deterministic=True)
        actions.append(int(action[0]))
        obs, *_ = eval_env.step(action)

    out = subprocess.run([sys.executable, "-c", _REPLAY, str(tmp_path / "dqn.zip"), str(tmp_path / "scaler.json")],
                         capture_output=True, text=True, timeout=120, check=True)
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    assert fresh["mean"] == env.mean.tolist()
    assert fresh["actions"] == actions


def test_zoo_example_builds_the_blog_inputs_with_eval_statistics_from_training():
    """zoo_configs/dqn_blog_inputs.yml through the Zoo's preprocessing, as the comparison runs it."""
    from sb3_blogdqn.compare.runner import make_envs, zoo_preprocess

    with open(REPO / "zoo_configs" / "dqn_blog_inputs.yml") as file:
        hyperparams = yaml.safe_load(file)[ENV_ID]
    spec = {"config": "example", "algo": "dqn", "env": ENV_ID, "hyperparams": hyperparams, "n_timesteps": 1000}
    setup = zoo_preprocess(spec)
    env, eval_env = make_envs(spec, setup, seed=0, n_eval_envs=2)
    train_scaler, eval_scaler = (find_vec_wrapper(e, VecStandardScaler) for e in (env, eval_env))
    assert isinstance(train_scaler.venv, VecHistory) and train_scaler.skip_episode_start == 3
    np.testing.assert_array_equal(eval_scaler.mean, train_scaler.mean)
    np.testing.assert_array_equal(train_scaler.mean, make_blog_env(ENV_ID, seed=0, scaler=32).mean)
    DQN(env=env, seed=0, **setup.kwargs).learn(100)  # the stock algorithm takes it as it is


def test_any_algorithm_plain_vec_env():
    """No history needed: a plain VecEnv and an on-policy algorithm work too."""
    from stable_baselines3 import PPO

    env = VecStandardScaler(make_vec_env(ENV_ID, n_envs=2, seed=0), n_fit_samples=64)
    assert env.n_samples_seen == 64 and env.mean.shape == (4,)
    PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0).learn(64)
