"""Faults and bad input: nothing lost, every error actionable."""

import functools
import inspect
import json
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from helpers import InterruptAt
from hostile import time_limit
from stable_baselines3 import DQN
from stable_baselines3.common import callbacks as sb3_callbacks
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize

from sb3_blogdqn import (
    BlogDQN,
    CheckpointCallback,
    SetupError,
    SpaceError,
    load_checkpoint,
    make_blog_env,
    resume_from_checkpoint,
)
from sb3_blogdqn.common.checkpoints import checkpoint_file_name, find_checkpoint
from sb3_blogdqn.common.files import FolderInUseError

SMALL = dict(learning_starts=8, batch_size=8, seed=0)


def agent_state(model) -> dict:
    """Everything that defines the agent, as plain tensors and numbers (compared field by field)."""
    buffer = model.replay_buffer
    return {
        "policy": {name: value.detach().clone() for name, value in model.policy.state_dict().items()},
        "optimizer": {
            index: {key: value.clone() for key, value in state.items()}
            for index, state in model.policy.optimizer.state_dict()["state"].items()
        },
        "counters": {
            "num_timesteps": model.num_timesteps,
            "exploration_rate": model.exploration_rate,
            "_n_exploration_decisions": model._n_exploration_decisions,
            "_warmup_done": model._warmup_done,
            "_n_target_updates": model._n_target_updates,
            "_n_calls": model._n_calls,
            "_n_updates": model._n_updates,
            "_episode_steps": model._episode_steps.tolist(),
        },
        "replay_buffer": {
            "pos": buffer.pos,
            "full": buffer.full,
            **{name: th.as_tensor(getattr(buffer, name).copy())
               for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")},
        },
    }


def assert_same_state(restored: dict, saved: dict) -> None:
    assert restored["counters"] == saved["counters"]
    assert restored["policy"].keys() == saved["policy"].keys()
    for name, value in saved["policy"].items():  # weights of Q and Q̂, and the scaler's mean/scale/n_samples_seen
        assert th.equal(restored["policy"][name], value), name
    assert restored["optimizer"].keys() == saved["optimizer"].keys()
    for index, state in saved["optimizer"].items():  # Adam's step, exp_avg and exp_avg_sq, per parameter
        assert state.keys() == restored["optimizer"][index].keys()
        for key, value in state.items():
            assert th.equal(restored["optimizer"][index][key], value), (index, key)
    for name, value in saved["replay_buffer"].items():
        restored_value = restored["replay_buffer"][name]
        assert th.equal(restored_value, value) if isinstance(value, th.Tensor) else restored_value == value, name


TRAINER = """
import os, sys
import torch as th
from sb3_blogdqn import BlogDQN, CheckpointCallback

{agent_state}

class SnapshotThenCheckpoint(CheckpointCallback):
    # Writes, atomically and *before* the checkpoint, the state the checkpoint is about to hold.
    def save(self):
        path = os.path.join(self.save_path, f"expected_{{self.model.num_timesteps}}.pt")
        th.save(agent_state(self.model), path + ".tmp")
        os.replace(path + ".tmp", path)
        return super().save()

model = BlogDQN("MlpPolicy", "CartPole-v1", learning_starts=8, batch_size=8, buffer_size=300,
                target_update_interval=20, seed=3)
model.learn(10**7, callback=SnapshotThenCheckpoint(save_freq=150, save_path=sys.argv[1], save_replay_buffer=True))
"""


class Recorder(BaseCallback):
    """The actions, rewards and observations of every step learn() takes."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[np.ndarray] = []

    def _on_step(self) -> bool:
        self.steps.append(np.concatenate([self.locals["actions"].ravel(), self.locals["rewards"].ravel(),
                                          self.locals["new_obs"].ravel()]))
        return True


def test_kill_and_resume_from_checkpoint(tmp_path):
    """SIGKILL mid-run; the newest complete checkpoint restores the whole agent, twice alike."""
    script = tmp_path / "train.py"
    script.write_text(TRAINER.format(agent_state=textwrap.dedent(inspect.getsource(agent_state))))
    run_dir = tmp_path / "checkpoints"
    process = subprocess.Popen([sys.executable, str(script), str(run_dir)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(run_dir.glob("expected_*.pt"))) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the trainer wrote no checkpoints"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()

    # Damaged copies of a complete checkpoint (the kill may have cut the newest one: the one before it),
    # newer than any: a zip of SB3's callback cut by a kill, and sets whose files were cut or lost after
    # the save (sizes that differ from the manifest's, a missing file).
    complete = sorted(int(path.stem.split("_")[1]) for path in run_dir.glob("expected_*.pt"))[-2]
    data = (run_dir / checkpoint_file_name("rl_model", "model", complete)).read_bytes()
    (run_dir / "rl_model_999000_steps.zip").write_bytes(data[: len(data) // 2])
    shutil.copy(run_dir / checkpoint_file_name("rl_model", "replay_buffer", complete),
                run_dir / "rl_model_replay_buffer_999000_steps.pkl")
    copy_checkpoint(run_dir, complete, 999900)["replay_buffer"].unlink()
    cut = copy_checkpoint(run_dir, complete, 999990)["replay_buffer"]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 3])
    (run_dir / ".rl_model_999999_steps.zip.123.tmp").write_bytes(data[:100])  # a temporary never renamed

    with pytest.warns(UserWarning, match="skipped the newer, incomplete checkpoint") as record:
        model = load_checkpoint(run_dir, make_blog_env("CartPole-v1"))
    message = next(str(w.message) for w in record if "skipped the newer" in str(w.message))
    assert "rl_model_999000_steps.zip: rl_model_999000_steps.zip is truncated or corrupted" in message
    assert "rl_model_manifest_999900_steps.json: rl_model_replay_buffer_999900_steps.pkl is missing" in message
    assert "rl_model_manifest_999990_steps.json: rl_model_replay_buffer_999990_steps.pkl has" in message
    assert "999999" not in message

    # The newest complete checkpoint (the very newest may have been cut by the kill itself).
    saved_steps = sorted(int(path.stem.split("_")[1]) for path in run_dir.glob("expected_*.pt"))
    assert model.num_timesteps in saved_steps and model.num_timesteps >= saved_steps[-2]
    saved = th.load(run_dir / f"expected_{model.num_timesteps}.pt", weights_only=False)
    assert_same_state(agent_state(model), saved)
    assert model._warmup_done and model._n_target_updates > 0 and model.exploration_rate < 1.0

    runs = []
    for _ in range(2):
        recorder = Recorder()
        with pytest.warns(UserWarning, match="skipped the newer"):
            resumed = resume_from_checkpoint(run_dir, make_blog_env("CartPole-v1"), model.num_timesteps + 500,
                                             callback=recorder, seed=7)
        assert resumed.seed == 7
        runs.append((np.array(recorder.steps), agent_state(resumed)))
        assert resumed.num_timesteps == model.num_timesteps + 500
        assert resumed._n_exploration_decisions > saved["counters"]["_n_exploration_decisions"]
        assert resumed._n_updates > saved["counters"]["_n_updates"]
    (steps_a, state_a), (steps_b, state_b) = runs
    assert steps_a.shape[0] == 500
    np.testing.assert_array_equal(steps_a, steps_b)
    assert_same_state(state_a, state_b)


def copy_checkpoint(directory: Path, num_timesteps: int, new_num_timesteps: int) -> dict[str, Path]:
    """The files and manifest of the checkpoint at ``num_timesteps`` as one at ``new_num_timesteps``; the copies by role."""
    manifest = json.loads((directory / checkpoint_file_name("rl_model", "manifest", num_timesteps)).read_text())
    copies = {}
    for role, entry in manifest["files"].items():
        copies[role] = directory / checkpoint_file_name("rl_model", role, new_num_timesteps)
        shutil.copy(directory / entry["name"], copies[role])
        entry["name"] = copies[role].name
    manifest["num_timesteps"] = new_num_timesteps
    (directory / checkpoint_file_name("rl_model", "manifest", new_num_timesteps)).write_text(json.dumps(manifest))
    return copies


def visible_files(directory: Path) -> list[str]:
    """The names of the files in ``directory`` but hidden ones (the callback's lock file)."""
    return sorted(path.name for path in directory.iterdir() if not path.name.startswith("."))


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    """sb3_blogdqn's CheckpointCallback every 100 steps of a 350-step run: checkpoints at 100, 200 and 300."""
    directory = tmp_path_factory.mktemp("checkpoints")
    BlogDQN("MlpPolicy", "CartPole-v1", **SMALL).learn(350, callback=CheckpointCallback(100, directory,
                                                                                      save_replay_buffer=True))
    return directory


def test_checkpoint_callback_keeps_every_checkpoint_or_the_last(checkpoint_dir, tmp_path):
    assert visible_files(checkpoint_dir) == sorted(
        checkpoint_file_name("rl_model", role, steps)
        for role in ("model", "replay_buffer", "manifest") for steps in (100, 200, 300)
    )
    manifest = json.loads((checkpoint_dir / "rl_model_manifest_300_steps.json").read_text())
    assert manifest["algorithm"] == "BlogDQN" and manifest["num_timesteps"] == 300 and manifest["extra"] == {}
    assert manifest["files"]["model"] == {"name": "rl_model_300_steps.zip",
                                          "bytes": (checkpoint_dir / "rl_model_300_steps.zip").stat().st_size}
    BlogDQN("MlpPolicy", "CartPole-v1", **SMALL).learn(350, callback=CheckpointCallback(
        100, tmp_path, name_prefix="last", save_replay_buffer=True, keep_last=True))
    assert visible_files(tmp_path) == [
        "last_300_steps.zip", "last_manifest_300_steps.json", "last_replay_buffer_300_steps.pkl"]


class Explodes:
    """Unpickling it raises: a replay buffer made of it proves that a check never unpickles."""

    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise AssertionError("the replay buffer was unpickled")


def test_completeness_is_decided_by_sizes_without_unpickling(checkpoint_dir, tmp_path):
    shutil.copytree(checkpoint_dir, tmp_path, dirs_exist_ok=True)
    explosive = pickle.dumps(Explodes())
    buffer_300 = tmp_path / "rl_model_replay_buffer_300_steps.pkl"
    buffer_300.write_bytes(explosive + b"\0" * (buffer_300.stat().st_size - len(explosive)))  # the listed size
    assert find_checkpoint(tmp_path).num_timesteps == 300  # complete by its manifest, and not unpickled
    buffer_300.write_bytes(explosive)
    with pytest.warns(UserWarning, match=r"rl_model_replay_buffer_300_steps\.pkl has \d+ bytes, its manifest lists"):
        assert find_checkpoint(tmp_path).num_timesteps == 200


def test_a_save_cut_before_its_manifest_counts_only_if_it_has_no_scaler_statistics(checkpoint_dir, tmp_path):
    shutil.copytree(checkpoint_dir, tmp_path, dirs_exist_ok=True)
    (tmp_path / "rl_model_manifest_300_steps.json").unlink()
    # Its zip and replay buffer were renamed into place whole: a checkpoint as SB3's callback writes.
    with pytest.warns(UserWarning, match="rl_model_300_steps.zip has no manifest"):
        assert find_checkpoint(tmp_path).num_timesteps == 300
    # Statistics the manifest would have listed: resuming without them would standardize otherwise.
    (tmp_path / "rl_model_scaler_300_steps.json").write_text('{"mean": [0.0], "scale": [1.0], "n_samples_seen": 1}')
    with pytest.warns(UserWarning, match="rl_model_300_steps.zip: its manifest is missing"):
        assert find_checkpoint(tmp_path).num_timesteps == 200


def test_a_checkpoint_of_sb3s_own_callback_resumes_with_a_warning(tmp_path):
    BlogDQN("MlpPolicy", "CartPole-v1", **SMALL).learn(
        250, callback=sb3_callbacks.CheckpointCallback(100, str(tmp_path), save_replay_buffer=True))
    with pytest.warns(UserWarning, match=r"rl_model_200_steps\.zip has no manifest.*cannot be checked without loading"):
        resumed = resume_from_checkpoint(tmp_path, make_blog_env("CartPole-v1"), total_timesteps=300)
    assert resumed.num_timesteps == 300


def test_no_complete_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "rl_model_100_steps.zip").write_bytes(b"PK\x03\x04 cut here")
    with pytest.raises(FileNotFoundError, match=r"No complete checkpoint.*rl_model_100_steps.zip"):
        load_checkpoint(tmp_path, make_blog_env("CartPole-v1"))


@pytest.mark.parametrize("save_freq", [0, -100, 2.5, True])
def test_save_freq_must_be_a_whole_number_of_steps(save_freq, tmp_path):
    """0 divided by zero at the first save; SB3's callback fails the same way, mid-run."""
    with pytest.raises(ValueError, match="save_freq must be a whole number of env steps >= 1"):
        CheckpointCallback(save_freq, tmp_path)


SLOW_SAVING_TRAINER = """
import sys, time
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from sb3_blogdqn.common import checkpoints
from sb3_blogdqn.common.files import write_atomically


def slow_write_atomically(path, write):
    # Each file lingers under its temporary name: most moments of a kill land inside a save.
    def slowly(temporary):
        write(temporary)
        time.sleep(0.03)

    write_atomically(path, slowly)


checkpoints.write_atomically = slow_write_atomically


class Announcing(checkpoints.CheckpointCallback):
    def save(self):
        manifest = super().save()
        print(self.model.num_timesteps, flush=True)
        return manifest


env = make_vec_env("CartPole-v1", seed=0)
try:
    model = checkpoints.find_checkpoint(sys.argv[1]).load(env, DQN)
except FileNotFoundError:
    model = DQN("MlpPolicy", env, learning_starts=0, buffer_size=1000, seed=0)
# A save at every rollout (DQN's train_freq is 4): the process spends most of its time saving.
model.learn(10**7, callback=Announcing(4, sys.argv[1], save_replay_buffer=True, keep_last=True), reset_num_timesteps=False)
"""


def test_a_kill_at_any_moment_of_saving_leaves_the_newest_complete_checkpoint_loadable(tmp_path):
    """SIGKILL at random moments of a loop of slow saves (keep_last deleting the previous one), resuming after each."""
    script, folder = tmp_path / "train.py", tmp_path / "checkpoints"
    script.write_text(SLOW_SAVING_TRAINER)
    moments = random.Random(0)
    resumed_at = 0
    for _ in range(3):
        with open(tmp_path / "stderr.txt", "w") as stderr, time_limit(60):
            process = subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE, stderr=stderr,
                                       text=True)
            announced = [int(process.stdout.readline()) for _ in range(3)]
            time.sleep(moments.uniform(0, 0.1))
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stdout.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the save the kill cut short is skipped with a warning
            checkpoint = find_checkpoint(folder)
        assert checkpoint.num_timesteps >= announced[-1] > resumed_at, (tmp_path / "stderr.txt").read_text()
        model = checkpoint.load(make_vec_env("CartPole-v1"), DQN)
        assert model.num_timesteps == checkpoint.num_timesteps
        assert model.replay_buffer.size() == min(checkpoint.num_timesteps, 1000)
        resumed_at = checkpoint.num_timesteps


