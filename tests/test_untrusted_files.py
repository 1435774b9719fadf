"""
Files that must not run code: a hostile file here is one whose pickle, when unpickled, appends a
line to a marker file, the trace of code run from the file. The scaler's own format is JSON,
which holds no pickle; an old pickled scaler is read only when the caller says it trusts it.
"""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from sb3_blogdqn import SetupError, VecStandardScaler, make_blog_env


class Payload:
    """Unpickling it appends ``ran`` to ``marker``: code from the file, run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'a').write('ran\\n')",)


def runs(marker: Path) -> int:
    """How many times a payload ran."""
    return marker.read_text().count("ran") if marker.exists() else 0


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


