"""The comparison tool: runs keyed by (config, env, seed), resumable, shardable, reported."""

import contextlib
import io
import itertools
import json
import re
import shutil
import warnings
from pathlib import Path

import gymnasium as gym
import matplotlib
import numpy as np
import pytest
import yaml
from hostile import folder_held_by_another_process, time_limit
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from stable_baselines3 import DQN

from sb3_blogdqn import load_checkpoint
from sb3_blogdqn.common.checkpoints import Checkpoint, checkpoint_file_name, find_checkpoint
from sb3_blogdqn.common.checks import find_vec_wrapper
from sb3_blogdqn.common.plotting import plot_training_scores
from sb3_blogdqn.common.wrappers import VecStandardScaler
from sb3_blogdqn.compare import runner
from sb3_blogdqn.compare.__main__ import (
    MAX_BOOTSTRAP_REPS,
    MAX_EVAL_EPISODES,
    MAX_JOBS,
    MAX_SEED_START,
    MAX_SEEDS,
    MAX_STEPS,
    main,
    report_parser,
    run_parser,
)
from sb3_blogdqn.compare.presets import ABLATION_CONFIGS, ABLATION_SWITCHES, load_configs, resolve
from sb3_blogdqn.compare.runner import (
    CHECKPOINT_DIR,
    EPISODE_STEP_LIMIT,
    Job,
    RunRecorder,
    episode_step_limit,
    evaluate,
    make_envs,
    plan_jobs,
    restore_checkpoint,
    run_job,
    shard,
    zoo_preprocess,
)

TINY = ["--configs", "blogdqn", "dqn-zoo", "--seeds", "2", "--timesteps", "300", "--max-episodes", "4",
        "--eval-freq", "100", "--eval-episodes", "2", "--no-progress", "--no-report"]
RUNS = {("blogdqn", 0), ("blogdqn", 1), ("dqn-zoo", 0), ("dqn-zoo", 1)}


def result_files(folder: Path) -> dict[tuple[str, int], Path]:
    files = {}
    for path in folder.rglob("result.json"):
        record = json.loads(path.read_text())
        files[record["spec"]["config"], record["seed"]] = path
    return files


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """2 configs x 2 seeds x 300 steps, as two shards into two folders (the first with 2 workers)."""
    root = tmp_path_factory.mktemp("compare")
    folders = [root / "shard0", root / "shard1"]
    assert main([*TINY, "--shard", "0/2", "--jobs", "2", "--out", str(folders[0])]) == 0
    assert main([*TINY, "--shard", "1/2", "--jobs", "1", "--out", str(folders[1])]) == 0
    return folders


def test_shards_run_disjoint_slices_that_cover_the_job_set(shards: list[Path]) -> None:
    first, second = (set(result_files(folder)) for folder in shards)
    assert first and second
    assert not first & second
    assert first | second == RUNS


@pytest.mark.parametrize("n_shards", [1, 2, 3, 5, 16])
def test_sharding_partitions_the_job_set(n_shards: int) -> None:
    jobs = plan_jobs(["blogdqn", "dqn-zoo", "qrdqn-zoo"], ["CartPole-v1", "Acrobot-v1"], list(range(5)))
    slices = [shard(jobs, i, n_shards) for i in range(n_shards)]
    assert sorted(itertools.chain.from_iterable(slices)) == sorted(jobs)
    assert len(set(itertools.chain.from_iterable(slices))) == len(jobs) == 30
    # The same jobs whatever order the command line names configs, envs and seeds in.
    assert plan_jobs(["qrdqn-zoo", "dqn-zoo", "blogdqn"], ["Acrobot-v1", "CartPole-v1"], [4, 3, 2, 1, 0]) == jobs


def test_a_run_records_training_episodes_evaluations_and_speed(shards: list[Path]) -> None:
    path = result_files(shards[0]) | result_files(shards[1])
    record = json.loads(path["blogdqn", 0].read_text())
    episodes, evals = record["episodes"], record["evaluations"]
    assert len(episodes["return"]) == len(episodes["length"]) == record["episodes_trained"] >= 1
    assert episodes["return"] == [float(length) for length in episodes["length"]]  # CartPole: +1 per step
    assert evals["timesteps"][0] >= 100 and evals["timesteps"][-1] == record["timesteps"]
    assert all(len(returns) == 2 for returns in evals["returns"])
    assert np.all(np.diff(evals["seconds"]) >= 0)
    assert record["steps_per_second"] > 0 and record["train_seconds"] > 0
    assert len(record["final_target_network_returns"]) == 2  # the blog's run() with the target network (B16)
    # The RL Zoo's evaluation format, so that its all_plots reads the folder too.
    npz = np.load(path["blogdqn", 0].parent / "evaluations.npz")
    assert npz["results"].shape == (len(evals["timesteps"]), 2)


