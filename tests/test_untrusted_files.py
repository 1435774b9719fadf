"""
Files that must not run code, and saves that a kill must not corrupt.

A hostile file here is one whose pickle, when unpickled, appends a line to a marker file: the
trace of code run from the file. The project's own formats (the scaler's JSON) hold no pickle;
BlogDQN's zip holds SB3's cloudpickled entries, which ``trusted=False`` never unpickles and the
default, trusting load unpickles once, and only after the checks its plain values allow.
"""

import base64
import contextlib
import json
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
import torch as th
from rl_zoo3.utils import linear_schedule
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule

from sb3_blogdqn import BlogDQN, SetupError, VecStandardScaler, make_blog_env
from sb3_blogdqn.common.checkpoints import find_checkpoint

SAVED = Path(__file__).parent / "data" / "saved_by_0.1.0"
SMALL: dict[str, Any] = dict(learning_starts=8, batch_size=8, seed=0)


class Payload:
    """Unpickling it appends ``ran`` to ``marker``: code from the file, run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'a').write('ran\\n')",)


def runs(marker: Path) -> int:
    """How many times a payload ran."""
    return marker.read_text().count("ran") if marker.exists() else 0


def zip_with_payload(source: Path, target: Path, key: str, marker: Path, **plain_values) -> Path:
    """
    A copy of the zip ``source`` whose data entry ``key`` holds a cloudpickled payload, the readable
    attributes SB3 writes beside a pickle kept; ``plain_values`` replace plain entries.
    """
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    entry = data[key] if isinstance(data.get(key), dict) else {":type:": "<class 'builtins.object'>"}
    data[key] = {**entry, ":serialized:": base64.b64encode(cloudpickle.dumps(Payload(marker))).decode()}
    data.update(plain_values)
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return target


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "model.zip"
    BlogDQN("MlpPolicy", make_blog_env("CartPole-v1", seed=0), **SMALL).learn(60).save(path)
    return path


# ------------------------------------------------------------------------------ the scaler's file


def test_scaler_file_is_json_and_loads_the_same_statistics(tmp_path):
    scaler = make_blog_env("CartPole-v1", seed=0, scaler=32)
    scaler.save(tmp_path / "scaler.json")
    saved = json.loads((tmp_path / "scaler.json").read_text())
    assert saved["format"] == "sb3_blogdqn.VecStandardScaler" and saved["observation_shape"] == [16]
    assert (saved["n_fit_samples"], saved["skip_episode_start"], saved["from_bounds"]) == (32, 3, False)
    loaded = make_blog_env("CartPole-v1", seed=1, scaler=tmp_path / "scaler.json")
    np.testing.assert_array_equal(loaded.mean, scaler.mean)  # float64, exactly
    np.testing.assert_array_equal(loaded.scale, scaler.scale)
    assert (loaded.n_samples_seen, loaded.n_fit_samples, loaded.skip_episode_start) == (32, 32, 3)


def test_hostile_scaler_pickle_is_refused_unread_and_says_how_to_load_a_trusted_one(tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "scaler.pkl").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(SetupError, match=r"(?s)scaler\.pkl.*is a pickle.*runs whatever code.*trusted=True"):
        VecStandardScaler.load(tmp_path / "scaler.pkl", make_blog_env("CartPole-v1"))
    with pytest.raises(SetupError, match="is a pickle"):
        make_blog_env("CartPole-v1", scaler=tmp_path / "scaler.pkl")
    assert runs(marker) == 0


def test_old_pickled_scaler_loads_when_trusted_with_a_deprecation_warning(tmp_path):
    scaler = make_blog_env("CartPole-v1", seed=0, scaler=32)
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(scaler))  # what VecStandardScaler.save wrote before JSON
    with pytest.warns(FutureWarning, match="pickle format is deprecated"):
        loaded = make_blog_env("CartPole-v1", scaler=tmp_path / "old.pkl", trusted=True)
    np.testing.assert_array_equal(loaded.mean, scaler.mean)
    loaded.save(tmp_path / "new.json")  # saved again: JSON, which needs no trust
    np.testing.assert_array_equal(VecStandardScaler.load(tmp_path / "new.json", make_blog_env("CartPole-v1")).scale,
                                  scaler.scale)


@pytest.mark.parametrize("edit", [
    lambda s: s.update(mean=[float("nan")] * 16),
    lambda s: s.update(scale=[0.0] * 16),
    lambda s: s.update(mean=[0.0] * 3),
    lambda s: s.update(format="something else"),
    lambda s: s.update(n_samples_seen=-1),
])
def test_edited_scaler_file_is_refused(tmp_path, edit):
    make_blog_env("CartPole-v1", seed=0, scaler=32).save(tmp_path / "scaler.json")
    statistics = json.loads((tmp_path / "scaler.json").read_text())
    edit(statistics)
    (tmp_path / "scaler.json").write_text(json.dumps(statistics))
    with pytest.raises(SetupError, match="Cannot load a VecStandardScaler"):
        VecStandardScaler.load(tmp_path / "scaler.json", make_blog_env("CartPole-v1"))


# ------------------------------------------------------------------------------ BlogDQN's zip, untrusted


def test_untrusted_load_of_models_saved_by_0_1_0_is_the_trusted_model():
    for name in ("blog", "quantile_nstep"):
        trusted = BlogDQN.load(SAVED / f"{name}.zip", env=make_blog_env("CartPole-v1", seed=0))
        untrusted = BlogDQN.load(SAVED / f"{name}.zip", env=make_blog_env("CartPole-v1", seed=0), trusted=False)
        for key, tensor in trusted.policy.state_dict().items():
            th.testing.assert_close(untrusted.policy.state_dict()[key], tensor, rtol=0, atol=0)
        for attribute in ("num_timesteps", "exploration_rate", "_n_exploration_decisions", "_n_target_updates",
                          "train_freq", "gamma", "buffer_size", "n_steps", "loss", "observation_space", "action_space"):
            assert getattr(untrusted, attribute) == getattr(trusted, attribute), attribute
        assert untrusted.lr_schedule(0.5) == trusted.lr_schedule(0.5)
    # And it learns on exactly as the trusted one does (the env is reset by learn() in both).
    for model in (trusted, untrusted):
        model.set_random_seed(0)
        model.learn(200, reset_num_timesteps=False)
    for key, tensor in trusted.policy.state_dict().items():
        th.testing.assert_close(untrusted.policy.state_dict()[key], tensor, rtol=0, atol=0)


REBUILT = ["policy_class", "observation_space", "action_space", "state_space", "_last_obs", "ep_info_buffer",
           "lr_schedule", "exploration_schedule", "_episode_steps"]


@pytest.mark.parametrize("key", REBUILT)
def test_untrusted_load_rebuilds_a_hostile_entry_without_running_it(saved_model, tmp_path, key):
    marker = tmp_path / "marker"
    hostile = zip_with_payload(saved_model, tmp_path / "hostile.zip", key, marker)
    model = BlogDQN.load(hostile, env=make_blog_env("CartPole-v1"), trusted=False)
    assert runs(marker) == 0
    assert model.observation_space.shape == (16,) and model.policy.scaler.fitted


@pytest.mark.parametrize("key", ["train_freq", "action_noise"])
def test_untrusted_load_refuses_a_hostile_entry_it_cannot_rebuild_naming_it(saved_model, tmp_path, key):
    marker = tmp_path / "marker"
    hostile = zip_with_payload(saved_model, tmp_path / "hostile.zip", key, marker)
    with pytest.raises(SetupError, match=rf"(?s)without trusting it.*entry '{key}'.*trusted=True"):
        BlogDQN.load(hostile, env=make_blog_env("CartPole-v1"), trusted=False)
    assert runs(marker) == 0


def test_untrusted_load_refuses_a_custom_policy_class_and_a_callable_learning_rate(saved_model, tmp_path):
    with zipfile.ZipFile(saved_model) as archive:
        data = json.loads(archive.read("data"))
    data["policy_class"]["__module__"] = "someone.elses.policies"
    data["learning_rate"] = {":type:": "<class 'function'>", ":serialized:": "AAAA"}
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(saved_model) as source, zipfile.ZipFile(crafted, "w") as target:
        for name in source.namelist():
            target.writestr(name, json.dumps(data) if name == "data" else source.read(name))
    with pytest.raises(SetupError) as error:
        BlogDQN.load(crafted, env=make_blog_env("CartPole-v1"), trusted=False)
    assert "(2 problems)" in str(error.value)
    assert "entry 'policy_class'" in str(error.value) and "someone.elses.policies" in str(error.value)
    assert "entry 'learning_rate'" in str(error.value) and "schedule" in str(error.value)


@pytest.mark.parametrize("schedule", [ConstantSchedule(5e-4), LinearSchedule(1e-3, 1e-4, 0.5), linear_schedule(5e-4)],
                         ids=["sb3_constant", "sb3_linear", "zoo_lin"])
def test_untrusted_load_rebuilds_the_learning_rate_schedules_of_sb3_and_the_zoo(tmp_path, schedule):
    BlogDQN("MlpPolicy", make_blog_env("CartPole-v1"), learning_rate=schedule).save(tmp_path / "model.zip")
    model = BlogDQN.load(tmp_path / "model.zip", env=make_blog_env("CartPole-v1"), trusted=False)
    assert type(model.learning_rate) is type(schedule)
    assert [model.lr_schedule(progress) for progress in (1.0, 0.7, 0.0)] == [schedule(p) for p in (1.0, 0.7, 0.0)]


def test_untrusted_load_needs_the_env(saved_model):
    with pytest.raises(SetupError, match="pass env="):
        BlogDQN.load(saved_model, trusted=False)


# ------------------------------------------------------------------------------ BlogDQN's zip, trusted


@pytest.mark.parametrize("key", ["_last_obs", "policy_class", "train_freq"])
def test_trusting_load_runs_a_payload_at_most_once(saved_model, tmp_path, key):
    marker = tmp_path / "marker"
    hostile = zip_with_payload(saved_model, tmp_path / "hostile.zip", key, marker)
    # Loaded, or refused once the payload's None replaced the entry: either way after one unpickling.
    with contextlib.suppress(SetupError):
        BlogDQN.load(hostile, env=make_blog_env("CartPole-v1"))
    assert runs(marker) == 1


@pytest.mark.parametrize("plain_values", [dict(gamma=7.0), dict(buffer_size=5), dict(num_timesteps=-3)])
def test_trusting_load_refuses_bad_plain_values_before_unpickling_anything(saved_model, tmp_path, plain_values):
    marker = tmp_path / "marker"
    hostile = zip_with_payload(saved_model, tmp_path / "hostile.zip", "policy_class", marker, **plain_values)
    name = next(iter(plain_values))
    with pytest.raises(SetupError, match=rf"Cannot load a BlogDQN model.*\n.*{name}"):
        BlogDQN.load(hostile, env=make_blog_env("CartPole-v1"))
    assert runs(marker) == 0


def test_zip_of_another_algorithm_is_refused_before_unpickling_anything(saved_model, tmp_path):
    marker = tmp_path / "marker"
    hostile = zip_with_payload(saved_model, tmp_path / "hostile.zip", "policy_class", marker)
    with zipfile.ZipFile(hostile) as archive:
        data = json.loads(archive.read("data"))
    del data["history_length"]
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(hostile) as source, zipfile.ZipFile(foreign, "w") as target:
        for name in source.namelist():
            target.writestr(name, json.dumps(data) if name == "data" else source.read(name))
    with pytest.raises(SetupError, match="saved by another algorithm"):
        BlogDQN.load(foreign)
    assert runs(marker) == 0


# ------------------------------------------------------------------------------ kills during saves


_SAVER = """
import sys
from sb3_blogdqn import BlogDQN, make_blog_env

