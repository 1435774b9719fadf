"""
The README's many-machines tuning recipe on a real PostgreSQL server: two
``sb3-blogdqn-zoo train -optimize`` workers share one study, and a trial is trained from.

The server is started from PostgreSQL's own binaries in a temporary folder, listening
only on a unix socket there. Without the binaries the test skips, unless
``SB3_BLOGDQN_REQUIRE_POSTGRES=1`` (CI sets it) turns the skip into a failure.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from sb3_blogdqn import BlogDQN

ENV_ID = "CartPole-v1"
STUDY = "blogdqn-cartpole"
TIMEOUT = 300  # seconds for one worker: two trials, started alongside the other worker
# Trials of 300 steps and one evaluation; seeds whose random draws are cheap trials (the
# test is about the storage, not the hyperparameters).
OPTIMIZE = ["--algo", "blogdqn", "--env", ENV_ID, "--num-threads", "1", "-optimize", "--n-trials", "2", "-n", "300",
            "--n-evaluations", "1", "--eval-episodes", "2", "--no-optim-plots", "--sampler", "random"]
SEEDS = (15, 17)


def server_binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: $SB3_BLOGDQN_PG_BIN, the PATH, or Debian's versioned folders."""
    on_path = shutil.which("pg_ctl")
    candidates = [os.environ.get("SB3_BLOGDQN_PG_BIN"), on_path and os.path.dirname(on_path),
                  *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in filter(None, candidates):
        if all(os.access(Path(folder, name), os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its binaries as ``nobody``."""
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


def run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh server and an empty database; the URL the README's recipe passes to --storage."""
    binaries = server_binaries()
    if binaries is None:
        message = "no PostgreSQL server binaries (initdb, pg_ctl, postgres); set SB3_BLOGDQN_PG_BIN"
        if os.environ.get("SB3_BLOGDQN_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    # Not pytest's tmp_path: its root is private to the user running pytest, and as root the
    # server runs as nobody. mkdtemp's folder is private to its owner all the same.
    root = Path(tempfile.mkdtemp(prefix="sb3-blogdqn-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
    data = root / "data"
    started = False
    try:
        run(as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", "optuna", "--auth=trust", "-E", "UTF8",
                            "--no-sync"]))
        # No TCP (listen_addresses=''): the port only names the socket in the private folder,
        # so parallel test runs cannot collide. fsync off: a throwaway server.
        options = f"-c listen_addresses='' -k {root} -p 5432 -c fsync=off"
        run(as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
                            "-o", options, "start"]))
        started = True
        import psycopg

        with psycopg.connect(host=str(root), port=5432, user="optuna", dbname="postgres", autocommit=True) as connection:
            connection.execute("CREATE DATABASE blogdqn_optuna")
        yield f"postgresql+psycopg://optuna@/blogdqn_optuna?host={root}&port=5432"
    finally:
        if started:
            run(as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]))
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_one_postgres_study_and_a_trial_trains(postgres_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    # The recipe creates the study once before the workers: workers that start together on an
    # empty database race to create Optuna's tables, and all but one fail.
    run([str(Path(sys.executable).with_name("optuna")), "create-study", "--storage", postgres_url, "--study-name", STUDY,
         "--direction", "maximize"], env=env)
    # Started together, as the README's machines may be: both join the one study.
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "sb3_blogdqn.zoo", "train", *OPTIMIZE, "--storage", postgres_url, "--study-name", STUDY,
             "--seed", str(seed), "-f", f"logs_{seed}", "--optimization-log-path", f"trials_{seed}"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for seed in SEEDS
    ]
    for worker in workers:
        output, _ = worker.communicate(timeout=TIMEOUT)
        assert worker.returncode == 0, output[-3000:]

    trials = optuna.load_study(study_name=STUDY, storage=postgres_url).trials
    # No trial lost or counted twice: 2 per worker, numbered 0..3, each run to its end.
    assert sorted(trial.number for trial in trials) == list(range(2 * len(SEEDS)))
    assert all(trial.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for trial in trials)
    # Each worker logs the trials it ran: both workers' trials are in the one study, none in both.
    ran = [{int(path.name.removeprefix("trial_")) for path in (tmp_path / f"trials_{seed}").glob("trial_*")}
           for seed in SEEDS]
    assert [len(numbers) for numbers in ran] == [2, 2]
    assert set.union(*ran) == {trial.number for trial in trials}

    # Train from a stored trial, as "anywhere" in the recipe (the Zoo reads --trial-id 0 as none).
    zoo_train = [sys.executable, "-m", "sb3_blogdqn.zoo", "train", "--algo", "blogdqn", "--env", ENV_ID, "--num-threads", "1",
                 "--seed", "1", "-n", "100", "--eval-freq", "-1", "-f", "from_trial", "--storage", postgres_url,
                 "--study-name", STUDY, "--trial-id", "1"]
    run(zoo_train, cwd=tmp_path, env=env)
    model = BlogDQN.load(tmp_path / "from_trial" / "blogdqn" / f"{ENV_ID}_1" / f"{ENV_ID}.zip")
    params = next(trial.params for trial in trials if trial.number == 1)
    assert model.loss_on_all_actions == params["loss_on_all_actions"]
    assert model.per_sample_updates == params["per_sample_updates"]
    assert model.gamma == pytest.approx(1 - params["one_minus_gamma"])
