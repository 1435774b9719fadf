"""
Env steps per second of this checkout against another revision of the package, side by side.

A change that must not slow BlogDQN down (a refactor, a new switch) is measured here: the
revision ``--base`` is checked out into a temporary git worktree, and each configuration runs
``learn(steps)`` in a fresh process for each of the two package trees, alternating within every
round so that a change in the machine's load hits both alike. The median over rounds and the
ratio of the medians are reported. One torch thread; each process first runs an untimed short
``learn`` (imports, numba's compile or cache load).

    python benchmarks/revision_speed.py --base 4e9b1a1 --rounds 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# label -> the BlogDQN model, as Python source taking the seed
CONFIGURATIONS = {
    "blog defaults (fused kernel)": 'BlogDQN("MlpPolicy", "CartPole-v1", seed=seed)',
    "per_sample_updates=False": 'BlogDQN("MlpPolicy", "CartPole-v1", per_sample_updates=False, seed=seed)',
    "tuned Acrobot-v1 (256x256, quantiles)": 'load_preset("Acrobot-v1").make_model(seed=seed)',
}

TIMER = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(1)
import sb3_blogdqn
from sb3_blogdqn import BlogDQN
from sb3_blogdqn.zoo import load_preset
assert sb3_blogdqn.__file__.startswith(sys.argv[1]), sb3_blogdqn.__file__
seed, steps = int(sys.argv[2]), int(sys.argv[3])
eval({model}).learn(300)
model = eval({model})
start = time.perf_counter()
model.learn(steps)
print(json.dumps(steps / (time.perf_counter() - start)))
"""


def steps_per_second(tree: Path, model: str, seed: int, steps: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", TIMER.format(model=repr(model)), str(tree), str(seed), str(steps)],
                         env=env, capture_output=True, text=True, check=True, cwd=tree)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6000, help="env steps per measurement (the Acrobot preset: a tenth)")
    parser.add_argument("--only", default="", help="only the configurations whose label contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base], check=True)
        try:
            configurations = {label: model for label, model in CONFIGURATIONS.items() if args.only in label}
            results = measure(base, args.rounds, args.steps, configurations)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"\ncommand: python benchmarks/revision_speed.py {' '.join(sys.argv[1:])} (this checkout: {head.stdout.strip()})")
    print(f"| configuration | {args.base} steps/s | this checkout steps/s | ratio (median of {args.rounds}) |")
    print("|---|---:|---:|---:|")
    for label, (old, new) in results.items():
        print(f"| {label} | {statistics.median(old):,.0f} | {statistics.median(new):,.0f} | "
              f"{statistics.median(new) / statistics.median(old):.3f} |")


def measure(base: Path, rounds: int, steps: int,
            configurations: dict[str, str]) -> dict[str, tuple[list[float], list[float]]]:
    results: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in configurations}
    for round_ in range(rounds):
        for label, model in configurations.items():
            n = steps // 10 if "Acrobot" in label else steps
            # Which tree goes first alternates too: the second process may find the machine warmer.
            trees = [(0, base), (1, ROOT)] if round_ % 2 == 0 else [(1, ROOT), (0, base)]
            for index, tree in trees:
                results[label][index].append(steps_per_second(tree, model, round_, n))
            print(f"round {round_ + 1}: {label}: base {results[label][0][-1]:,.0f}, "
                  f"this checkout {results[label][1][-1]:,.0f} steps/s", flush=True)
    return results


if __name__ == "__main__":
    main()
