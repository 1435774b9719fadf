"""Helpers shared by several test modules."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from stable_baselines3.common.callbacks import BaseCallback

from sb3_blogdqn.reproducibility import in_reproducible_mode

# A trajectory of many learning steps depends on the CPU's float rounding (sb3_blogdqn.reproducibility):
# a test that compares one needs every CPU to compute the same one. CI runs the suite in both modes.
only_in_reproducible_mode = pytest.mark.skipif(
    not in_reproducible_mode(),
    reason="compares trajectories: run in the reproducible mode (python -m sb3_blogdqn.reproducibility python -m pytest)",
)


class InterruptAt(BaseCallback):
    """Raises KeyboardInterrupt at the ``n_calls``-th step, where a user's Ctrl-C would land."""

    def __init__(self, n_calls: int) -> None:
        super().__init__()
        self.at = n_calls

    def _on_step(self) -> bool:
        if self.n_calls == self.at:
            raise KeyboardInterrupt
        return True


def load_script(path: Path) -> ModuleType:
    """A script of benchmarks/ (not a package) imported as a module, so tests can call its functions."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, f"{path} is not a Python file"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