HOLDING_TRAINER = """
import sys
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback
from sb3_blogdqn.common.checkpoints import CheckpointCallback


class Training(BaseCallback):
    def _on_training_start(self):
        print("training", flush=True)

    def _on_step(self):
        return True


callback = [CheckpointCallback(100, sys.argv[1], save_replay_buffer=True), Training()]
DQN("MlpPolicy", "CartPole-v1", learning_starts=0, buffer_size=1000).learn(10**7, callback=callback)
"""


def test_a_second_process_writing_checkpoints_in_a_folder_in_use_is_refused(tmp_path):
    """Two resumes of one run wrote each other's checkpoints: the second one stops at once, saying why."""
    process = subprocess.Popen([sys.executable, "-c", HOLDING_TRAINER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        with time_limit(60):
            assert process.stdout.readline() == "training\n"
        model = DQN("MlpPolicy", "CartPole-v1", learning_starts=0, buffer_size=1000)
        with pytest.raises(FolderInUseError) as info:
            model.learn(200, callback=CheckpointCallback(100, tmp_path, save_replay_buffer=True))
        assert model.num_timesteps == 0  # before its first step
        message = str(info.value)
        assert f"{tmp_path} is being written by process {process.pid} on " in message
        assert "Wait for it to end, or give this run another save_path." in message
        assert info.value.folder == tmp_path
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    model.learn(200, callback=CheckpointCallback(100, tmp_path, save_replay_buffer=True))  # a killed process holds nothing
    assert model.num_timesteps == 200


def test_a_callback_takes_its_folder_over_from_one_whose_learn_raised(tmp_path):
    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=0, buffer_size=1000, train_freq=1)
    interrupted = CheckpointCallback(100, tmp_path, save_replay_buffer=True)
    with pytest.raises(KeyboardInterrupt):
        model.learn(300, callback=[interrupted, InterruptAt(150)])
    model.learn(150, callback=CheckpointCallback(100, tmp_path, save_replay_buffer=True), reset_num_timesteps=False)
    assert find_checkpoint(tmp_path).num_timesteps == 200
    # The interrupted one, used again, takes it back.
    model.learn(150, callback=interrupted, reset_num_timesteps=False)
    assert find_checkpoint(tmp_path).num_timesteps == 400


def test_ctrl_c_during_learn_leaves_a_model_that_saves_loads_and_continues(tmp_path):
    """Ctrl-C lands between env.step() and storing its transition (the callback's spot)."""
    model = BlogDQN("MlpPolicy", "CartPole-v1", **SMALL)
    with pytest.raises(KeyboardInterrupt):
        model.learn(1000, callback=InterruptAt(57))
    model.save(tmp_path / "interrupted.zip")
    model.save_replay_buffer(tmp_path / "interrupted.pkl")
    loaded = BlogDQN.load(tmp_path / "interrupted.zip", env=make_blog_env("CartPole-v1"))
    loaded.load_replay_buffer(tmp_path / "interrupted.pkl")
    assert_same_state(agent_state(loaded), agent_state(model))
    # Both continue from fresh episodes: no stored transition spans the interrupted step.
    for continued in (model, loaded):
        size = continued.replay_buffer.size()
        continued.learn(100, reset_num_timesteps=False)
        rows = np.arange(size, continued.replay_buffer.size())
        buffer = continued.replay_buffer
        assert len(rows) > 50
        np.testing.assert_array_equal(buffer.next_observations[rows, 0, :-4], buffer.observations[rows, 0, 4:])


def test_sigint_to_a_training_process_leaves_a_loadable_model(tmp_path):
    """Ctrl-C as a real signal: the trainer saves in its KeyboardInterrupt handler."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import signal
        import sys
        from sb3_blogdqn import BlogDQN
        from stable_baselines3.common.callbacks import BaseCallback

        # A suite started in the background (`cmd &`) inherits SIGINT ignored; Ctrl-C's own handler here.
        signal.signal(signal.SIGINT, signal.default_int_handler)

        class Ready(BaseCallback):
            def _on_step(self):
                if self.n_calls == 50:
                    print("ready", flush=True)
                return True

        model = BlogDQN("MlpPolicy", "CartPole-v1", learning_starts=8, batch_size=8, seed=0)
        try:
            model.learn(10**7, callback=Ready())
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the save short
            model.save(sys.argv[1])
            print("saved", model.num_timesteps, flush=True)
    """))
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "model.zip")],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and out.startswith("saved"), out
    model = BlogDQN.load(tmp_path / "model.zip", env=make_blog_env("CartPole-v1"))
    assert model.num_timesteps == int(out.split()[1]) and model._warmup_done
    model.learn(50, reset_num_timesteps=False)


