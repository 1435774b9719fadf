"""
Fingerprints of short training runs: every episode's return and length, and a digest of
every final weight and Adam moment. Recorded once and kept identical by
``tests/test_fingerprints.py``: a change to how BlogDQN is organized must not move a number.

Float rounding differs between CPUs (numba and ATen pick instructions by the CPU), so the
runs only mean something in the reproducible mode (``sb3_blogdqn.reproducibility``), which
pins every library to the instructions any x86-64 CPU has; this script refuses to run outside it.
One library the mode does not pin: MKL (torch's BLAS and vector math) computes differently on
different CPUs even on its ``COMPATIBLE`` branch, so the runs compute the ops MKL would run
without it (``WithoutMkl``).

    python -m sb3_blogdqn.reproducibility python tests/fingerprints.py --check
    python -m sb3_blogdqn.reproducibility python tests/fingerprints.py --record   # after a deliberate change
"""

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from torch.utils._python_dispatch import TorchDispatchMode

from sb3_blogdqn import BlogDQN, make_blog_env
from sb3_blogdqn.reproducibility import reproducible_mode_problems
from sb3_blogdqn.zoo import load_preset

DATA = Path(__file__).parent / "data" / "fingerprints.json"


class Episodes(BaseCallback):
    """Every episode Monitor reports, warm-up included: its return and length."""

    def __init__(self) -> None:
        super().__init__()
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.returns.append(float(info["episode"]["r"]))
                self.lengths.append(int(info["episode"]["l"]))
        return True


def _blog(seed: int, steps: int, **switches: Any) -> Callable[[Episodes], BlogDQN]:
    return lambda episodes: BlogDQN("MlpPolicy", "CartPole-v1", seed=seed, **switches).learn(steps, callback=episodes)


def _preset(env_id: str, seed: int, steps: int, **overrides: Any) -> Callable[[Episodes], BlogDQN]:
    return lambda episodes: load_preset(env_id).train(seed=seed, callback=episodes, n_timesteps=steps, **overrides)


def _two_envs(episodes: Episodes) -> BlogDQN:
    env = make_blog_env("CartPole-v1", n_envs=2, seed=3)
    return BlogDQN("MlpPolicy", env, seed=3, learning_starts=64).learn(1500, callback=episodes)


# The runs the learning-core refactor must leave identical: the faithful defaults and the
# CartPole-v1 tuned preset (the issue's own), and one run for each switch the refactor touches.
RUNS: dict[str, Callable[[Episodes], BlogDQN]] = {
    "blog_seed0_6000": _blog(0, 6000),
    "blog_seed1_6000": _blog(1, 6000),
    "tuned_cartpole_seed0_9000": _preset("CartPole-v1", 0, 9000),
    # Quantile head and loss, torch's Adam, SB3's schedule (train_freq 4, gradient_steps 8), unscaled inputs.
    "tuned_acrobot_seed0_1100": _preset("Acrobot-v1", 0, 1100),
    # Huber, 3-step returns, clipping at 10; its 5,000-transition warm-up shortened to reach learning.
    "tuned_lunarlander_seed0_1200": _preset("LunarLander-v3", 0, 1200, learning_starts=500),
    # The scaler from the space's bounds, 3-step returns, train_freq 16.
    "tuned_mountaincar_seed0_2000": _preset("MountainCar-v0", 0, 2000),
    "reference_path_seed0_500": _blog(0, 500, use_kernel=False),
    "reference_quantile_seed0_300": _blog(0, 300, use_kernel=False, loss="quantile", loss_on_all_actions=False,
                                          double_q=True, n_steps=2, policy_kwargs=dict(n_quantiles=5)),
    # B2, B8, B13 switched to SB3's, Polyak averaging, per-sample fits with clipping.
    "standard_switches_seed2_3000": _blog(2, 3000, skip_short_histories=False, exploration_fraction=0.3,
                                          target_update_on_episode_step=False, tau=0.5, max_grad_norm=1.0,
                                          loss="huber", loss_on_all_actions=False, double_q=True),
    "two_envs_seed3_1500": _two_envs,
}