def test_report_merges_results_folders(shards: list[Path], tmp_path: Path) -> None:
    assert main(["report", *map(str, shards), "--out", str(tmp_path), "--reps", "200"]) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "4 runs" in summary and "**resumed**" not in summary
    for config in ("| blogdqn |", "| dqn-zoo |"):
        assert config in summary
    assert "Success rate across seeds" in summary or "Yes: BlogDQN" in summary
    assert "|mean_reward|std_reward|n_timesteps|eval_timesteps|eval_episodes|" in summary  # the Zoo's benchmark table
    assert "|0.3k       |" in summary and "`blogdqn` at 4 episodes" in summary
    for figure in ("final", "curves_timesteps", "curves_seconds", "b17_blogdqn"):
        assert (tmp_path / f"{figure}_CartPole-v1.png").stat().st_size > 1000
        assert f"{figure}_CartPole-v1.png" in summary


def test_rerun_does_not_redo_finished_runs(shards: list[Path], capsys: pytest.CaptureFixture) -> None:
    folder = shards[1]
    files = result_files(folder)
    before = {key: path.stat().st_mtime_ns for key, path in files.items()}
    redo = next(iter(files))
    files[redo].unlink()
    assert main([*TINY, "--shard", "1/2", "--jobs", "1", "--out", str(folder)]) == 0
    assert "1 already done" in capsys.readouterr().out
    after = {key: path.stat().st_mtime_ns for key, path in result_files(folder).items()}
    assert after.keys() == before.keys()
    assert all(after[key] == before[key] for key in before if key != redo)
    assert not list(folder.rglob("*.tmp"))


def test_zoo_presets_read_the_installed_zoo_hyperparameters() -> None:
    import rl_zoo3

    zoo = yaml.safe_load((Path(rl_zoo3.__file__).parent / "hyperparams" / "qrdqn.yml").read_text())["CartPole-v1"]
    spec = resolve("qrdqn-zoo", load_configs(["qrdqn-zoo"])["qrdqn-zoo"], "CartPole-v1")
    assert spec["algo"] == "qrdqn" and spec["max_episodes"] is None
    assert spec["n_timesteps"] == int(zoo["n_timesteps"]) == 50_000
    assert {key: spec["hyperparams"][key] for key in zoo if key != "n_timesteps"} == {
        key: value for key, value in zoo.items() if key != "n_timesteps"
    }
    blog = resolve("blogdqn", load_configs(["blogdqn"])["blogdqn"], "CartPole-v1", timesteps=1000)
    assert blog["max_episodes"] == 400 and blog["n_timesteps"] == 1000


def test_ablations_turn_one_switch_each_then_all(tmp_path: Path) -> None:
    configs = load_configs(["blogdqn", *ABLATION_CONFIGS])
    assert configs["blogdqn"] == {"algo": "blogdqn", "max_episodes": 400}
    for rule, switch in ABLATION_SWITCHES.items():
        assert configs[f"blogdqn-std-{rule}"]["hyperparams"] == switch
    assert len(configs["blogdqn-std-all"]["hyperparams"]) == 5
    assert set(ABLATION_SWITCHES) == {"b8", "b10", "b11", "b13", "b14"}
    # A YAML file of configurations may extend a preset.
    path = tmp_path / "mine.yml"
    path.write_text("short-blog:\n  base: blogdqn\n  max_episodes: 50\n  hyperparams: {learning_rate: 0.0005}\n")
    mine = load_configs([str(path)])["short-blog"]
    assert mine == {"algo": "blogdqn", "max_episodes": 50, "hyperparams": {"learning_rate": 0.0005}}
    with pytest.raises(ValueError, match="Unknown configuration"):
        load_configs(["no-such-preset"])


def test_b17_plot_shows_scores_in_gray_and_their_running_mean() -> None:
    scores = [10.0, 30.0, 20.0, 60.0]
    ax = plot_training_scores(scores, "CartPole-v1")
    gray, mean = ax.get_lines()
    assert gray.get_color() == "gray"
    np.testing.assert_allclose(np.asarray(gray.get_ydata(), dtype=float), scores)
    np.testing.assert_allclose(np.asarray(mean.get_ydata(), dtype=float), [10.0, 20.0, 20.0, 30.0])
    assert ax.get_title() == "CartPole-v1"


def test_job_folders_follow_the_zoo_layout() -> None:
    assert Job("dqn-zoo", "CartPole-v1", 3).folder(Path("out")) == Path("out/dqn-zoo/CartPole-v1_3")


def fake_run(timesteps: list[int], returns: list[list[float]], spec: dict | None = None) -> dict:
    """A run's record with only its evaluations (CartPole's: +1 per step, so lengths = returns) and ``spec``."""
    evaluations = {"timesteps": timesteps, "seconds": [t / 100 for t in timesteps], "returns": returns,
                   "lengths": [[int(r) for r in episodes] for episodes in returns]}
    return {"evaluations": evaluations, "spec": spec}


def test_solved_is_the_first_evaluation_reaching_the_threshold_and_curves_hold_the_last_value() -> None:
    from sb3_blogdqn.compare.report import curve_matrix, first_solved

    def run(timesteps: list[int], means: list[float]) -> dict:
        return fake_run(timesteps, [[m, m] for m in means])

    short, long = run([100, 200], [480.0, 100.0]), run([100, 200, 300, 400], [10.0, 20.0, 30.0, 500.0])
    assert first_solved(short, 475) == (100, 1.0)
    assert first_solved(long, 475) == (400, 4.0)
    assert first_solved(long, 501) is None
    grid, matrix = curve_matrix([short, long], "timesteps")
    assert grid[0] == 100 and grid[-1] == 400 and matrix.shape == (2, 1, len(grid))
    assert matrix[0, 0, -1] == 100.0  # the short run holds its final evaluation
    assert matrix[1, 0, -1] == 500.0