# ------------------------------------------------------------------------------ bad files


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "blogdqn.zip"
    BlogDQN("MlpPolicy", "CartPole-v1", **SMALL).learn(60).save(path)
    return path


def test_truncated_zip_names_the_file(saved_model, tmp_path):
    cut = tmp_path / "cut.zip"
    cut.write_bytes(saved_model.read_bytes()[:-500])
    with pytest.raises(SetupError, match=r"(?s)cut\.zip.*truncated or corrupted"):
        BlogDQN.load(cut)


def test_corrupted_zip_names_the_file(saved_model, tmp_path):
    corrupted = tmp_path / "corrupted.zip"
    data = bytearray(saved_model.read_bytes())
    with zipfile.ZipFile(saved_model) as archive:  # flip bytes inside the weights' compressed data
        info = archive.getinfo("policy.pth")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 50
    data[start : start + 64] = bytes(255 - byte for byte in data[start : start + 64])
    corrupted.write_bytes(bytes(data))
    with pytest.raises(SetupError, match=r"(?s)corrupted\.zip.*truncated or corrupted"):
        BlogDQN.load(corrupted, env=make_blog_env("CartPole-v1"))


def test_zip_of_another_algorithm_is_refused(tmp_path):
    DQN("MlpPolicy", "CartPole-v1", learning_starts=0).save(tmp_path / "sb3_dqn.zip")
    for env in (None, make_blog_env("CartPole-v1"), gym.make("CartPole-v1")):
        with pytest.raises(SetupError, match=r"(?s)sb3_dqn\.zip.*saved by another algorithm.*DQNPolicy"):
            BlogDQN.load(tmp_path / "sb3_dqn.zip", env=env)


