"""
The committed benchmark runs are what their commands run today: every run's stored spec
(``result.json``) equals the spec its configuration resolves to now. A tuned entry, a preset or
a candidate file changed without rerunning (or pinning) what it names fails here, before a
README figure outlives the configuration it is quoted for.
"""

import inspect
import json
import re
from pathlib import Path

import pytest
from helpers import load_script

from sb3_blogdqn import BlogDQN
from sb3_blogdqn.compare.presets import PRESETS, load_configs, resolve

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RESULTS_FOLDERS = ("cartpole", "acrobot", "mountaincar", "lunarlander")
# Their runs are committed one by one as they end: each folder is checked once it holds one.
RUNNING_FOLDERS = ("minatar-breakout", "minatar-spaceinvaders", "atari100k-breakout")
BLOGDQN_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(BlogDQN.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def _stored_specs(config_dir: Path) -> list[dict]:
    """The specs of a config's finished runs: ``<env>_<seed>/result.json``, nested where the env id holds a ``/``."""
    return [json.loads(path.read_text())["spec"] for path in sorted(config_dir.rglob("result.json"))]


def _with_defaults(hyperparams: dict, keys: set[str]) -> dict:
    """Runs recorded before a switch existed lack its key; what ran then is the switch's default."""
    return {**{key: BLOGDQN_DEFAULTS[key] for key in keys if key in BLOGDQN_DEFAULTS}, **hyperparams}


def test_every_results_run_is_its_presets_run_today():
    checked = 0
    running = [folder for folder in RUNNING_FOLDERS if (BENCHMARKS / "results" / folder).is_dir()]
    for folder in [*RESULTS_FOLDERS, *running]:
        for config_dir in sorted(path for path in (BENCHMARKS / "results" / folder).iterdir() if path.is_dir()):
            specs = _stored_specs(config_dir)
            assert config_dir.name in PRESETS, f"{config_dir} is not a preset's folder"
            for spec in specs:
                expected = resolve(config_dir.name, load_configs([config_dir.name])[config_dir.name], spec["env"])
                assert spec == expected, f"{config_dir}: the stored spec differs from the preset's"
                checked += 1
    assert checked > 100  # the folders were found and read


def _candidate_files() -> list[Path]:
    return sorted((BENCHMARKS / "tuning").glob("*_candidates*.yml"))


@pytest.mark.parametrize("candidates", _candidate_files(), ids=lambda path: path.stem)
def test_every_candidate_run_is_its_configs_run_today(candidates):
    """Older candidate files pin what a later entry changed, since their configs build on ``blogdqn-tuned``."""
    text = candidates.read_text()
    out_dirs = sorted(BENCHMARKS.parent / out for out in set(re.findall(r"--out (benchmarks/tuning/[\w-]+)", text)))
    env_ids = set(re.findall(r"--env ([\w-]+)", text))
    assert out_dirs and len(env_ids) == 1, "the header's commands name one --env and their --out folders"
    env_id = env_ids.pop()
    checked = 0
    for name, config in load_configs([str(candidates)]).items():
        expected = resolve(name, config, env_id)
        for spec in [spec for out_dir in out_dirs for spec in _stored_specs(out_dir / name)]:
            keys = set(spec["hyperparams"]) | set(expected["hyperparams"])
            assert _with_defaults(spec["hyperparams"], keys) == _with_defaults(expected["hyperparams"], keys), (
                f"{candidates.name}: {name}'s runs ran other hyperparameters")
            assert {k: v for k, v in spec.items() if k != "hyperparams"} == {
                k: v for k, v in expected.items() if k != "hyperparams"}
            checked += 1
    assert checked > 0, f"no runs of {candidates.name} found in {out_dirs}"


def _benchmark_script(name: str):
    return load_script(BENCHMARKS / f"{name}.py")


def test_late_evaluations_average_each_runs_last_evaluations():
    late_evaluations = _benchmark_script("late_evaluations")
    # evaluation means -500, -80, -80, -70
    run = {"path": "run", "evaluations": {"returns": [[-500.0, -500.0], [-90.0, -70.0], [-60.0, -100.0], [-65.0, -75.0]]}}
    assert late_evaluations.late_mean(run, last=1) == -70.0  # the final score
    assert late_evaluations.late_mean(run, last=2) == -75.0
    with pytest.raises(ValueError, match="fewer than --last 5"):
        late_evaluations.late_mean(run, last=5)


def test_late_evaluations_final_column_is_the_reports():
    """Its final IQM and CI are the merged report's, from the same runs and bootstrap."""
    late_evaluations = _benchmark_script("late_evaluations")
    summary = (BENCHMARKS / "results" / "summary.md").read_text().split("## Acrobot-v1")[1].split("\n## ")[0]
    rows = late_evaluations.table([BENCHMARKS / "results" / "acrobot"], last=5, reps=2000)[2:]
    assert len(rows) == 4
    for row in rows:
        _, env_id, config, runs, final_iqm, *_ = (cell.strip() for cell in row.split("|"))
        report_row = next(line for line in summary.splitlines() if line.startswith(f"| {config} |"))
        assert env_id == "Acrobot-v1" and f"| {runs} |" in report_row
        assert final_iqm in report_row, (config, final_iqm, report_row)