def test_confidence_intervals_are_reproducible_and_leave_numpys_generator_alone() -> None:
    from sb3_blogdqn.compare.report import interval_estimates, mean_and_iqm

    scores = {"a": np.linspace(-200.0, 300.0, 10).reshape(10, 1), "b": np.arange(5.0).reshape(5, 1) ** 3}
    np.random.seed(123)
    expected_draw = np.random.random()
    np.random.seed(123)
    first = interval_estimates(scores, mean_and_iqm, reps=300)[1]
    assert np.random.random() == expected_draw  # the caller's random stream is not touched
    second = interval_estimates(scores, mean_and_iqm, reps=300)[1]
    assert all(np.array_equal(first[name], second[name]) for name in scores)  # a report regenerates exactly
    assert first["a"][0, 1] < first["a"][1, 1]  # a real interval, not a point


@pytest.mark.parametrize(("folder", "summary", "env_id"), [
    ("cartpole", "summary.md", "CartPole-v1"),
    ("minatar-breakout", "minatar-breakout/summary.md", "MinAtar/Breakout-v1"),
])
def test_report_recomputes_the_committed_tables(folder: str, summary: str, env_id: str, tmp_path: Path) -> None:
    """A committed summary's tables of one env, every 95% interval (and P(better)) included, are today's report's."""
    from sb3_blogdqn.compare.report import write_report

    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"

    def tables(text: str) -> list[str]:
        section = text.split(f"## {env_id}")[1].split("\n## ")[0]
        return [line for line in section.splitlines() if line.startswith("|")]

    committed = tables((results / summary).read_text())
    assert len(committed) > 6  # the results table and the Zoo's benchmark table were found
    if env_id == "CartPole-v1":
        assert any("P(better" in line for line in committed) and len(committed) > 20
    assert tables(write_report([results / folder], tmp_path, reps=2000).read_text()) == committed


def test_zoo_benchmark_table_pools_every_seeds_final_evaluation_episodes() -> None:
    from sb3_blogdqn.compare.report import zoo_benchmark_table

    tuned = {"algo": "blogdqn", "n_timesteps": 50_000, "max_episodes": None}
    capped = {"algo": "blogdqn", "n_timesteps": 1_500_000, "max_episodes": 400}
    by_config = {
        # Only the last evaluation counts; the earlier ones (10, 20) must not.
        "blogdqn-tuned": [fake_run([100, 200], [[10.0, 20.0], [500.0, 400.0]], tuned),
                          fake_run([100, 200], [[10.0, 20.0], [300.0, 200.0]], tuned)],
        "blogdqn": [fake_run([300], [[9.0, 11.0]], capped)],
    }
    header, rule, *rows = zoo_benchmark_table("CartPole-v1", by_config)
    assert header.replace(" ", "") == "|algo|env_id|mean_reward|std_reward|n_timesteps|eval_timesteps|eval_episodes|"
    assert rule == "|-------------|-----------|----------:|---------:|-----------|-------------:|------------:|"
    assert rows[0] == "|blogdqn-tuned|CartPole-v1|    350.000|   111.803|50k        |          1400|            4|"
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    # std over the 4 pooled episodes (111.803), not over the 2 seed means (100).
    assert cells[0] == ["blogdqn-tuned", "CartPole-v1", "350.000", "111.803", "50k", "1400", "4"]
    assert cells[1] == ["blogdqn", "CartPole-v1", "10.000", "1.000", "1.5M", "20", "2"]


def test_the_tuned_preset_runs_each_envs_shipped_entry_within_both_budgets():
    from sb3_blogdqn.zoo import read_zoo_entry

    spec = resolve("blogdqn-tuned", load_configs(["blogdqn-tuned"])["blogdqn-tuned"], "CartPole-v1")
    entry = read_zoo_entry("CartPole-v1")
    # 400 learning episodes or the entry's env steps, whichever ends first (the Zoo DQN's 50k).
    assert (spec["n_timesteps"], spec["max_episodes"]) == (entry["n_timesteps"], 400)
    # The callback is the run's episode budget and the history BlogDQN's own: no Zoo callback or wrapper is left.
    assert "callback" not in spec["hyperparams"] and "vec_env_wrapper" not in spec["hyperparams"]
    assert spec["hyperparams"]["double_q"] == entry["double_q"]


# ------------------------------------------------------------------ mid-run checkpoints

RESUME_STEPS, CHECKPOINT_FREQ, KILLED_AFTER = 700, 200, 450


def spec_for(config: str) -> dict:
    return resolve(config, load_configs([config])[config], "CartPole-v1", timesteps=RESUME_STEPS)


def manifest_path(checkpoint: Checkpoint) -> Path:
    return checkpoint.files["model"].with_name(checkpoint_file_name("rl_model", "manifest", checkpoint.num_timesteps))


