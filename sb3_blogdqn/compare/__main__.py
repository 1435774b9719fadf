"""
Command line: ``python -m sb3_blogdqn.compare [run] ...`` and ``python -m sb3_blogdqn.compare report ...``
(also installed as ``sb3-blogdqn-compare``).
"""

import argparse
import sys
from pathlib import Path

from sb3_blogdqn.compare.presets import ABLATION_CONFIGS, DEFAULT_CONFIGS, describe_presets, load_configs, resolve
from sb3_blogdqn.compare.runner import parse_shard, plan_jobs, run_jobs, shard


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sb3-blogdqn-compare",
        description="Train configurations x envs x seeds in parallel, then write the report. "
        "`sb3-blogdqn-compare report DIR...` merges results folders into a report.",
    )
    parser.add_argument("--env", nargs="+", default=["CartPole-v1"], help="env ids (default: CartPole-v1)")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS),
                        help="preset names and/or YAML files of named configurations (see --list-presets)")
    parser.add_argument("--ablate", action="store_true",
                        help=f"add BlogDQN with B8, B10, B11, B13, B14 each turned to standard DQN, and all at once "
                             f"({', '.join(ABLATION_CONFIGS)})")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per (config, env) (default: 10)")
    parser.add_argument("--seed-start", type=int, default=0, help="first seed (default: 0)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--out", type=Path, default=Path("compare-results"), help="results folder")
    parser.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                        help="run only slice I (0-based) of N disjoint slices of the job set, e.g. $SLURM_ARRAY_TASK_ID/8")
    parser.add_argument("--timesteps", type=int, help="cap every run's env steps (shrinks budgets for a quick look)")
    parser.add_argument("--max-episodes", type=int, help="replace the episode budget (blogdqn: 400)")
    parser.add_argument("--eval-freq", type=int, default=2500, help="evaluate every N env steps (default: 2500)")
    parser.add_argument("--eval-episodes", type=int, default=10, help="deterministic episodes per evaluation (default: 10)")
    parser.add_argument("--checkpoint-freq", type=int, default=10_000,
                        help="write a run's mid-run checkpoint every N env steps, so a killed run resumes from it "
                             "(default: 10000; 0: never)")
    parser.add_argument("--no-report", action="store_true", help="only train (e.g. in a shard); run `report` later")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-presets", action="store_true", help="print the preset configurations and exit")
    return parser


def report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sb3-blogdqn-compare report",
                                     description="Merge results folders into summary.md and PNG figures.")
    parser.add_argument("folders", nargs="+", type=Path, help="results folders (searched recursively for runs)")
    parser.add_argument("--out", type=Path, help="report folder (default: the first results folder)")
    parser.add_argument("--solved-threshold", type=float, help="default: the env's reward_threshold (CartPole-v1: 475)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap samples (default: 2000)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        args = report_parser().parse_args(argv[1:])
        from sb3_blogdqn.compare.report import write_report

        summary = write_report(args.folders, args.out or args.folders[0], args.solved_threshold, args.reps)
        print(f"Report: {summary}")
        return 0
    args = run_parser().parse_args(argv[1:] if argv[:1] == ["run"] else argv)
    if args.list_presets:
        print(describe_presets())
        return 0
    names = list(args.configs) + (list(ABLATION_CONFIGS) if args.ablate else [])
    if args.ablate and "blogdqn" not in names:
        names.insert(0, "blogdqn")  # the ablations are read against it
    configs = load_configs(list(dict.fromkeys(names)))
    specs = {
        (name, env_id): resolve(name, config, env_id, args.timesteps, args.max_episodes)
        for name, config in configs.items()
        for env_id in args.env
    }
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    jobs = shard(plan_jobs(list(configs), args.env, seeds), *args.shard)
    if args.checkpoint_freq < 0:
        raise SystemExit(f"--checkpoint-freq must be >= 0 (0: no checkpoints), got {args.checkpoint_freq}.")
    failures = run_jobs(jobs, specs, args.out, args.jobs, args.eval_freq, args.eval_episodes, not args.no_progress,
                        args.checkpoint_freq)
    for job, error in failures:
        print(f"FAILED {job.config} {job.env} seed {job.seed} (see {job.folder(args.out) / 'error.txt'}): {error}")
    if not args.no_report:
        from sb3_blogdqn.compare.report import write_report

        print(f"Report: {write_report([args.out], args.out)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