def test_zip_missing_agent_state_is_refused(saved_model, tmp_path):
    stripped = tmp_path / "stripped.zip"
    with zipfile.ZipFile(saved_model) as source, zipfile.ZipFile(stripped, "w") as target:
        for name in source.namelist():
            if name != "policy.optimizer.pth":  # an optimizer state SB3 would silently re-create
                target.writestr(name, source.read(name))
    with pytest.raises(SetupError, match=r"(?s)stripped\.zip.*policy\.optimizer\.pth"):
        BlogDQN.load(stripped)


def test_history_length_mismatch_names_file_and_lengths(saved_model):
    with pytest.raises(SetupError, match=r"(?s)blogdqn\.zip.*history length mismatch.*4 states.*holds 2"):
        BlogDQN.load(saved_model, env=make_blog_env("CartPole-v1", history_length=2))


def test_observation_size_mismatch_names_file_and_sizes(saved_model):
    with pytest.raises(SpaceError, match=r"(?s)blogdqn\.zip.*observation size mismatch.*size 4.*size 6"):
        BlogDQN.load(saved_model, env=gym.make("Acrobot-v1"))
    with pytest.raises(SpaceError, match=r"(?s)blogdqn\.zip.*action space mismatch"):
        BlogDQN.load(saved_model, env=_three_actions_cartpole())