folder = sys.argv[1]
# Still in the warm-up after 40 steps: its transitions fill the memory, and no replay slows the start.
model = BlogDQN("MlpPolicy", make_blog_env("CartPole-v1", seed=0), buffer_size=300_000, seed=0).learn(40)
scaler = make_blog_env("CartPole-v1", seed=0, scaler=32)
while True:  # nothing but saves over the files of the round before: a kill lands inside one
    model.save(f"{folder}/model.zip")
    model.save_replay_buffer(f"{folder}/buffer.pkl")
    scaler.save(f"{folder}/scaler.json")
    print("saved", flush=True)
"""


def test_sigkill_during_saves_leaves_the_previous_files_whole(tmp_path):
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    temporaries: list[str] = []
    for kill in range(10):  # at least 3 kills, and on until one has cut a save (its temporary file left)
        if kill >= 3 and temporaries:
            break
        saver = subprocess.Popen([sys.executable, "-W", "ignore", str(script), str(tmp_path)], stdout=subprocess.PIPE,
                                 text=True)
        try:
            assert saver.stdout.readline().strip() == "saved"  # every file exists: the next saves replace them
            # Kill while a save is writing (a temporary file exists), not at a time left to chance.
            deadline = time.monotonic() + 30
            while not any(tmp_path.glob(".*.tmp")) and time.monotonic() < deadline:
                time.sleep(0.001)
        finally:
            saver.send_signal(signal.SIGKILL)
            saver.wait(timeout=60)
        temporaries += [path.name for path in tmp_path.glob(".*.tmp")]
        model = BlogDQN.load(tmp_path / "model.zip", env=make_blog_env("CartPole-v1"))
        model.load_replay_buffer(tmp_path / "buffer.pkl")
        assert model.replay_buffer.size() > 0 and model.replay_buffer.buffer_size == 300_000
        assert VecStandardScaler.load(tmp_path / "scaler.json", make_blog_env("CartPole-v1")).fitted
    assert temporaries, "no kill landed inside a save in 10 tries"


def test_a_checkpoint_scan_runs_nothing_from_the_zips_it_reads(saved_model, tmp_path):
    """Deciding which checkpoint is complete reads a manifest-less (SB3-style) zip's JSON, never its pickles."""
    marker = tmp_path / "marker"
    zip_with_payload(saved_model, tmp_path / "rl_model_100_steps.zip", "policy_class", marker)
    (tmp_path / "rl_model_replay_buffer_100_steps.pkl").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.warns(UserWarning, match="no manifest"):
        checkpoint = find_checkpoint(tmp_path)
    assert checkpoint.num_timesteps == 100 and runs(marker) == 0
