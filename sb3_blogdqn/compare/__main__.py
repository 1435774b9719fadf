"""
Command line: ``python -m sb3_blogdqn.compare [run] ...`` and ``python -m sb3_blogdqn.compare report ...``
(also installed as ``sb3-blogdqn-compare``).
"""

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

from sb3_blogdqn.compare.presets import ABLATION_CONFIGS, DEFAULT_CONFIGS, describe_presets, load_configs, resolve
from sb3_blogdqn.compare.runner import ERROR_FILE, parse_shard, plan_jobs, run_jobs, shard

# Seeds reach numpy, whose generators take seeds below 2**32; a run seeds its eval env with the
# seed + 10,000, and a resumed run with the seed + its env steps: these bounds keep every sum below.
MAX_SEED_START = 10**9
MAX_SEEDS = 10_000
# More env steps (or episodes, or steps between evaluations) than any budget reaches.
MAX_STEPS = 10**9
MAX_EVAL_EPISODES = 1000  # a run builds one eval env per evaluation episode
MAX_JOBS = 256
MAX_BOOTSTRAP_REPS = 100_000


def integer_in(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``minimum`` to ``maximum``, or argparse's error (exit code 2) naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {minimum:,} to {maximum:,}, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum:,} to {maximum:,}, got {value:,}")
        return value

    return parse


def finite_number(text: str) -> float:
    """An argparse ``type``: a finite float (``nan`` would compare false with every return, ``inf`` never be reached)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


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
    parser.add_argument("--seeds", type=integer_in(1, MAX_SEEDS), default=10,
                        help=f"seeds per (config, env), 1 to {MAX_SEEDS:,} (default: 10)")
    parser.add_argument("--seed-start", type=integer_in(0, MAX_SEED_START), default=0,
                        help=f"first seed, 0 to {MAX_SEED_START:,} (default: 0)")
    parser.add_argument("--jobs", type=integer_in(1, MAX_JOBS), default=1,
                        help=f"worker processes, 1 to {MAX_JOBS} (default: 1)")
    parser.add_argument("--out", type=Path, default=Path("compare-results"), help="results folder")
    parser.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                        help="run only slice I (0-based) of N disjoint slices of the job set, e.g. $SLURM_ARRAY_TASK_ID/8")
    parser.add_argument("--timesteps", type=integer_in(1, MAX_STEPS),
                        help="cap every run's env steps, >= 1 (shrinks budgets for a quick look)")
    parser.add_argument("--max-episodes", type=integer_in(1, MAX_STEPS),
                        help="replace the episode budget, >= 1 (blogdqn: 400)")
    parser.add_argument("--eval-freq", type=integer_in(0, MAX_STEPS), default=2500,
                        help="evaluate every N env steps (default: 2500; 0: only at the end of each run)")
    parser.add_argument("--eval-episodes", type=integer_in(1, MAX_EVAL_EPISODES), default=10,
                        help=f"deterministic episodes per evaluation, 1 to {MAX_EVAL_EPISODES} (default: 10)")
    parser.add_argument("--checkpoint-freq", type=integer_in(0, MAX_STEPS), default=10_000,
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
    parser.add_argument("--solved-threshold", type=finite_number,
                        help="default: the env's reward_threshold (CartPole-v1: 475)")
    parser.add_argument("--reps", type=integer_in(1, MAX_BOOTSTRAP_REPS), default=2000,
                        help=f"bootstrap samples, 1 to {MAX_BOOTSTRAP_REPS:,} (default: 2000)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from sb3_blogdqn.zoo import register_env_families

    register_env_families()  # MinAtar and Atari ids, when their extras are installed (the report reads their specs too)
    if argv[:1] == ["report"]:
        args = report_parser().parse_args(argv[1:])
        from sb3_blogdqn.compare.report import NoFinishedRunsError, write_report

        try:
            summary = write_report(args.folders, args.out or args.folders[0], args.solved_threshold, args.reps)
        except NoFinishedRunsError as error:
            raise SystemExit(f"No report: {error}") from None
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
    failures = run_jobs(jobs, specs, args.out, args.jobs, args.eval_freq, args.eval_episodes, not args.no_progress,
                        args.checkpoint_freq)
    for job, reason in failures:
        print(f"FAILED {job.config} {job.env} seed {job.seed} (see {job.folder(args.out) / ERROR_FILE}): {reason}")
    if not args.no_report:
        from sb3_blogdqn.compare.report import NoFinishedRunsError, write_report

        try:
            print(f"Report: {write_report([args.out], args.out)}")
        except NoFinishedRunsError as error:  # every run failed, or other processes are training them
            print(f"No report: {error}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