def _three_actions_cartpole() -> gym.Env:
    env = gym.make("CartPole-v1")
    env.action_space = gym.spaces.Discrete(3)
    return env


# ------------------------------------------------------------------------------ non-finite values


class Poison(gym.Wrapper):
    """CartPole whose ``at``-th step returns NaN in the state (``what="obs"``) or an inf reward."""

    def __init__(self, env: gym.Env, at: int, what: str) -> None:
        super().__init__(env)
        self.at, self.what, self.n_steps = at, what, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.n_steps += 1
        if self.n_steps % self.at == 0:
            if self.what == "obs":
                obs = obs.copy()
                obs[2] = np.nan
            else:
                reward = np.inf
        return obs, reward, terminated, truncated, info


def poisoned_env(at: int, what: str):
    return make_vec_env("CartPole-v1", n_envs=1, seed=0, wrapper_class=functools.partial(Poison, at=at, what=what))


def all_weights_finite(model) -> bool:
    tensors = list(model.policy.state_dict().values())
    tensors += [value for state in model.policy.optimizer.state.values() for value in state.values()]
    return all(bool(th.isfinite(tensor).all()) for tensor in tensors)


@pytest.mark.parametrize("what", ["obs", "reward"])
def test_nonfinite_values_raise_by_default_and_never_reach_the_weights(what):
    model = BlogDQN("MlpPolicy", poisoned_env(at=40, what=what), **SMALL)
    kind = "next observation" if what == "obs" else "reward"
    with pytest.raises(ValueError, match=f"(?s)non-finite {kind}.*on_nonfinite='skip'"):
        model.learn(500)
    assert model.policy.scaler.fitted  # the fault came after the warm-up
    assert all_weights_finite(model)
    assert np.isfinite(model.replay_buffer.observations).all() and np.isfinite(model.replay_buffer.rewards).all()


