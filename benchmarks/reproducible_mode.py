"""
The README's main job (``examples/cartpole_blog.py``, the blog's 400 episodes on CartPole-v1) in the
reproducible mode and natively, alternating within each round: what each prints, and how long each
takes (wall-clock of the whole command, median over rounds).

The reproducible mode's output must be the same in every round and on every x86-64 machine; the
native one is the same on one machine but differs between CPUs.

    python benchmarks/reproducible_mode.py --rounds 3
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sb3_blogdqn.reproducibility import REPRODUCIBLE_ENV

ROOT = Path(__file__).resolve().parents[1]
MODES = {"reproducible": REPRODUCIBLE_ENV, "native": {}}


def run(mode: str, seed: int, out: Path) -> tuple[float, list[str]]:
    env = {name: value for name, value in os.environ.items() if name not in REPRODUCIBLE_ENV}
    env.update(MODES[mode])
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "cartpole_blog.py"), "--seed", str(seed),
                             "--out", str(out)], env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    # The run's result: everything but the progress lines and where the plot went.
    lines = [line for line in result.stdout.splitlines() if not line.startswith(("episode", "Saved"))]
    return seconds, lines


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    outputs: dict[str, set[tuple[str, ...]]] = {mode: set() for mode in MODES}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            for mode in MODES if round_ % 2 == 0 else reversed(MODES):
                elapsed, lines = run(mode, args.seed, Path(scratch) / f"{mode}.png")
                seconds[mode].append(elapsed)
                outputs[mode].add(tuple(lines))
                print(f"round {round_ + 1}, {mode}: {elapsed:.1f} s", flush=True)
    print(f"\ncommand: python benchmarks/reproducible_mode.py {' '.join(sys.argv[1:])}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    for mode in MODES:
        print(f"\n{mode}: median {statistics.median(seconds[mode]):.1f} s over {args.rounds} rounds "
              f"({', '.join(f'{s:.1f}' for s in seconds[mode])}); "
              f"{'the same output every round' if len(outputs[mode]) == 1 else 'OUTPUTS DIFFER between rounds'}:")
        for output in outputs[mode]:
            print("    " + "\n    ".join(output))
    ratio = statistics.median(seconds["reproducible"]) / statistics.median(seconds["native"])
    print(f"\nthe reproducible mode takes {ratio:.2f}x the native time")


if __name__ == "__main__":
    main()
