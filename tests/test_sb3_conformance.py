"""
SB3's own test suite against BlogDQN: the tests of the installed stable-baselines3
that run DQN, with DQN replaced by BlogDQN (``tests/sb3_conformance.py`` says how, and lists
every test that BlogDQN does not pass by design, with its reason). Any other failure fails.

The suite comes from the sdist of the installed version on the package index (it carries
``tests/``). Without network the test skips, except in CI (``CI`` set), where it fails.
"""

import os
import re
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest
from sb3_conformance import NOT_RUN

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def sb3_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sb3_version = version("stable_baselines3")
    where = tmp_path_factory.mktemp("sb3_sdist")
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
         f"stable-baselines3=={sb3_version}", "-d", str(where)],
        capture_output=True, text=True, timeout=300,
    )
    if download.returncode != 0:
        message = f"cannot download the stable-baselines3 {sb3_version} sdist: {download.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    (archive,) = where.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    (tests,) = where.glob("*/tests")
    return tests


def test_sb3_tests_that_run_dqn_pass_on_blogdqn(sb3_tests: Path) -> None:
    modules = sorted(path.name for path in sb3_tests.glob("test_*.py")
                     if "DQN" in path.read_text() and path.name not in NOT_RUN)
    assert len(modules) >= 10  # the suite was found, and holds DQN's tests
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sb3_conformance", "-p", "no:cacheprovider", "-q", "-rfE",
         "--rootdir", str(sb3_tests.parent), *modules],
        cwd=sb3_tests, env=env, capture_output=True, text=True, timeout=1200,
    )
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    counts = {name: int(number) for number, name in
              re.findall(r"(\d+) (passed|failed|errors?|by design|one trajectory)", report)}
    assert counts.get("passed", 0) >= 30 and "failed" not in counts, report
    print(f"SB3 {version('stable_baselines3')} DQN tests on BlogDQN: {counts}")
