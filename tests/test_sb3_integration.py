"""BlogDQN inside the SB3 ecosystem: callbacks, evaluation, logging, save/load, VecEnvs."""

import csv
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure

from sb3_blogdqn import BlogDQN, StopTrainingOnMaxLearningEpisodes, make_blog_env

# Small warm-up and minibatch keep the per-sample updates cheap; the rules are unchanged.
SMALL = dict(learning_starts=8, batch_size=8, seed=0)


class EpisodeRewards(BaseCallback):
    """Collects each finished episode's Monitor return, in order (with ``learning_only``, not the warm-up's, B6)."""

    model: BlogDQN  # follows a BlogDQN: typed so that its own attributes (warming_up, q_net, ...) check

    def __init__(self, learning_only: bool = False) -> None:
        super().__init__()
        self.learning_only = learning_only
        self.rewards: list[float] = []

    def _on_step(self) -> bool:
        if self.learning_only and self.model.warming_up:
            return True
        for info in self.locals["infos"]:
            if "episode" in info:
                self.rewards.append(float(info["episode"]["r"]))
        return True


def test_evaluate_policy_on_make_blog_env():
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.learn(200)
    mean, std = evaluate_policy(model, make_blog_env("CartPole-v1", seed=1), n_eval_episodes=3)
    assert np.isfinite(mean) and mean >= 8 and std >= 0


def test_eval_callback_writes_evaluations(tmp_path):
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    callback = EvalCallback(make_blog_env("CartPole-v1", seed=5), eval_freq=100, n_eval_episodes=2,
                            log_path=str(tmp_path), best_model_save_path=str(tmp_path), verbose=0)
    model.learn(300, callback=callback)
    evaluations = np.load(tmp_path / "evaluations.npz")
    # Callbacks see the warm-up's steps (B6) as SB3's DQN's learning_starts: evaluations at multiples of eval_freq.
    assert list(evaluations["timesteps"]) == [100, 200, 300]
    assert evaluations["results"].shape[1] == 2
    assert BlogDQN.load(tmp_path / "best_model.zip").history_length == 4


def test_checkpoint_callback_saves_loadable_models(tmp_path):
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.learn(250, callback=CheckpointCallback(100, str(tmp_path), name_prefix="blog", save_replay_buffer=True))
    zips = sorted(p.name for p in tmp_path.glob("blog_*_steps.zip"))
    assert len(zips) == 2
    loaded = BlogDQN.load(tmp_path / zips[-1])
    loaded.load_replay_buffer(tmp_path / zips[-1].replace("blog_", "blog_replay_buffer_").replace(".zip", ".pkl"))
    assert loaded.replay_buffer.size() > 0


def test_stop_training_on_max_learning_episodes_counts_learning_episodes_only():
    # A warm-up of several random episodes (about 20 steps, 17 stored transitions each, B2).
    model = BlogDQN("MlpPolicy", "CartPole-v1", learning_starts=64, batch_size=8, seed=0)
    episodes, learning_episodes = EpisodeRewards(), EpisodeRewards(learning_only=True)
    model.learn(10**6, callback=[episodes, learning_episodes, StopTrainingOnMaxLearningEpisodes(3)])
    # The warm-up's random episodes are not among the counted ones (B6): exactly 3 learning episodes.
    assert len(learning_episodes.rewards) == 3
    assert len(episodes.rewards) > 3  # callbacks see the warm-up's episodes too


def test_sb3_stop_training_on_max_episodes_counts_every_episode():
    # A warm-up longer than two random CartPole episodes (about 20 steps each): SB3's callback counts them.
    model = BlogDQN("MlpPolicy", "CartPole-v1", learning_starts=200, batch_size=8, seed=0)
    episodes = EpisodeRewards()
    with pytest.warns(UserWarning, match="still in the warm-up"):
        model.learn(10**6, callback=[episodes, StopTrainingOnMaxEpisodes(2)])
    assert len(episodes.rewards) == 2 and model.warming_up


def test_stop_training_on_reward_threshold():
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    stop = StopTrainingOnRewardThreshold(reward_threshold=0.0)  # any evaluation passes
    model.learn(10**6, callback=EvalCallback(make_blog_env("CartPole-v1"), eval_freq=50, n_eval_episodes=1,
                                             callback_on_new_best=stop))
    assert model.num_timesteps == 50


def test_progress_bar_is_drawn_and_reaches_its_total(capsys):
    # The warm-up's steps (B6) run in SB3's loop, so the bar counts them too.
    BlogDQN("MlpPolicy", "CartPole-v1", **SMALL).learn(60, progress_bar=True)
    # SB3's bar is tqdm.rich, which redraws "done/total" on stdout; the last drawing is what stays on screen.
    shown = capsys.readouterr().out
    counts = re.findall(r"(\d+)/(\d+)", shown)
    assert "━" in shown and counts, shown
    done, total = map(int, counts[-1])
    assert total == 60 and done == total, shown


