"""
The blog's rules on images and Dict observations (docs/blogdqn.md, "Images and Dict observations"):
B1's history is channel stacking, B3 pads with the first frame, B4 is SB3's division by 255 on
images and a StandardScaler on each vector key of a Dict, B7 draws without replacement, and the
errors name what can read what.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack
from stable_baselines3.her import HerReplayBuffer
from torch import nn

from sb3_blogdqn import BlogDQN, MinAtarCNN, VecHistory
from sb3_blogdqn.common.buffers import DictHistoryReplayBuffer

BAD_INPUT = (TypeError, ValueError)


class FrameEnv(gym.Env):
    """Frames whose every pixel is the step index (channels last or first), episodes of ``length`` steps."""

    def __init__(self, shape=(36, 36, 2), length=12, dtype=np.uint8, dict_obs=False):
        self.frame_space = spaces.Box(0, 255, shape, dtype) if dtype == np.uint8 else spaces.Box(0, 1, shape, dtype)
        self.observation_space = (spaces.Dict({"frame": self.frame_space, "vec": spaces.Box(-5, 5, (3,), np.float32)})
                                  if dict_obs else self.frame_space)
        self.action_space = spaces.Discrete(2)
        self.length, self.t = length, 0

    def _obs(self):
        frame = np.full(self.frame_space.shape, self.t, dtype=self.frame_space.dtype)
        if isinstance(self.observation_space, spaces.Dict):
            return {"frame": frame, "vec": np.full(3, self.t, dtype=np.float32)}
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 10
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action), self.t >= 10 + self.length, False, {}


def frames(stacked, channels, channel_axis):
    """The step index each stacked frame holds, oldest first."""
    stacked = np.moveaxis(stacked, channel_axis, 0)
    return [int(stacked[k * channels].flat[0]) for k in range(len(stacked) // channels)]


@pytest.mark.parametrize("shape, channel_axis", [((36, 36, 2), -1), ((2, 36, 36), 0)])
def test_b1_b3_history_of_images_stacks_channels_oldest_first_padded_with_the_first_frame(shape, channel_axis):
    env = VecHistory(DummyVecEnv([lambda: FrameEnv(shape, length=6)]), history_length=4)
    assert env.observation_space.shape[channel_axis] == 4 * 2  # channel stacking, as VecFrameStack
    obs = env.reset()
    assert frames(obs[0], 2, channel_axis) == [10, 10, 10, 10]  # B3: the first frame, repeated
    for _ in range(2):
        obs, _, _, _ = env.step(np.array([0]))
    assert frames(obs[0], 2, channel_axis) == [10, 10, 11, 12]
    for _ in range(4):
        obs, _, dones, infos = env.step(np.array([0]))
    assert dones[0] and frames(infos[0]["terminal_observation"], 2, channel_axis) == [13, 14, 15, 16]
    assert frames(obs[0], 2, channel_axis) == [10, 10, 10, 10]  # the next episode starts padded (B3)


@pytest.mark.parametrize("history_length", [1, 4])
@pytest.mark.parametrize("shape", [(36, 36, 2), (2, 36, 36)])
def test_b5_a_stored_history_is_the_state_before_the_step_not_after(shape, history_length):
    """
    B5: each transition pairs the history before a step with the one after. VecHistory returns a new
    array each step, so the one BlogDQN keeps to store with the next is never shifted under it (a
    channels-last history of one frame once came back as a view of the histories, and every stored
    state equalled its next state).
    """
    env = VecHistory(DummyVecEnv([lambda: FrameEnv(shape)]), history_length=history_length)
    before = env.reset()
    after, _, _, _ = env.step(np.array([0]))
    assert int(before.max()) == 10 and int(after.max()) == 11
    model = BlogDQN("CnnPolicy", FrameEnv(shape), history_length=history_length, learning_starts=20,
                    per_sample_updates=False, seed=0)
    model.learn(30)
    memory = model.replay_buffer
    n = memory.size()
    stored, next_stored = memory.observations[:n, 0], memory.next_observations[:n, 0]
    axes = tuple(range(1, stored.ndim))
    # Every frame holds its step index: each next state is one step on.
    assert (next_stored.max(axis=axes).astype(int) == stored.max(axis=axes).astype(int) + 1).all()


def test_b1_history_of_a_dict_stacks_each_key():
    env = VecHistory(DummyVecEnv([lambda: FrameEnv(dict_obs=True)]), history_length=3)
    assert env.observation_space["frame"].shape == (36, 36, 6) and env.observation_space["vec"].shape == (9,)
    env.reset()
    obs, _, _, _ = env.step(np.array([1]))
    assert frames(obs["frame"][0], 2, -1) == [10, 10, 11]
    assert obs["vec"][0].tolist() == [10.0] * 6 + [11.0] * 3


def test_b1_an_env_stacking_image_frames_is_the_history_not_stacked_twice():
    stacked = VecFrameStack(DummyVecEnv([lambda: FrameEnv((2, 36, 36))]), 4)
    model = BlogDQN("CnnPolicy", stacked, buffer_size=64, learning_starts=32, per_sample_updates=False)
    assert model.history_length == 1 and model.observation_space.shape == (8, 36, 36)
    with pytest.raises(BAD_INPUT, match=r"stacks 4 frames already.*history_length=1"):
        BlogDQN("CnnPolicy", stacked, history_length=4)
    with pytest.raises(BAD_INPUT, match=r"stacks 4 frames already"):
        VecHistory(stacked, history_length=4)
    with pytest.raises(BAD_INPUT, match="VecFrameStack around a VecHistory"):
        BlogDQN("CnnPolicy", VecFrameStack(VecHistory(DummyVecEnv([lambda: FrameEnv((2, 36, 36))]), 1), 2))


def test_b4_on_images_is_sb3s_division_by_255_and_standardize_inputs_switches_it():
    env = FrameEnv((2, 36, 36))
    scaled = BlogDQN("CnnPolicy", env, seed=0)
    raw = BlogDQN("CnnPolicy", env, seed=0, standardize_inputs=False)
    assert scaled.policy.normalize_images and not raw.policy.normalize_images
    obs = th.full((1, 8, 36, 36), 255, dtype=th.uint8)
    assert float(scaled.policy.q_net.extract_features(obs, scaled.policy.q_net.features_extractor).max()) >= 0
    preprocessed = [policy.q_net.features_extractor.cnn[0].weight.shape for policy in (scaled.policy, raw.policy)]
    assert preprocessed[0] == preprocessed[1]
    from stable_baselines3.common.preprocessing import preprocess_obs
    assert float(preprocess_obs(obs, scaled.observation_space, normalize_images=scaled.policy.normalize_images).max()) == 1.0
    assert float(preprocess_obs(obs, raw.observation_space, normalize_images=raw.policy.normalize_images).max()) == 255.0


def test_b12_cnn_policy_is_the_nature_network_glorot_initialized():
    model = BlogDQN("CnnPolicy", FrameEnv((2, 36, 36)), seed=0)
    q_net = model.policy.q_net
    assert type(q_net.features_extractor).__name__ == "NatureCNN" and len(list(q_net.q_net)) == 1  # net_arch=[]
    conv = q_net.features_extractor.cnn[0]
    limit = np.sqrt(6 / (conv.in_channels * 64 + conv.out_channels * 64))  # Glorot's limit for an 8x8 kernel
    assert float(conv.weight.abs().max()) <= limit and float(conv.bias.abs().max()) == 0.0


def test_images_learn_on_the_torch_path_without_a_fallback_warning(recwarn):
    model = BlogDQN("CnnPolicy", FrameEnv((2, 36, 36)), buffer_size=100, learning_starts=32, batch_size=4, seed=0)
    assert not model.uses_kernel
    assert not [w for w in recwarn if "reference path" in str(w.message)]
    model.learn(60)
    assert model._n_updates > 0  # one replay per stored transition (B11), each of batch_size per-sample fits


def test_b4_b6_dict_scales_vector_keys_on_the_warm_up_and_b7_draws_without_replacement():
    model = BlogDQN("MultiInputPolicy", FrameEnv(dict_obs=True), buffer_size=100, learning_starts=32, batch_size=8,
                    seed=0)
    assert isinstance(model.replay_buffer, DictHistoryReplayBuffer)
    model.learn(60)
    extractor = model.policy.q_net.features_extractor
    scaler = extractor.scalers["vec"]
    assert list(extractor.scalers) == ["vec"] and scaler.fitted and int(scaler.n_samples_seen) == 32
    warm_up = model.replay_buffer.observations["vec"][:32, 0]
    np.testing.assert_allclose(scaler.mean.numpy(), warm_up.mean(axis=0), rtol=1e-5)
    rows = model.replay_buffer.sample_indices(model.replay_buffer.size())
    assert sorted(rows.tolist()) == list(range(model.replay_buffer.size()))


@pytest.mark.parametrize("policy, env_fn", [("CnnPolicy", lambda: FrameEnv((36, 36, 2))),
                                            ("MultiInputPolicy", lambda: FrameEnv(dict_obs=True))])
def test_save_load_and_predict_on_the_unwrapped_envs_states(tmp_path, policy, env_fn):
    model = BlogDQN(policy, env_fn(), buffer_size=100, learning_starts=32, batch_size=4, seed=0,
                    per_sample_updates=False)
    model.learn(50)
    model.save(tmp_path / "model.zip")
    loaded = BlogDQN.load(tmp_path / "model.zip")
    env, wrapped = env_fn(), model.env
    obs, _ = env.reset()
    histories = wrapped.reset()
    state = None
    for _ in range(3):  # predict keeps the history of the raw states it is given (B1, B3)
        action, state = loaded.predict(obs, state=state, deterministic=True)
        expected, _ = model.predict(histories, deterministic=True)
        assert int(action) == int(expected[0])
        obs, *_ = env.step(int(action))
        histories, *_ = wrapped.step(np.array([int(action)]))


@pytest.mark.parametrize("space, match", [
    # MinAtar's own dtype, which gymnasium's annotations do not list.
    (spaces.Box(0, 1, (10, 10, 4), bool), r"uint8 in \[0, 255\].*MinAtarCNN"),  # type: ignore[arg-type]
    (spaces.Box(0, 255, (10, 10, 4), np.uint8), r"at least 36x36.*MinAtarCNN"),
])
def test_an_image_nature_cnn_cannot_read_names_the_extractor_that_can(space, match):
    env = FrameEnv(space.shape, dtype=space.dtype.type)
    with pytest.raises(BAD_INPUT, match=match):
        BlogDQN("CnnPolicy", env)
    BlogDQN("CnnPolicy", env, policy_kwargs=dict(features_extractor_class=MinAtarCNN))


def test_bad_image_and_dict_setups_are_refused_with_the_fix():
    with pytest.raises(BAD_INPUT, match=r"scaler_from_bounds.*division by 255"):
        BlogDQN("CnnPolicy", FrameEnv((2, 36, 36)), scaler_from_bounds=True)
    with pytest.raises(BAD_INPUT, match="normalize_images=True contradicts standardize_inputs=False"):
        BlogDQN("CnnPolicy", FrameEnv((2, 36, 36)), standardize_inputs=False,
                policy_kwargs=dict(normalize_images=True))
    nested = FrameEnv()
    nested.observation_space = spaces.Dict({"inner": spaces.Dict({"x": spaces.Box(0, 1, (2,))})})
    with pytest.raises(BAD_INPUT, match="nests a Dict at 'inner'"):
        BlogDQN("MultiInputPolicy", nested)
    stacked = FrameEnv()
    stacked.observation_space = spaces.Box(0, 255, (4, 36, 36, 2), np.uint8)
    with pytest.raises(BAD_INPUT, match="FrameStackObservation"):
        BlogDQN("CnnPolicy", stacked)
    with pytest.raises(BAD_INPUT, match="channels_order must be"):
        VecHistory(DummyVecEnv([lambda: FrameEnv()]), channels_order="middle")


def test_her_is_refused_by_design_with_the_reason():
    env = make_vec_env(lambda: SimpleMultiObsEnv())
    with pytest.raises(BAD_INPUT, match=r"HerReplayBuffer is refused by design.*compute_reward"):
        BlogDQN("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer)


def test_minatar_cnn_is_the_papers_network():
    extractor = MinAtarCNN(spaces.Box(0, 1, (10, 10, 4), bool))
    conv, linear = extractor.cnn[0], extractor.linear[0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (4, 16, (3, 3), (1, 1))
    assert (linear.in_features, linear.out_features) == (16 * 8 * 8, 128)
    assert extractor(th.ones(2, 10, 10, 4)).shape == (2, 128)
    assert isinstance(extractor.linear[1], nn.ReLU)


@pytest.mark.parametrize("policy, env_fn", [("CnnPolicy", lambda: FrameEnv((36, 36, 2))),
                                            ("MultiInputPolicy", lambda: FrameEnv(dict_obs=True))])
def test_untrusted_load_rebuilds_image_and_dict_models_without_unpickling(tmp_path, policy, env_fn):
    model = BlogDQN(policy, env_fn(), buffer_size=100, learning_starts=32, batch_size=4, seed=0,
                    per_sample_updates=False)
    model.learn(40)
    model.save(tmp_path / "model.zip")
    loaded = BlogDQN.load(tmp_path / "model.zip", env=env_fn(), trusted=False)
    assert type(loaded.policy) is type(model.policy) and loaded.observation_space == model.observation_space
    for name, tensor in model.policy.state_dict().items():
        assert th.equal(tensor, loaded.policy.state_dict()[name]), name
    if policy == "MultiInputPolicy":
        other = FrameEnv(dict_obs=True)
        other.observation_space = spaces.Dict({"frame": other.frame_space, "vec": spaces.Box(-5, 5, (4,), np.float32)})
        with pytest.raises(BAD_INPUT, match="pass the env the model was trained on"):
            BlogDQN.load(tmp_path / "model.zip", env=other, trusted=False)


def test_b11_per_sample_updates_on_images_warn_of_their_measured_cost(recwarn):
    with pytest.warns(UserWarning, match=r"per_sample_updates=True.*benchmarks/image_throughput.md.*per_sample_updates=False"):
        BlogDQN("CnnPolicy", FrameEnv((2, 36, 36)))
    BlogDQN("CnnPolicy", FrameEnv((2, 36, 36)), per_sample_updates=False)
    BlogDQN("MlpPolicy", "CartPole-v1")  # vectors: the kernel's per-sample updates are the fast path
    assert not [w for w in recwarn if "per_sample_updates=True" in str(w.message)]


def test_b1_boolean_frames_keep_their_channels_last_even_when_square():
    """MinAtar's Seaquest frames are 10x10x10: the channels are gymnasium's last, not SB3's guess of the smallest axis."""
    env = VecHistory(DummyVecEnv([lambda: FrameEnv((10, 10, 10), dtype=np.bool_)]), history_length=2)
    assert env.observation_space.shape == (10, 10, 20)
    first = VecHistory(DummyVecEnv([lambda: FrameEnv((10, 10, 10), dtype=np.bool_)]), 2, channels_order="first")
    assert first.observation_space.shape == (20, 10, 10)


def test_a_nan_in_a_dict_observation_is_named_and_n_step_returns_on_a_dict_are_refused():
    class NaNDictEnv(FrameEnv):
        def _obs(self):
            obs = super()._obs()
            obs["vec"][0] = np.nan if self.t >= 15 else obs["vec"][0]
            return obs

    model = BlogDQN("MultiInputPolicy", NaNDictEnv(dict_obs=True), per_sample_updates=False, seed=0)
    with pytest.raises(ValueError, match="non-finite next observation") as error:
        model.learn(30)
    # Each key by where its NaN is, not every pixel of the frame.
    message = str(error.value)
    assert "'frame': an array of shape (8, 36, 36), all finite" in message
    assert "nan" in message.split("'vec': ")[1].split("]")[0] and len(message) < 1000
    with pytest.raises(BAD_INPUT, match="n_steps=3 with Dict observations"):
        BlogDQN("MultiInputPolicy", FrameEnv(dict_obs=True), n_steps=3)