def checkpoint_files(directory: Path) -> list[str]:
    """The names of the files in ``directory`` but the callback's hidden lock files."""
    return sorted(path.name for path in directory.iterdir() if not path.name.startswith("."))


def rewrite_listed_file(checkpoint: Checkpoint, role: str, text: str) -> None:
    """Replace one file of ``checkpoint`` and list its new size in the manifest, as a save would have."""
    checkpoint.files[role].write_text(text)
    manifest = json.loads(manifest_path(checkpoint).read_text())
    manifest["files"][role]["bytes"] = checkpoint.files[role].stat().st_size
    manifest_path(checkpoint).write_text(json.dumps(manifest))


def run_killed_after(job: Job, spec: dict, out: Path, monkeypatch: pytest.MonkeyPatch, steps: int) -> str | None:
    """``run_job`` with the worker failing at the first step past ``steps`` (as a kill would cut it)."""
    on_step = runner.RunRecorder._on_step

    def failing(recorder: runner.RunRecorder) -> bool:
        if recorder.num_timesteps > steps:
            raise RuntimeError("killed")
        return on_step(recorder)

    with monkeypatch.context() as patch:
        patch.setattr(runner.RunRecorder, "_on_step", failing)
        return run_job(job, spec, out, 100, 2, CHECKPOINT_FREQ)[1]


