"""
How much of a final score is the last snapshot's luck? Each run's final return (its last
deterministic evaluation, what the targets and ``compare report`` use) beside the mean of its
last K evaluations, aggregated across seeds as IQM and mean with rliable's 95% stratified-bootstrap
intervals, per config and env.

A run's evaluation curve can swing by a hundred or more between neighbouring evaluations to the
end of its budget (LunarLander-v3), so two configs whose late curves are level can end far apart
on their final snapshots alone. The mean over the last K evaluations (K = 5: the snapshots of the
last 20,000 env steps at ``--eval-freq 5000``) shows the level the late curve holds; it is a reading
of the committed runs, not a substitute for the final score.

    python benchmarks/late_evaluations.py benchmarks/results/acrobot benchmarks/results/lunarlander
"""

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from sb3_blogdqn.compare.report import (
    final_score,
    format_interval,
    format_number,
    interval_estimates,
    load_runs,
    mean_and_iqm,
)


def late_mean(run: dict, last: int) -> float:
    """The mean return over the run's last ``last`` evaluations (each the mean of its episodes)."""
    returns = run["evaluations"]["returns"]
    if len(returns) < last:
        raise ValueError(f"{run['path']}: {len(returns)} evaluations, fewer than --last {last}; lower --last.")
    return float(np.mean([np.mean(episodes) for episodes in returns[-last:]]))


MEAN, IQM = 0, 1  # mean_and_iqm's order


def _cell(point: np.ndarray, interval: np.ndarray, index: int) -> str:
    return format_interval(point[index], interval[0, index], interval[1, index])


def table(folders: list[Path], last: int, reps: int) -> list[str]:
    by_env: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for run in load_runs(folders):
        by_env[run["spec"]["env"]][run["spec"]["config"]].append(run)
    lines = [
        f"| env | config | runs | final: IQM [95% CI] | last {last} evaluations: IQM [95% CI] | final: mean | "
        f"last {last} evaluations: mean |",
        "|---|---|---:|---|---|---:|---:|",
    ]
    for env_id, by_config in by_env.items():
        for config, runs in sorted(by_config.items()):
            final = np.array([[final_score(run)] for run in runs])
            late = np.array([[late_mean(run, last)] for run in runs])
            points, intervals = interval_estimates({"final": final, "late": late}, mean_and_iqm, reps)
            lines.append(
                f"| {env_id} | {config} | {len(runs)} | {_cell(points['final'], intervals['final'], IQM)} | "
                f"{_cell(points['late'], intervals['late'], IQM)} | {format_number(points['final'][MEAN])} | "
                f"{format_number(points['late'][MEAN])} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="compare output folders (searched for runs recursively)")
    parser.add_argument("--last", type=int, default=5, help="evaluations at the end of each run to average")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap samples")
    args = parser.parse_args()
    if args.last < 1:
        parser.error("--last must be at least 1")
    print("\n".join(table(args.folders, args.last, args.reps)))


if __name__ == "__main__":
    main()