@pytest.mark.parametrize("what", ["obs", "reward"])
def test_nonfinite_values_skipped_with_a_warning(what):
    model = BlogDQN("MlpPolicy", poisoned_env(at=17, what=what), on_nonfinite="skip", **SMALL)
    with pytest.warns(RuntimeWarning, match="on_nonfinite='skip'"):
        model.learn(400)
    assert model.n_rejected_nonfinite > 0
    buffer = model.replay_buffer
    rows = slice(0, buffer.size())
    for array in (buffer.observations, buffer.next_observations, buffer.rewards):
        assert np.isfinite(array[rows]).all()
    assert all_weights_finite(model)
    assert np.isfinite(model.q_net(th.as_tensor(buffer.observations[rows, 0])).detach().numpy()).all()


# ------------------------------------------------------------------------------ construction checks


def test_construction_lists_all_problems_at_once():
    env = VecNormalize(VecFrameStack(DummyVecEnv([lambda: gym.make("CartPole-v1")]), 2))
    with pytest.raises(SetupError) as info:
        BlogDQN("MlpPolicy", env, buffer_size=10, learning_starts=20, batch_size=32, gamma=1.5, tau=2.0)
    message = str(info.value)
    assert "(5 problems)" in message
    for fragment in ("max(learning_starts=20, batch_size=32) transitions exceeds buffer_size=10", "tau must be",
                     "gamma must be", "wrapped in VecFrameStack", "wrapped in VecNormalize"):
        assert fragment in message
    assert not isinstance(info.value, TypeError)


