"""
SB3's own test suite, run against BlogDQN wherever it runs DQN (a pytest plugin).

``tests/test_sb3_conformance.py`` downloads the sdist of the installed stable-baselines3
(it carries ``tests/``) and runs its test modules with ``-p sb3_conformance``. Before they
are imported, this plugin makes ``stable_baselines3.DQN`` *be* :class:`BlogDQN`, so every
``DQN(...)`` in them builds a BlogDQN with the arguments SB3's tests give DQN. It keeps the
tests that run DQN (parametrized with it, or naming it in their body) and deselects the
others. Of those it keeps:

- ``BY_DESIGN`` lists each test BlogDQN does not pass on purpose, with the B-rule or the
  documented refusal that says why; they are deselected and counted;
- ``ONE_TRAJECTORY`` lists each test whose verdict is a learning threshold on one seed's
  trajectory, which float rounding can move between CPUs; each is checked over several seeds
  in ``tests/test_sb3_dropin.py`` instead;
- everything else must pass: a new failure fails the suite, and so does an entry of either
  list that SB3's suite no longer has. This file is the complete list of where BlogDQN is
  not a drop-in for SB3's DQN.
"""

import inspect

import pytest
import stable_baselines3
import stable_baselines3.dqn
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_blogdqn import BlogDQN

HER = ("HerReplayBuffer is refused by design (docs/blogdqn.md, 'Can I use?'): BlogDQN stores histories (B1), one row "
       "per transition from all envs in turn (B2, B5), and draws without replacement (B7)")
VEC_NORMALIZE = "VecNormalize is refused: BlogDQN has its own frozen scaler (B4; on images SB3's division by 255)"
BATCH_NORM = "BatchNorm cannot train on the batches of one of per_sample_updates=True (B11): refused at construction"
POLICY_HISTORY = ("the policy alone acts on histories (B1); the history of a raw env's states is kept by "
                  "BlogDQN.predict (in `state`), which the test bypasses by calling the saved policy")
# Test modules that are not run, and why.
NOT_RUN: dict[str, str] = {}
# Node ids relative to SB3's tests/ folder, or a module, or a test function (all its parameters).
BY_DESIGN: dict[str, str] = {
    "test_her.py": HER,
    "test_callbacks.py::test_eval_success_logging": HER,
    "test_callbacks.py::test_checkpoint_additional_info": VEC_NORMALIZE,
    "test_cnn.py::test_image_like_input": VEC_NORMALIZE,
    "test_dict_env.py::test_vec_normalize": VEC_NORMALIZE,
    "test_cnn.py::test_features_extractor_target_net[False-BlogDQN]": (
        "calls train() after 10 env steps of a 50-transition warm-up and expects a gradient step; BlogDQN learns "
        "nothing in the warm-up (B6), whose end fits the scaler (B4)"
    ),
    "test_callbacks.py::test_eval_callback_logs_are_written_with_the_correct_timestep": (
        "reads the tensorboard run folder DQN_1; BlogDQN's runs are named BlogDQN_1, after the algorithm as SB3 names "
        "DQN's (the timesteps it checks are tested in tests/test_sb3_dropin.py)"
    ),
    "test_n_step_replay.py::test_run": (
        "n_steps=3 with 2 envs is refused: n-step returns add consecutive rows, and BlogDQN's one FIFO memory (B5) "
        "interleaves the envs' transitions"
    ),
    "test_run.py::test_offpolicy_multi_env": (
        "expects 6 gradient steps after learn(3) with learning_starts=0; BlogDQN replays only after a warm-up of at "
        "least one minibatch (B6), which it draws without replacement (B7)"
    ),
    "test_save_load.py::test_warn_buffer[True-BlogDQN]": (
        "optimize_memory_usage=True is refused: BlogDQN's memory rows are not consecutive steps (B2, B5)"
    ),
    "test_save_load.py::test_save_load_policy[False-MlpPolicy-BlogDQN]": POLICY_HISTORY,
    "test_save_load.py::test_save_load_q_net[MlpPolicy-BlogDQN]": POLICY_HISTORY,
    "test_save_load.py::test_save_load_policy[False-CnnPolicy-BlogDQN]": POLICY_HISTORY,
    "test_save_load.py::test_save_load_q_net[CnnPolicy-BlogDQN]": POLICY_HISTORY,
    "test_train_eval_mode.py::test_dqn_train_with_batch_norm": BATCH_NORM,
    "test_train_eval_mode.py::test_offpolicy_collect_rollout_batch_norm": BATCH_NORM,
    "test_train_eval_mode.py::test_predict_with_dropout_batch_norm[CartPole-v1-BlogDQN]": BATCH_NORM,
}