class WithoutMkl(TorchDispatchMode):
    """
    torch's ops that run in MKL, computed without it. MKL_CBWR=COMPATIBLE does not make MKL's sums
    the same on every CPU: the reference path's fingerprints recorded on an AMD EPYC (AVX-512)
    differed on an Intel Xeon and on QEMU's emulated EPYC-Rome, all in the reproducible mode; the
    first numbers to differ were a Linear layer's ``addmm`` (MKL's BLAS) and Adam's ``sqrt`` (MKL's
    vector math, which on its COMPATIBLE branch is not even correctly rounded). So:

    - a matrix product (``mm``, ``addmm``) is a product of broadcast tensors summed by ATen's
      reduction, which the mode pins (ATEN_CPU_CAPABILITY=default);
    - ``sqrt`` is numpy's, IEEE's correctly rounded square root, the same bits on every CPU;
    - any other op that MKL computes stops the run, so no fingerprint depends on MKL unnoticed.

    Each gives a correct result, rounded in another order than MKL's; the fingerprints are of the
    runs computed this way. The package itself is unchanged: only this harness routes around MKL.
    """

    # BLAS-backed ops, and the vector-math ops whose results moved with MKL_CBWR in ATEN_CPU_CAPABILITY=default
    # (each compared on 100,000 inputs under COMPATIBLE, SSE4_2, AVX2 and AVX512), with their in-place forms.
    MKL_OPS: ClassVar[frozenset[Any]] = frozenset({
        th.ops.aten.bmm, th.ops.aten.baddbmm, th.ops.aten.addbmm, th.ops.aten.mv, th.ops.aten.addmv, th.ops.aten.dot,
        th.ops.aten.vdot, th.ops.aten._addmm_activation, th.ops.aten.convolution, th.ops.aten.sqrt_,
        th.ops.aten._foreach_sqrt, th.ops.aten.exp, th.ops.aten.exp_, th.ops.aten.log, th.ops.aten.log_,
        th.ops.aten.log2, th.ops.aten.log10, th.ops.aten.tanh, th.ops.aten.tanh_, th.ops.aten.tan, th.ops.aten.atan,
        th.ops.aten.asin, th.ops.aten.acos, th.ops.aten.erf, th.ops.aten.erfc, th.ops.aten.erfinv,
    })

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        op = func.overloadpacket
        if func is th.ops.aten.mm.default:
            return self.product(*args)
        if func is th.ops.aten.addmm.default and kwargs.get("beta", 1) == 1 and kwargs.get("alpha", 1) == 1:
            bias, left, right = args
            return bias + self.product(left, right)
        if func is th.ops.aten.sqrt.default:
            return self.sqrt(args[0])
        if func is th.ops.aten.pow.Tensor_Scalar and args[1] == 0.5:
            return self.sqrt(args[0])  # ATen's pow(x, 0.5) is its sqrt
        if op in self.MKL_OPS or op in (th.ops.aten.mm, th.ops.aten.addmm, th.ops.aten.sqrt):
            raise NotImplementedError(f"WithoutMkl: {func} with {kwargs} would run in MKL; give it a form here")
        return func(*args, **kwargs)

    # Inside __torch_dispatch__ this mode is off: the ops below run as they are.
    @staticmethod
    def product(left: th.Tensor, right: th.Tensor) -> th.Tensor:
        return (left.unsqueeze(2) * right.unsqueeze(0)).sum(dim=1)

    @staticmethod
    def sqrt(tensor: th.Tensor) -> th.Tensor:
        return th.from_numpy(np.sqrt(tensor.detach().numpy()))


def _digest(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    return {"sha256": hashlib.sha256(array.tobytes()).hexdigest()[:16], "sum": float(array.astype(np.float64).sum())}


def fingerprint(model: BlogDQN, episodes: Episodes) -> dict[str, Any]:
    """The run's episodes, and a digest of every tensor of the policy (Q, Q̂, the scaler) and of Adam."""
    tensors = {f"policy.{name}": value for name, value in model.policy.state_dict().items()}
    for i, param in enumerate(model.policy.optimizer.param_groups[0]["params"]):
        for key, value in model.policy.optimizer.state[param].items():
            tensors[f"adam.{i}.{key}"] = value
    return {
        "num_timesteps": int(model.num_timesteps),
        "returns": episodes.returns,
        "lengths": episodes.lengths,
        "exploration_rate": float(model.exploration_rate),
        "tensors": {name: _digest(value.detach().cpu().numpy()) for name, value in tensors.items()},
    }


def run(name: str) -> dict[str, Any]:
    th.set_num_threads(1)
    episodes = Episodes()
    with WithoutMkl():
        model = RUNS[name](episodes)
    return fingerprint(model, episodes)


def differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What changed between two fingerprints of one run, in words (empty: identical)."""
    found = []
    for key in ("num_timesteps", "returns", "lengths", "exploration_rate"):
        if recorded[key] != now[key]:
            found.append(f"{key}: recorded {recorded[key]!r}, now {now[key]!r}")
    for name in sorted(set(recorded["tensors"]) | set(now["tensors"])):
        if recorded["tensors"].get(name) != now["tensors"].get(name):
            found.append(f"tensor {name}: recorded {recorded['tensors'].get(name)}, now {now['tensors'].get(name)}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", action="store_true", help=f"run every fingerprint and write {DATA.name}")
    action.add_argument("--check", action="store_true", help="run them and compare with the recorded ones")
    parser.add_argument("runs", nargs="*", help="only these runs (default: all)")
    args = parser.parse_args()
    problems = reproducible_mode_problems()
    if problems:
        sys.exit("Fingerprints are only comparable in the reproducible mode: " + "; ".join(problems))
    names = args.runs or list(RUNS)
    recorded = json.loads(DATA.read_text()) if DATA.exists() else {}
    failed = []
    for name in names:
        now = run(name)
        if args.record:
            recorded[name] = now
            print(f"{name}: recorded ({len(now['returns'])} episodes)", flush=True)
            continue
        found = differences(recorded[name], now)
        print(f"{name}: {'identical' if not found else 'CHANGED'}", flush=True)
        for line in found[:10]:
            print(f"    {line}")
        failed += [name] if found else []
    if args.record:
        DATA.parent.mkdir(exist_ok=True)
        tmp = DATA.with_name(f".{DATA.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(recorded, indent=1) + "\n")
        os.replace(tmp, DATA)
    if failed:
        sys.exit(f"{len(failed)} fingerprint(s) changed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