def test_logger_keys_and_tensorboard(tmp_path):
    model = BlogDQN("MlpPolicy", "CartPole-v1", tensorboard_log=str(tmp_path / "tb"), **SMALL)
    model.set_logger(configure(str(tmp_path / "log"), ["csv", "tensorboard"]))
    model.learn(400, log_interval=1)
    with open(tmp_path / "log" / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    keys = set(rows[-1])
    assert {"rollout/exploration_rate", "train/loss", "train/n_updates"} <= keys
    n_features = model.observation_space.shape[0]
    assert {f"scaler/mean_{i}" for i in range(n_features)} <= keys
    assert {f"scaler/std_{i}" for i in range(n_features)} <= keys
    assert float(rows[-1]["scaler/mean_0"]) == pytest.approx(model.policy.scaler.mean[0].item(), rel=1e-6)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "log"))
    # tensorboard_log alone (no custom logger) creates a BlogDQN_1 run folder.
    BlogDQN("MlpPolicy", "CartPole-v1", tensorboard_log=str(tmp_path / "tb"), **SMALL).learn(30)
    assert (tmp_path / "tb" / "BlogDQN_1").is_dir()


def test_save_and_load_in_a_fresh_process_gives_same_actions(tmp_path):
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.learn(300)
    model.save(tmp_path / "model")
    env = make_blog_env("CartPole-v1", seed=3)
    obs = np.stack([env.reset()[0]] + [env.step(np.array([i % 2]))[0][0] for i in range(20)])
    np.save(tmp_path / "obs.npy", obs)
    expected = model.predict(obs, deterministic=True)[0]
    script = textwrap.dedent(f"""
        import numpy as np
        from stable_baselines3.common.evaluation import evaluate_policy
        from sb3_blogdqn import BlogDQN, StopTrainingOnMaxLearningEpisodes, make_blog_env
        model = BlogDQN.load({str(tmp_path / "model.zip")!r})
        assert model.policy.scaler.fitted, "scaler statistics must travel inside the zip"
        actions = model.predict(np.load({str(tmp_path / "obs.npy")!r}), deterministic=True)[0]
        evaluate_policy(model, make_blog_env("CartPole-v1", seed=3), n_eval_episodes=1)
        print(",".join(map(str, actions)))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == ",".join(map(str, expected))


def test_save_and_load_replay_buffer(tmp_path):
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.learn(100)
    model.save_replay_buffer(tmp_path / "buffer")
    other = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    other.load_replay_buffer(tmp_path / "buffer")
    n = model.replay_buffer.size()
    assert other.replay_buffer.size() == n
    np.testing.assert_array_equal(other.replay_buffer.observations[:n], model.replay_buffer.observations[:n])


def agent_state(model: BlogDQN) -> dict:
    return dict(
        decisions=model._n_exploration_decisions,
        eps=model.exploration_rate,
        target_updates=model._n_target_updates,
        n_updates=model._n_updates,
        warmup_done=model._warmup_done,
    )


def test_learn_again_continues_epsilon_and_counters():
    model = BlogDQN("MlpPolicy", "CartPole-v1", exploration_decisions=400, **SMALL)
    model.learn(150)
    before = agent_state(model)
    model.learn(150, reset_num_timesteps=False)
    after = agent_state(model)
    assert model.num_timesteps == 300  # the warm-up is part of the first call's budget, as learning_starts is in SB3
    assert after["decisions"] > before["decisions"] and after["eps"] < before["eps"]
    assert after["target_updates"] > before["target_updates"] and after["n_updates"] > before["n_updates"]
    # A plain learn() (reset_num_timesteps=True) restarts the step count, not ε (B8 counts decisions).
    model.learn(100)
    assert model._n_exploration_decisions > after["decisions"]
    assert model.exploration_rate < after["eps"]


def test_load_then_learn_continues_epsilon_and_counters(tmp_path):
    model = BlogDQN("MlpPolicy", "CartPole-v1", exploration_decisions=400, **SMALL)
    model.learn(150)
    model.save(tmp_path / "model")
    saved = agent_state(model)
    loaded = BlogDQN.load(tmp_path / "model", env=make_blog_env("CartPole-v1"))
    assert agent_state(loaded) == saved
    loaded.learn(100)  # without its replay buffer it refills the memory by random play, keeping the scaler
    assert not loaded.warming_up and loaded.replay_buffer.size() > SMALL["learning_starts"]
    assert loaded._n_exploration_decisions > saved["decisions"]
    assert loaded.exploration_rate < saved["eps"]
    assert loaded._n_target_updates > saved["target_updates"]
    th.testing.assert_close(loaded.policy.scaler.mean, model.policy.scaler.mean)


def test_load_accepts_raw_env_and_adds_the_history(tmp_path):
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.save(tmp_path / "model")
    import gymnasium as gym

    loaded = BlogDQN.load(tmp_path / "model", env=gym.make("CartPole-v1"))
    assert loaded.get_env().observation_space.shape == (16,)


def test_several_envs_keep_their_own_histories():
    env = make_blog_env("CartPole-v1", n_envs=3, seed=0)
    model = BlogDQN("MlpPolicy", env, **SMALL)
    episodes = EpisodeRewards()
    model.learn(600, callback=episodes)
    assert model.n_envs == 3 and len(model._episode_steps) == 3
    assert len(episodes.rewards) > 3
    # every stored transition has a full history whose next history is itself shifted by one state (B5)
    n = model.replay_buffer.size()
    obs = model.replay_buffer.observations[:n, 0]
    next_obs = model.replay_buffer.next_observations[:n, 0]
    np.testing.assert_array_equal(next_obs[:, :-4], obs[:, 4:])


def test_same_seed_same_episode_rewards_over_2000_steps():
    def run() -> list[float]:
        episodes = EpisodeRewards()
        BlogDQN("MlpPolicy", "CartPole-v1", seed=7).learn(2000, callback=episodes)
        return episodes.rewards

    first, second = run(), run()
    assert len(first) > 5
    assert first == second