def test_bad_spaces_and_sizes_together():
    for env in ("Pendulum-v1", gym.make("Pendulum-v1")):
        with pytest.raises(SetupError) as info:
            BlogDQN("MlpPolicy", env, history_length=0, batch_size=0, on_nonfinite="ignore")
        assert "(4 problems)" in str(info.value)
        for fragment in ("history_length must be an integer >= 1", "batch_size must be",
                         "on_nonfinite must be one of", "Discrete action space"):
            assert fragment in str(info.value)
        assert not isinstance(info.value, TypeError)  # not only the spaces are wrong


def test_only_space_problems_raise_a_type_error():
    with pytest.raises(TypeError, match=r"(?s)\(2 problems\).*Discrete action space.*flat Box"):
        BlogDQN("MlpPolicy", _matrix_continuous_env())
    with pytest.raises(SpaceError, match="Discrete action space"):
        make_blog_env("Pendulum-v1")


def _matrix_continuous_env() -> gym.Env:
    class MatrixEnv(gym.Env):
        observation_space = gym.spaces.Box(0, 1, (8, 3), np.float32)
        action_space = gym.spaces.Box(-1, 1, (2,))

        def reset(self, *, seed=None, options=None):
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, False, {}

    return MatrixEnv()


def test_unsaved_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        BlogDQN.load(tmp_path / "nothing.zip")
