"""
Did a code change move the faithful BlogDQN's outcome distribution? Two folders of
``compare`` runs of one configuration (``<config>/<env>_<seed>/result.json``), compared
on three per-seed statistics with a two-sided Mann–Whitney U test:

- env steps of the whole run (the blog's 400 learning episodes and the warm-up),
- the mean score of learning episodes 1-100 (B15),
- the mean score of the last 50.

    python benchmarks/blogdqn_distribution.py OLD_DIR NEW_DIR

e.g. with the runs of an earlier commit extracted next to the current ones:
``mkdir old && git archive REV benchmarks/results/cartpole/blogdqn | tar -x -C old`` then
``python benchmarks/blogdqn_distribution.py old/benchmarks/results/cartpole/blogdqn
benchmarks/results/cartpole/blogdqn``.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

STATISTICS = {
    "env steps": lambda record: record["timesteps"],
    "mean score, episodes 1-100": lambda record: np.mean(record["episodes"]["return"][:100]),
    "mean score, last 50 episodes": lambda record: np.mean(record["episodes"]["return"][-50:]),
}


def per_seed(folder: Path) -> dict[str, list[float]]:
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("*/result.json"))]
    if not records:
        raise SystemExit(f"No result.json under {folder}/*/")
    return {name: [float(statistic(record)) for record in records] for name, statistic in STATISTICS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    old, new = per_seed(args.old), per_seed(args.new)
    print(f"{len(old['env steps'])} old runs, {len(new['env steps'])} new runs")
    print("| statistic | old median [min, max] | new median [min, max] | Mann–Whitney U | two-sided p |")
    print("|---|---|---|---:|---:|")
    for name in STATISTICS:
        test = mannwhitneyu(old[name], new[name], alternative="two-sided")
        summary = [f"{np.median(v):,.1f} [{min(v):,.1f}, {max(v):,.1f}]" for v in (old[name], new[name])]
        print(f"| {name} | {summary[0]} | {summary[1]} | {test.statistic:.1f} | {test.pvalue:.2f} |")


if __name__ == "__main__":
    main()