# Tests whose verdict is a learning threshold on one seed's trajectory: float rounding, which
# differs between CPUs, can move it, so it is no verdict here (the brief of tests/). Each is
# replaced by a check over several seeds in tests/test_sb3_dropin.py.
ONE_TRAJECTORY: dict[str, str] = {
    "test_identity.py::test_discrete[env0-BlogDQN]": (
        "asserts a mean reward > 90 after 1,200 steps of seed 3; BlogDQN scored 87-98 over seeds 0-7 (93 with seed 3 "
        "under two CPU settings), so the verdict is one rounding away from flipping. "
        "test_sb3_dropin.py::test_learns_sb3s_identity_env_over_seeds checks it over 5 seeds"
    ),
}


def by_design_key(nodeid: str) -> str | None:
    """The ``BY_DESIGN`` entry covering a node id (relative to SB3's tests/), or None."""
    for key in BY_DESIGN:
        if nodeid == key or nodeid.startswith((f"{key}::", f"{key}[")):
            return key
    return None


def pytest_configure(config: pytest.Config) -> None:
    # SB3's test modules do `from stable_baselines3 import DQN` when collected, after this.
    stable_baselines3.DQN = BlogDQN  # type: ignore[misc,assignment]  # the point: SB3's tests run on BlogDQN
    stable_baselines3.dqn.DQN = BlogDQN  # type: ignore[misc,assignment]
    config.by_design = []  # type: ignore[attr-defined]
    config.one_trajectory = []  # type: ignore[attr-defined]


def _holds_blogdqn(value: object) -> bool:
    if value is BlogDQN:
        return True
    return isinstance(value, tuple | list) and any(_holds_blogdqn(item) for item in value)


def _runs_dqn(item: pytest.Item) -> bool:
    """Whether SB3's test runs DQN: parametrized with it, or (not parametrized by algorithm) naming it."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        values = list(callspec.params.values())
        if any(_holds_blogdqn(value) for value in values):
            return True
        if any(isinstance(value, type) and issubclass(value, BaseAlgorithm) for value in values):
            return False  # parametrized over other algorithms only
    function = getattr(item, "function", None)
    try:
        return function is not None and "DQN" in inspect.getsource(function)
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected, deselected, keys_seen = [], [], set()
    for item in items:
        nodeid = item.nodeid.split("tests/", 1)[-1]
        key = by_design_key(nodeid)
        keys_seen.add(key)
        if not _runs_dqn(item):
            deselected.append(item)
        elif nodeid in ONE_TRAJECTORY:
            keys_seen.add(nodeid)
            config.one_trajectory.append(f"{item.nodeid}: {ONE_TRAJECTORY[nodeid]}")  # type: ignore[attr-defined]
            deselected.append(item)
        elif key is not None:
            config.by_design.append(f"{item.nodeid}: {BY_DESIGN[key]}")  # type: ignore[attr-defined]
            deselected.append(item)
        else:
            selected.append(item)
    config.hook.pytest_deselected(items=deselected)
    items[:] = selected
    stale = sorted((set(BY_DESIGN) | set(ONE_TRAJECTORY)) - keys_seen)
    if stale:
        raise pytest.UsageError(f"tests/sb3_conformance.py: BY_DESIGN names tests SB3's suite no longer has: {stale}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    by_design = terminalreporter.config.by_design  # type: ignore[attr-defined]
    for line in by_design:
        terminalreporter.write_line(f"BY DESIGN {line}")
    one_trajectory = terminalreporter.config.one_trajectory  # type: ignore[attr-defined]
    for line in one_trajectory:
        terminalreporter.write_line(f"ONE TRAJECTORY {line}")
    terminalreporter.write_line(f"sb3-conformance: {len(by_design)} by design, {len(one_trajectory)} one trajectory")