# Checkpoints are taken at the start of SB3's rollouts: every step for train_freq 1, every 256 steps
# for qrdqn-zoo's train_freq. Killed after step 450, the newest is at 400 (256); the resumed run
# checkpoints at 600 (512) and ends where an uninterrupted run ends, 700 (768: 3 rollouts of 256).
@pytest.mark.parametrize(
    ("config", "resumed_at", "later_checkpoints", "final_step"),
    [("blogdqn", 400, [600], 700), ("dqn-bloglike-inputs", 400, [600], 700), ("qrdqn-zoo", 256, [512], 768)],
)
def test_a_run_killed_mid_run_resumes_from_its_newest_checkpoint(
    config: str, resumed_at: int, later_checkpoints: list[int], final_step: int,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, job = spec_for(config), Job(config, "CartPole-v1", 0)
    folder = job.folder(tmp_path)
    error = run_killed_after(job, spec, tmp_path, monkeypatch, KILLED_AFTER)
    assert error is not None and "killed" in error
    assert not (folder / "result.json").exists() and (folder / "error.txt").exists()
    checkpoint = find_checkpoint(folder / CHECKPOINT_DIR)
    assert checkpoint.num_timesteps == resumed_at  # the newest checkpoint; the older ones are gone
    assert checkpoint_files(folder / CHECKPOINT_DIR) == sorted(
        [manifest_path(checkpoint).name, *(path.name for path in checkpoint.files.values())])
    saved_record = checkpoint.extra["recorder"]
    evaluated = list(range(100, resumed_at + 1, 100))
    assert saved_record["evaluations"]["timesteps"] == evaluated

    saves = []
    save = runner.RunCheckpointer.save

    def counted_save(checkpointer: runner.RunCheckpointer) -> None:
        saves.append(checkpointer.model.num_timesteps)
        save(checkpointer)

    with monkeypatch.context() as patch:
        patch.setattr(runner.RunCheckpointer, "save", counted_save)
        assert run_job(job, spec, tmp_path, 100, 2, CHECKPOINT_FREQ)[1] is None
    assert saves == later_checkpoints  # the resumed run goes on checkpointing at the multiples of the frequency
    record = json.loads((folder / "result.json").read_text())
    assert record["resumed_at"] == [resumed_at] and record["timesteps"] == final_step
    evaluations = record["evaluations"]
    # Nothing lost, nothing evaluated twice; the final evaluation at the end of training.
    assert evaluations["timesteps"] == sorted({*range(100, final_step + 1, 100), final_step})
    assert evaluations["returns"][: len(evaluated)] == saved_record["evaluations"]["returns"]
    assert record["episodes"]["return"][: len(saved_record["episodes"]["return"])] == saved_record["episodes"]["return"]
    assert record["train_seconds"] >= saved_record["train_seconds"]  # the clock goes on from the checkpoint
    assert np.all(np.diff(evaluations["seconds"]) >= 0)
    assert not (folder / CHECKPOINT_DIR).exists() and not (folder / "error.txt").exists()
    assert main(["report", str(tmp_path), "--reps", "50"]) == 0
    assert f"`{config}` CartPole-v1 seed 0 at {resumed_at} steps" in (tmp_path / "summary.md").read_text()


def test_a_resume_continues_the_checkpointed_agent_and_is_reproducible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two resumes of one checkpoint train alike; the resumed agent is the saved one, with the saved scaler."""
    config = "dqn-bloglike-inputs"
    spec, job = spec_for(config), Job(config, "CartPole-v1", 0)
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_killed_after(job, spec, first, monkeypatch, KILLED_AFTER) is not None
    shutil.copytree(job.folder(first), job.folder(second))
    checkpoint = find_checkpoint(job.folder(second) / CHECKPOINT_DIR)

    # The network learned on the checkpoint's statistics, not on what the rebuilt env refits.
    statistics = json.loads(checkpoint.files["scaler"].read_text())
    saved_mean = np.array(statistics["mean"]) + 1.0
    rewrite_listed_file(checkpoint, "scaler", json.dumps({**statistics, "mean": saved_mean.tolist()}))
    setup = zoo_preprocess(spec)
    env, eval_env = make_envs(spec, setup, 0, 2)
    model = restore_checkpoint(spec, find_checkpoint(checkpoint.files["scaler"].parent), env, eval_env,
                               RunRecorder(eval_env, 100, 2), 0, "cpu")
    for venv in (env, eval_env):
        scaler = find_vec_wrapper(venv, VecStandardScaler)
        assert scaler is not None
        np.testing.assert_array_equal(scaler.mean, saved_mean)
    # Saved between rollouts: every step so far is stored and counted (only the episode in progress is lost).
    assert isinstance(model, DQN) and model.replay_buffer is not None
    assert model.num_timesteps == model._n_calls == model.replay_buffer.size() == 400
    assert model.exploration_rate < 1.0
    shutil.rmtree(job.folder(second))
    shutil.copytree(job.folder(first), job.folder(second))

    for out in (first, second):
        assert run_job(job, spec, out, 100, 2, CHECKPOINT_FREQ)[1] is None
    records = [json.loads((job.folder(out) / "result.json").read_text()) for out in (first, second)]
    assert records[0]["evaluations"]["returns"] == records[1]["evaluations"]["returns"]
    assert records[0]["episodes"] == {**records[1]["episodes"], "seconds": records[0]["episodes"]["seconds"]}


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, job = spec_for("dqn-bloglike-inputs"), Job("dqn-bloglike-inputs", "CartPole-v1", 0)
    assert run_killed_after(job, spec, tmp_path, monkeypatch, KILLED_AFTER) is not None
    other = {**spec, "hyperparams": {**spec["hyperparams"], "learning_rate": 0.5}}
    error = run_job(job, other, tmp_path, 100, 2, CHECKPOINT_FREQ)[1]
    assert error is not None and "other settings" in error and "delete that folder" in error
    assert not (job.folder(tmp_path) / "result.json").exists()


def test_the_public_load_checkpoint_reads_a_compare_runs_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One layout: the compare tool's checkpoint folder is that of sb3_blogdqn's CheckpointCallback."""
    spec, job = spec_for("blogdqn"), Job("blogdqn", "CartPole-v1", 0)
    assert run_killed_after(job, spec, tmp_path, monkeypatch, KILLED_AFTER) is not None
    directory = job.folder(tmp_path) / CHECKPOINT_DIR
    assert (directory / "rl_model_400_steps.zip").is_file() and (directory / "rl_model_replay_buffer_400_steps.pkl").is_file()
    env, _ = make_envs(spec, zoo_preprocess(spec), 0, 2)
    model = load_checkpoint(directory, env)
    assert model.num_timesteps == 400 and model.exploration_rate < 1.0 and model.seed == 0


# ------------------------------------------------------------------ numbers: the command line, budgets, episodes

RUN_FLAG_RANGES = {
    "--seeds": (1, MAX_SEEDS),
    "--seed-start": (0, MAX_SEED_START),
    "--jobs": (1, MAX_JOBS),
    "--timesteps": (1, MAX_STEPS),
    "--max-episodes": (1, MAX_STEPS),
    "--eval-freq": (0, MAX_STEPS),
    "--eval-episodes": (1, MAX_EVAL_EPISODES),
    "--checkpoint-freq": (0, MAX_STEPS),
}
REPORT_FLAG_RANGES = {"--reps": (1, MAX_BOOTSTRAP_REPS)}


def is_integer_text(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def out_of_range(minimum: int, maximum: int) -> st.SearchStrategy[str]:
    """Texts that are no integer from ``minimum`` to ``maximum``: integers beyond either end, decimals, words, nothing."""
    return st.one_of(
        st.integers(max_value=minimum - 1).map(str),
        st.integers(min_value=maximum + 1).map(str),
        st.sampled_from(["", "1.5", "1e3", "nan", "inf", "-", "0x10", "ten"]),
        st.floats().map(repr),
        st.text(max_size=12).filter(lambda text: not is_integer_text(text)),
    )


# (command, flag, its range) for every numeric flag.
NUMERIC_FLAGS = [("run", flag, bounds) for flag, bounds in RUN_FLAG_RANGES.items()] + [
    ("report", flag, bounds) for flag, bounds in REPORT_FLAG_RANGES.items()]
bad_numeric_flags = st.sampled_from(NUMERIC_FLAGS).flatmap(lambda case: st.tuples(st.just(case), out_of_range(*case[2])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case_and_value=bad_numeric_flags)
@example(case_and_value=(("run", "--timesteps", RUN_FLAG_RANGES["--timesteps"]), "0"))
@example(case_and_value=(("run", "--max-episodes", RUN_FLAG_RANGES["--max-episodes"]), "-1"))
def test_every_numeric_flag_refuses_values_out_of_its_range_at_once(case_and_value, tmp_path: Path) -> None:
    (command, flag, (minimum, maximum)), value = case_and_value
    out = tmp_path / "out"
    argv = (["--configs", "blogdqn", "--out", str(out), "--no-progress"] if command == "run"
            else ["report", str(tmp_path), "--out", str(out)])
    stderr = io.StringIO()
    with time_limit(10), contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        main([*argv, f"{flag}={value}"])
    assert exit_.value.code == 2  # argparse's error, after its usage line
    assert f"argument {flag}: " in stderr.getvalue() and f"{minimum:,} to {maximum:,}" in stderr.getvalue()
    assert not out.exists()  # refused before anything ran


@given(case_and_value=st.sampled_from(NUMERIC_FLAGS).flatmap(
    lambda case: st.tuples(st.just(case), st.integers(*case[2]) | st.sampled_from(case[2]))))
def test_numeric_flags_take_every_value_of_their_range(case_and_value) -> None:
    (command, flag, _), value = case_and_value
    if command == "run":
        args = run_parser().parse_args([f"{flag}={value}"])
    else:
        args = report_parser().parse_args(["folder", f"{flag}={value}"])
    assert getattr(args, flag.removeprefix("--").replace("-", "_")) == value


@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf", "high"])
def test_the_solved_threshold_must_be_a_finite_number(threshold: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path), f"--solved-threshold={threshold}"])
    assert exit_.value.code == 2 and "argument --solved-threshold: " in capsys.readouterr().err


def test_eval_freq_0_evaluates_once_at_the_end_of_each_run(tmp_path: Path) -> None:
    """A command that spun forever: 0 means no periodic evaluation, as for SB3's EvalCallback."""
    with time_limit(120):
        assert main(["--configs", "blogdqn", "--seeds", "1", "--timesteps", "600", "--eval-freq", "0",
                     "--eval-episodes", "2", "--no-progress", "--no-report", "--out", str(tmp_path)]) == 0
    record = json.loads(next(tmp_path.rglob("result.json")).read_text())
    assert record["timesteps"] == 600 and record["eval_freq"] == 0
    assert record["evaluations"]["timesteps"] == [600]


@pytest.mark.parametrize("budget", ["hyperparams: {n_timesteps: 0}", "max_episodes: -5"])
def test_a_configuration_of_no_step_or_episode_is_refused(budget: str, tmp_path: Path) -> None:
    """It would write a finished record of nothing, as --timesteps 0 did."""
    path = tmp_path / "mine.yml"
    path.write_text(f"nothing:\n  base: blogdqn\n  {budget}\n")
    with pytest.raises(ValueError, match="'nothing' must train at least 1 env step and 1 episode"):
        resolve("nothing", load_configs([str(path)])["nothing"], "CartPole-v1")


class Endless(gym.Env):
    """Never ends an episode, and has no time limit."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        return np.zeros(2, np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.zeros(2, np.float32), 1.0, False, False, {}


def test_an_evaluation_episode_that_never_ends_is_an_error_not_a_hang() -> None:
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: Monitor(Endless())] * 2)
    with time_limit(30), pytest.raises(RuntimeError, match=r"ran past 50 steps without ending.*max_episode_steps"):
        evaluate(DQN("MlpPolicy", env), env, 2, max_episode_steps=50)
    assert episode_step_limit("CartPole-v1") == EPISODE_STEP_LIMIT  # its time limit, 500, ends episodes first


# ------------------------------------------------------------------ junk in a results folder


def test_a_junk_result_json_costs_its_run_a_redo_with_a_warning(shards: list[Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    shutil.copytree(shards[1], tmp_path, dirs_exist_ok=True)
    files = result_files(tmp_path)
    (junk_key, junk), (kept_key, kept) = sorted(files.items())
    junk.write_text('{"spec": {"config": "cut here')
    kept_before = kept.stat().st_mtime_ns
    with pytest.warns(UserWarning, match=r"result\.json is not a finished run's record \(unreadable: JSONDecodeError"):
        assert main([*TINY, "--shard", "1/2", "--out", str(tmp_path)]) == 0
    assert "1 already done" in capsys.readouterr().out
    assert json.loads(junk.read_text())["evaluations"]["returns"]  # redone
    assert [path.read_text() for path in junk.parent.glob("result.json.bad-*")] == ['{"spec": {"config": "cut here']
    assert kept.stat().st_mtime_ns == kept_before
    assert set(result_files(tmp_path)) == {junk_key, kept_key}


@pytest.mark.parametrize(
    ("junk", "problem"),
    [
        ("[1, 2, 3]", "not a JSON object"),
        ('{"spec": {"config": "blogdqn"}}', "its 'spec' lacks"),
        ("NaN", "not a JSON object"),
    ],
)
def test_report_leaves_out_a_result_that_is_not_a_whole_record(shards: list[Path], tmp_path: Path, junk: str,
                                                               problem: str) -> None:
    shutil.copytree(shards[0], tmp_path / "results")
    (tmp_path / "results" / "blogdqn" / "CartPole-v1_9").mkdir(parents=True)
    (tmp_path / "results" / "blogdqn" / "CartPole-v1_9" / "result.json").write_text(junk)
    with pytest.warns(UserWarning, match=rf"CartPole-v1_9/result\.json is left out of the report: .*{re.escape(problem)}"):
        assert main(["report", str(tmp_path / "results"), "--out", str(tmp_path / "report"), "--reps", "50"]) == 0
    assert "2 runs from" in (tmp_path / "report" / "summary.md").read_text()


def test_a_report_of_no_finished_run_says_so(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="No report: no finished runs"):
        main(["report", str(tmp_path)])


def write_manifest(directory: Path, num_timesteps: int, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / checkpoint_file_name("rl_model", "manifest", num_timesteps)).write_text(text)


def test_junk_checkpoint_manifests_cost_their_run_a_restart_not_the_sweep(tmp_path: Path) -> None:
    """A manifest of junk, one of 1e400 steps (which crashed the planning of the sweep), one naming a missing file."""
    directory = Job("dqn-bloglike-inputs", "CartPole-v1", 0).folder(tmp_path) / CHECKPOINT_DIR
    write_manifest(directory, 100, "{not json")
    write_manifest(directory, 200, '{"algorithm": "DQN", "num_timesteps": 1e400, "files": {}}')
    write_manifest(directory, 300, json.dumps({"algorithm": "DQN", "num_timesteps": 300, "files": {
        "model": {"name": "rl_model_300_steps.zip", "bytes": 10},
        "replay_buffer": {"name": "rl_model_replay_buffer_300_steps.pkl", "bytes": 10}}}))
    with pytest.warns(UserWarning, match=r"checkpoint holds no complete checkpoint") as record:
        assert main(["--configs", "dqn-bloglike-inputs", "--seeds", "2", "--timesteps", "300", "--eval-freq", "100",
                     "--eval-episodes", "2", "--checkpoint-freq", "100", "--no-progress", "--no-report",
                     "--out", str(tmp_path)]) == 0
    message = next(str(warning.message) for warning in record if "holds no complete checkpoint" in str(warning.message))
    for reason in ("JSONDecodeError", "OverflowError", "rl_model_300_steps.zip is missing", "set aside as checkpoint.bad-"):
        assert reason in message
    runs = result_files(tmp_path)
    assert set(runs) == {("dqn-bloglike-inputs", 0), ("dqn-bloglike-inputs", 1)}
    assert json.loads(runs["dqn-bloglike-inputs", 0].read_text())["resumed_at"] == []  # started afresh
    aside = next(directory.parent.glob("checkpoint.bad-*"))
    assert sorted(path.name for path in aside.iterdir()) == [f"rl_model_manifest_{n}_steps.json" for n in (100, 200, 300)]


def corrupt_recorder_state(checkpoint: Checkpoint) -> None:
    manifest = json.loads(manifest_path(checkpoint).read_text())
    manifest["extra"]["recorder"]["episodes"] = "junk"
    manifest_path(checkpoint).write_text(json.dumps(manifest))


def corrupt_model_keeping_its_size(checkpoint: Checkpoint) -> None:
    model = checkpoint.files["model"]
    model.write_bytes(b"\0" * model.stat().st_size)


@pytest.mark.parametrize("corrupt", [corrupt_recorder_state, corrupt_model_keeping_its_size])
def test_a_checkpoint_that_cannot_be_resumed_is_set_aside_and_the_run_restarts(
    corrupt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A complete checkpoint with junk inside used to fail the run on every rerun."""
    spec, job = spec_for("dqn-bloglike-inputs"), Job("dqn-bloglike-inputs", "CartPole-v1", 0)
    assert run_killed_after(job, spec, tmp_path, monkeypatch, KILLED_AFTER) is not None
    directory = job.folder(tmp_path) / CHECKPOINT_DIR
    corrupt(find_checkpoint(directory))
    with pytest.warns(UserWarning, match=r"cannot be resumed .*set aside as checkpoint\.bad-"):
        assert run_job(job, spec, tmp_path, 100, 2, CHECKPOINT_FREQ).error is None
    record = json.loads((job.folder(tmp_path) / "result.json").read_text())
    assert record["resumed_at"] == [] and record["timesteps"] == RESUME_STEPS
    assert len(list(job.folder(tmp_path).glob("checkpoint.bad-*"))) == 1


def test_a_checkpoint_of_sb3s_own_callback_in_a_run_folder_is_set_aside(tmp_path: Path) -> None:
    """A checkpoint without the run's spec (another tool's) cannot tell its settings: not this run's."""
    from stable_baselines3.common import callbacks as sb3_callbacks

    spec, job = spec_for("dqn-bloglike-inputs"), Job("dqn-bloglike-inputs", "CartPole-v1", 0)
    directory = job.folder(tmp_path) / CHECKPOINT_DIR
    DQN("MlpPolicy", "CartPole-v1", learning_starts=0).learn(
        100, callback=sb3_callbacks.CheckpointCallback(50, str(directory), save_replay_buffer=True))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert run_job(job, spec, tmp_path, 100, 2, CHECKPOINT_FREQ).error is None
    assert any("set aside as checkpoint.bad-" in str(warning.message) for warning in record)


# ------------------------------------------------------------------ two commands on one results folder

def test_a_run_that_another_process_trains_is_skipped_and_the_sweep_goes_on(tmp_path: Path, capsys) -> None:
    command = ["--configs", "dqn-bloglike-inputs", "--seeds", "2", "--timesteps", "300", "--eval-freq", "100",
               "--eval-episodes", "2", "--no-progress", "--no-report", "--out", str(tmp_path)]
    busy = Job("dqn-bloglike-inputs", "CartPole-v1", 0).folder(tmp_path)
    with folder_held_by_another_process(busy, "run") as holder:
        assert main(command) == 0
        printed = capsys.readouterr().out
        assert f"SKIPPED dqn-bloglike-inputs CartPole-v1 seed 0: {busy} is being written by process {holder.pid}" in printed
        assert "Wait for it to end, or use another --out." in printed
        assert set(result_files(tmp_path)) == {("dqn-bloglike-inputs", 1)}
    assert main(command) == 0  # a killed holder holds nothing
    assert "1 already done" in capsys.readouterr().out
    assert set(result_files(tmp_path)) == {("dqn-bloglike-inputs", 0), ("dqn-bloglike-inputs", 1)}



def test_minatar_presets_are_the_papers_dqn_and_blogdqns_cnn_entry() -> None:
    """dqn-minatar / qrdqn-minatar: Young & Tian's DQN settings and network; blogdqn-entry: blogdqn.yml's CnnPolicy."""
    import torch as th

    from sb3_blogdqn import MinAtarCNN
    from sb3_blogdqn.compare.presets import PRESETS, resolve
    from sb3_blogdqn.compare.runner import zoo_preprocess

    env_id = "MinAtar/Breakout-v1"
    for name in ("dqn-minatar", "qrdqn-minatar", "blogdqn-entry"):
        spec = resolve(name, PRESETS[name], env_id)
        json.dumps(spec)  # stored with every run: plain data
        kwargs = zoo_preprocess(spec).kwargs
        assert kwargs["policy"] == "CnnPolicy" and kwargs["policy_kwargs"]["features_extractor_class"] is MinAtarCNN
        if name != "blogdqn-entry":
            assert spec["n_timesteps"] == 1_000_000 and kwargs["policy_kwargs"]["optimizer_class"] is th.optim.RMSprop
            assert (kwargs["buffer_size"], kwargs["learning_starts"], kwargs["target_update_interval"]) == (
                100_000, 5000, 1000)
            assert kwargs["exploration_fraction"] == pytest.approx(0.1)  # 100k steps of the 1M budget
            # QR-DQN's pairwise loss costs N² per sample: 50 quantiles, not sb3-contrib's 200 (benchmarks/quantile_cost.py).
            assert kwargs["policy_kwargs"].get("n_quantiles") == (50 if name == "qrdqn-minatar" else None)


def test_atari_100k_presets_learn_within_the_100k_budget() -> None:
    """dqn-atari100k / blogdqn-atari100k: the Zoo's Atari DQN and blogdqn.yml's atari: entry, 100k agent steps."""
    from sb3_blogdqn.compare.presets import PRESETS, resolve
    from sb3_blogdqn.zoo import register_env_families

    register_env_families()
    env_id = "BreakoutNoFrameskip-v4"
    dqn = resolve("dqn-atari100k", PRESETS["dqn-atari100k"], env_id)
    hyperparams = dqn["hyperparams"]
    assert dqn["n_timesteps"] == 100_000 and hyperparams["frame_stack"] == 4 and hyperparams["policy"] == "CnnPolicy"
    # The Zoo's schedule would start learning only at the end of the budget.
    assert hyperparams["learning_starts"] == 1600 and hyperparams["exploration_fraction"] == pytest.approx(0.1)
    blog = resolve("blogdqn-atari100k", PRESETS["blogdqn-atari100k"], env_id)
    assert blog["n_timesteps"] == 100_000 and blog["max_episodes"] >= 100_000  # the steps end it, not B15
    assert blog["hyperparams"]["per_sample_updates"] is False and blog["hyperparams"]["buffer_size"] == 2000


def test_a_report_of_minatar_runs_registers_the_minatar_envs_itself(tmp_path: Path) -> None:
    """`compare report` in a fresh process reads a MinAtar env's spec (its solved threshold): gymnasium 1.x registers none."""
    import subprocess
    import sys

    from sb3_blogdqn.compare.__main__ import main

    out = tmp_path / "minatar"
    assert main(["--env", "MinAtar/Breakout-v1", "--configs", "dqn-minatar", "--seeds", "1", "--timesteps", "300",
                 "--eval-freq", "150", "--eval-episodes", "1", "--no-progress", "--no-report", "--out", str(out)]) == 0
    report = subprocess.run([sys.executable, "-m", "sb3_blogdqn.compare", "report", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    summary = (out / "summary.md").read_text()
    assert "MinAtar/Breakout-v1" in summary
    # MinAtar registers no reward_threshold: the table says so instead of counting every run as unsolved.
    assert "No solved threshold" in summary and "| no threshold |" in summary and "| 0/1 |" not in summary
