"""
No number moves: short runs of the faithful defaults, the tuned presets and every learning switch
end with the episodes and weights recorded in ``tests/data/fingerprints.json`` (see
``tests/fingerprints.py``), and models saved by sb3-blogdqn 0.1.0 still load and act as they did.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from fingerprints import WithoutMkl
from torch.utils._python_dispatch import TorchDispatchMode

from sb3_blogdqn import BlogDQN, make_blog_env
from sb3_blogdqn.reproducibility import REPRODUCIBLE_ENV

TESTS = Path(__file__).parent
SAVED = TESTS / "data" / "saved_by_0.1.0"


class MklCounter(TorchDispatchMode):
    """How many ops reached torch's kernels as matrix products or square roots (those WithoutMkl replaces)."""

    def __enter__(self) -> "MklCounter":
        self.calls = 0
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += func.overloadpacket in (th.ops.aten.mm, th.ops.aten.addmm, th.ops.aten.sqrt)
        return func(*args, **(kwargs or {}))


def test_fingerprinted_runs_are_unchanged_in_the_reproducible_mode():
    """Run in a child process: the mode's variables are read when numba and torch start."""
    result = subprocess.run(
        [sys.executable, str(TESTS / "fingerprints.py"), "--check"],
        env={**os.environ, **REPRODUCIBLE_ENV, "PYTHONWARNINGS": "ignore"},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("identical") == len(json.loads((TESTS / "data" / "fingerprints.json").read_text()))


def test_fingerprints_refuse_to_run_outside_the_reproducible_mode():
    env = {name: value for name, value in os.environ.items() if name not in REPRODUCIBLE_ENV}
    result = subprocess.run([sys.executable, str(TESTS / "fingerprints.py"), "--check", "blog_seed0_6000"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "reproducible mode" in result.stderr


def test_fingerprints_compute_torch_s_mkl_ops_without_mkl_to_the_same_values():
    """MKL rounds differently on different CPUs even in the mode; the harness's forms agree with it to rounding."""
    th.manual_seed(0)
    layer = th.nn.Sequential(th.nn.Linear(16, 20), th.nn.ReLU(), th.nn.Linear(20, 2))
    inputs = th.randn(32, 16)
    positive = (th.rand(1000) * 10 + 0.01).requires_grad_()  # as a parameter would

    def forward_backward() -> list[th.Tensor]:
        layer.zero_grad()
        out = layer(inputs)
        out.square().mean().backward()
        return [out.detach(), *(param.grad.clone() for param in layer.parameters()), positive.sqrt().detach()]

    with MklCounter() as with_mkl:
        expected = forward_backward()
    with MklCounter() as without_mkl, WithoutMkl():  # the counter sees what WithoutMkl passes on
        computed = forward_backward()
    assert with_mkl.calls > 0 and without_mkl.calls == 0
    for want, got in zip(expected, computed, strict=True):
        th.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert np.array_equal(computed[-1].numpy(), np.sqrt(positive.detach().numpy()))  # IEEE's correctly rounded root


def test_fingerprints_stop_at_an_op_mkl_would_compute_and_the_harness_does_not_cover():
    with WithoutMkl(), pytest.raises(NotImplementedError, match="would run in MKL"):
        th.exp(th.ones(3))


@pytest.mark.parametrize("name", ["blog", "quantile_nstep"])
def test_models_saved_by_0_1_0_load_act_and_learn(name):
    expected = json.loads((SAVED / "expected.json").read_text())
    model = BlogDQN.load(SAVED / f"{name}.zip", env=make_blog_env("CartPole-v1", seed=0))
    observations = th.as_tensor(np.array(expected["observations"], dtype=np.float32))
    with th.no_grad():
        q_values = model.q_net(observations).numpy()
    np.testing.assert_allclose(q_values, expected[name]["q_values"], rtol=1e-5, atol=1e-5)
    assert model.num_timesteps == expected[name]["num_timesteps"]
    assert model.exploration_rate == pytest.approx(expected[name]["exploration_rate"])
    assert model._n_exploration_decisions == expected[name]["n_exploration_decisions"]
    assert model._n_target_updates == expected[name]["n_target_updates"]
    model.learn(200, reset_num_timesteps=False)  # the memory refills by warm-up play, then replays run
    assert model._n_updates > expected[name]["n_updates"]
