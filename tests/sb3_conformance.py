"""
SB3's own test suite, run against BlogDQN wherever it runs DQN (a pytest plugin).

``tests/test_sb3_conformance.py`` downloads the sdist of the installed stable-baselines3
(it carries ``tests/``) and runs it with ``-p sb3_conformance``. Before SB3's test modules
are imported, this plugin makes ``stable_baselines3.DQN`` *be* :class:`BlogDQN`, so every
``DQN(...)`` in them builds a BlogDQN with the arguments SB3's tests give DQN. It keeps only
the tests that run DQN (parametrized with it, or naming it in their body), and of those:

- ``BY_DESIGN`` are deselected: they test what BlogDQN refuses on purpose, each with the
  B-rule or documented refusal that says why;
- everything else must pass. A test that starts failing fails the suite, so this file is
  the complete list of where BlogDQN is not a drop-in for SB3's DQN.
"""

import inspect

import pytest
import stable_baselines3
import stable_baselines3.dqn

from sb3_blogdqn import BlogDQN

# test node id (relative to SB3's tests/ folder) -> why BlogDQN does not run it.
IMAGES = "image observations are refused (README, 'Observation spaces'): the MLP and StandardScaler take state vectors"
DICT = "Dict observations are refused (README, 'Observation spaces'): flatten them with FlattenObservation"
BY_DESIGN: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    # SB3's test modules do `from stable_baselines3 import DQN` when collected, after this.
    stable_baselines3.DQN = BlogDQN
    stable_baselines3.dqn.DQN = BlogDQN


def _mentions_blogdqn(value: object) -> bool:
    if value is BlogDQN:
        return True
    if isinstance(value, (tuple, list)):
        return any(_mentions_blogdqn(item) for item in value)
    return False


def _runs_dqn(item: pytest.Item) -> bool:
    """Whether SB3's test runs DQN: parametrized with it, or (unparametrized by algorithm) naming it."""
    callspec = getattr(item, "callspec", None)
    algorithm_params = {}
    if callspec is not None:
        algorithm_params = {
            name: value for name, value in callspec.params.items()
            if (isinstance(value, type) and issubclass(value, stable_baselines3.common.base_class.BaseAlgorithm))
            or isinstance(value, (tuple, list))
        }
        if any(_mentions_blogdqn(value) for value in algorithm_params.values()):
            return True
        if any(isinstance(value, type) for value in algorithm_params.values()):
            return False  # parametrized over other algorithms
    function = getattr(item, "function", None)
    if function is None:
        return False
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return "DQN" in source


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected, deselected = [], []
    for item in items:
        nodeid = item.nodeid.split("tests/", 1)[-1]
        if _runs_dqn(item) and nodeid not in BY_DESIGN:
            selected.append(item)
        else:
            deselected.append(item)
    config.hook.pytest_deselected(items=deselected)
    items[:] = selected
