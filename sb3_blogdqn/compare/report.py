"""
Merge any number of results folders into ``summary.md`` and PNG figures.

Statistics across seeds are those of rliable (Agarwal et al., 2021), computed with SciPy: mean
and interquartile mean (IQM) with 95% stratified-bootstrap confidence intervals, and the
probability of improvement for the ablations. A run's score is the mean return of its last
deterministic evaluation.
"""

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

try:
    import matplotlib
    from scipy import stats
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError("The comparison report needs SciPy and matplotlib: " 'pip install "sb3-blogdqn[compare]"') from error

matplotlib.use("Agg")

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from sb3_blogdqn.common.files import write_atomically
from sb3_blogdqn.common.plotting import plot_training_scores
from sb3_blogdqn.compare.presets import ABLATION_CONFIGS, ABLATION_SWITCHES, PRESETS, solved_threshold
from sb3_blogdqn.compare.runner import RESULT_FILE, read_result

# What the blog reports its learned (target) network scoring, per env it tried.
BLOG_REPORTED_SCORE = {"CartPole-v1": 500.0}
CURVE_POINTS = 60
ZOO_BENCHMARK = "https://github.com/DLR-RM/rl-baselines3-zoo/blob/master/benchmark.md"
# The columns of the Zoo's benchmark.md, each True where its writer (pytablewriter) right-aligns it, being numeric.
ZOO_BENCHMARK_COLUMNS = {
    "algo": False, "env_id": False, "mean_reward": True, "std_reward": True,
    "n_timesteps": False, "eval_timesteps": True, "eval_episodes": True,
}


class NoFinishedRunsError(FileNotFoundError):
    """No finished run's record under the folders of a report."""


def load_runs(folders: list[Path]) -> list[dict[str, Any]]:
    """
    Every finished run under ``folders``; a (config, env, seed) found twice is counted once. A
    ``result.json`` that is not a whole record is left out with a warning (a sweep over its
    folder redoes its run).
    """
    runs: dict[tuple[str, str, int], dict[str, Any]] = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob(RESULT_FILE)):
            try:
                record = read_result(path)
            except ValueError as problem:
                warnings.warn(f"{path} is left out of the report: it is not a finished run's record ({problem}).",
                              stacklevel=2)
                continue
            key = (record["spec"]["config"], record["spec"]["env"], record["seed"])
            if key in runs:
                warnings.warn(f"{path}: run {key} already loaded from another folder, this copy is ignored.", stacklevel=2)
                continue
            record["path"] = str(path.parent)
            runs[key] = record
    return list(runs.values())


def final_score(run: dict[str, Any]) -> float:
    return float(np.mean(run["evaluations"]["returns"][-1]))


def first_solved(run: dict[str, Any], threshold: float) -> tuple[int, float] | None:
    """Env steps and training seconds at the first evaluation whose mean return reaches ``threshold``."""
    evals = run["evaluations"]
    for timesteps, seconds, returns in zip(evals["timesteps"], evals["seconds"], evals["returns"], strict=True):
        if np.mean(returns) >= threshold:
            return timesteps, seconds
    return None


def interval_estimates(
    scores: dict[str, np.ndarray], func: Callable[..., np.ndarray], reps: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """
    Point estimates and 95% intervals of ``func`` for each config's scores, laid out as rliable's:
    (runs, tasks, ...) with one task, the env. ``func(runs, axis)`` aggregates over the runs' axis
    (:func:`mean_and_iqm`). An interval is ``(2, ...)``, lower then upper; a single run has none.
    """
    points, intervals = {}, {}
    for name, matrix in scores.items():
        runs = matrix[:, 0]
        points[name] = func(runs, axis=0)
        if len(runs) < 2:
            intervals[name] = np.stack([points[name], points[name]])
        else:
            intervals[name] = bootstrap_interval((runs,), func, reps)
    return points, intervals


def bootstrap_interval(samples: tuple[np.ndarray, ...], func: Callable[..., np.ndarray], reps: int) -> np.ndarray:
    """
    The 95% percentile interval of ``func(*samples, axis)`` over ``reps`` bootstrap resamples, each
    sample's runs (axis 0, whole) drawn with replacement on their own: rliable's stratified bootstrap,
    one task per env. Seeded, so that a report is reproducible; ``(2, ...)``, lower then upper.
    """
    result = stats.bootstrap(
        samples, func, n_resamples=reps, vectorized=True, axis=0, method="percentile", confidence_level=0.95,
        # rliable's draws: a RandomState seeded 0 (it seeded numpy's global one), one resample at a time,
        # each sample's runs in turn. The reports it wrote are reproduced to the last digit.
        random_state=np.random.RandomState(0), batch=1 if len(samples) > 1 else None,
    )
    return np.stack([result.confidence_interval.low, result.confidence_interval.high])


def mean_and_iqm(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    """The mean and the IQM (a 25% trimmed mean) of the runs along ``axis``, the pair every report table bootstraps."""
    return np.stack([np.mean(scores, axis=axis), iqm(scores, axis=axis)])


def iqm(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    """The interquartile mean of the runs along ``axis``: the mean of their middle half."""
    return stats.trim_mean(scores, proportiontocut=0.25, axis=axis)


def probability_of_improvement(x: np.ndarray, y: np.ndarray, axis: int = 0) -> np.ndarray:
    """
    rliable's P(X > Y): the probability that a run of ``x`` scores higher than a run of ``y``, a tie
    counting half (0.5: no difference), which is Mann-Whitney's U of ``x`` over the ``n_x * n_y`` pairs.
    """
    u = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", axis=axis).statistic
    return u / (x.shape[axis] * y.shape[axis])


def curve_matrix(runs: list[dict[str, Any]], x_key: str) -> tuple[np.ndarray, np.ndarray]:
    """
    Evaluation returns on a shared x grid (env steps or training seconds), (runs, 1, points).
    A run holds its last evaluation after its own end (episode budgets end at different
    steps); the grid starts where every run has been evaluated once.
    """
    xs = [np.asarray(run["evaluations"][x_key], dtype=float) for run in runs]
    ys = [np.mean(run["evaluations"]["returns"], axis=1) for run in runs]
    grid = np.linspace(max(x[0] for x in xs), max(x[-1] for x in xs), CURVE_POINTS)
    rows = [y[np.searchsorted(x, grid, side="right") - 1] for x, y in zip(xs, ys, strict=True)]
    return grid, np.array(rows)[:, None, :]


def format_number(value: float) -> str:
    """A number as the report tables print it: whole numbers and thousands without decimals, others with one."""
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:.1f}"


def format_interval(point: float, low: float, high: float) -> str:
    """A point estimate and its 95% interval as the report tables print them: ``-71.9 [-97.1, -68.5]``."""
    return f"{format_number(point)} [{format_number(low)}, {format_number(high)}]"


def _median(values: list[float]) -> str:
    return format_number(float(np.median(values))) if values else "–"


def _budget(spec: dict[str, Any]) -> str:
    if spec["max_episodes"] is not None:
        return f"{spec['max_episodes']} episodes (≤ {spec['n_timesteps']:,} steps)"
    return f"{spec['n_timesteps']:,} steps"


def _ordered_configs(runs: list[dict[str, Any]]) -> list[str]:
    names = {run["spec"]["config"] for run in runs}
    known = [name for name in PRESETS if name in names]
    return known + sorted(names - set(known))


def write_report(
    folders: list[Path], out: Path, threshold: float | None = None, reps: int = 2000
) -> Path:
    """Write ``out/summary.md`` and its figures from the runs under ``folders``; return the summary's path."""
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(folders)
    if not runs:
        raise NoFinishedRunsError(f"no finished runs ({RESULT_FILE}) under {', '.join(map(str, folders))}.")
    lines = [
        "# BlogDQN vs stock SB3 DQN",
        "",
        f"{len(runs)} runs from {', '.join(f'`{folder}`' for folder in folders)}.",
        "",
        "- **final return**: mean return of a run's last deterministic evaluation (at the end of its budget; "
        "episodes on a separate, differently seeded eval env); mean and IQM across seeds with 95% stratified-bootstrap "
        f"percentile confidence intervals ([rliable](https://github.com/google-research/rliable)'s, computed with SciPy; "
        f"{reps} bootstrap samples).",
        "- **solved**: runs whose evaluation mean reached the threshold at least once; env steps and seconds to the "
        "first such evaluation are medians over those runs.",
        "- **wall-clock** is training time without the evaluations, one process per run with one torch thread; "
        "**steps/s** = env steps / wall-clock. Other processes on the machine slow every config alike only if they "
        "ran throughout, so compare speeds within one results folder.",
    ]
    resumed = sorted((r["spec"]["config"], r["spec"]["env"], r["seed"], r["resumed_at"]) for r in runs if r.get("resumed_at"))
    if resumed:
        lines.append(
            f"- **resumed**: {len(resumed)} runs were killed mid-run and resumed from their newest checkpoint (the "
            "episode in progress is lost, the generators re-seeded; the wall-clock adds up the pieces): "
            + "; ".join(f"`{config}` {env} seed {seed} at {', '.join(map(str, steps))} steps"
                        for config, env, seed, steps in resumed) + "."
        )
    lines.append("")
    for env_id in sorted({run["spec"]["env"] for run in runs}):
        env_runs = [run for run in runs if run["spec"]["env"] == env_id]
        lines += _env_section(env_id, env_runs, out, threshold, reps)
    summary = out / "summary.md"
    write_atomically(summary, lambda path: path.write_text("\n".join(lines) + "\n"))
    return summary


def _env_section(env_id: str, runs: list[dict[str, Any]], out: Path, threshold: float | None, reps: int) -> list[str]:
    threshold = threshold if threshold is not None else solved_threshold(env_id)
    configs = _ordered_configs(runs)
    by_config = {name: sorted((r for r in runs if r["spec"]["config"] == name), key=lambda r: r["seed"]) for name in configs}
    scores = {name: np.array([[final_score(r)] for r in by_config[name]]) for name in configs}
    points, intervals = interval_estimates(scores, mean_and_iqm, reps)

    lines = [f"## {env_id}", ""]
    if threshold is not None:
        lines += [f"Solved threshold: {threshold:g} (evaluation mean return).", ""]
    else:
        lines += [f"No solved threshold: {env_id} registers no reward_threshold; pass --solved-threshold to set one.", ""]
    lines += [
        "| config | algo | budget | runs | final return: mean [95% CI] | IQM [95% CI] | solved | env steps to solve "
        "| seconds to solve | env steps | wall-clock s | steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in configs:
        group = by_config[name]
        spec = group[0]["spec"]
        solved = [s for s in (first_solved(r, threshold) for r in group) if s is not None] if threshold is not None else []
        # Without a threshold nothing can be solved: "0/5" would read as five failures.
        solved_count = f"{len(solved)}/{len(group)}" if threshold is not None else "no threshold"
        (mean, iqm), ((mean_lo, iqm_lo), (mean_hi, iqm_hi)) = points[name], intervals[name]
        lines.append(
            f"| {name} | {spec['algo']} | {_budget(spec)} | {len(group)} "
            f"| {format_interval(mean, mean_lo, mean_hi)} | {format_interval(iqm, iqm_lo, iqm_hi)} "
            f"| {solved_count} | {_median([s[0] for s in solved])} | {_median([s[1] for s in solved])} "
            f"| {_median([r['timesteps'] for r in group])} | {_median([r['train_seconds'] for r in group])} "
            f"| {_median([r['steps_per_second'] for r in group])} |"
        )
    lines.append("")
    lines += _zoo_benchmark(env_id, by_config)
    lines += _blog_claim(env_id, by_config)
    lines += _ablations(env_id, by_config, scores, reps)

    safe_env = env_id.replace("/", "_")
    figures = [("final returns", f"final_{safe_env}.png")]
    _plot_final(points, intervals, configs, env_id, out / figures[0][1])
    main = [name for name in configs if name not in ABLATION_CONFIGS]
    ablation = [name for name in configs if name in ABLATION_CONFIGS]
    ablation = (["blogdqn"] if "blogdqn" in configs else []) + ablation
    for group_name, members in (("", main), ("ablation_", ablation if len(ablation) > 1 else [])):
        for x_key, label in (("timesteps", "env steps"), ("seconds", "wall-clock seconds (training)")):
            if members:
                name = f"{group_name}curves_{x_key}_{safe_env}.png"
                _plot_curves({c: by_config[c] for c in members}, x_key, label, env_id, threshold, reps, out / name)
                figures.append((f"{group_name.replace('_', ' ')}learning curves vs {label}", name))
    for name in main:  # the ablations have their curves above
        if by_config[name][0]["spec"]["algo"] == "blogdqn":
            figure = f"b17_{name}_{safe_env}.png"
            _plot_b17(by_config[name], env_id, out / figure)
            figures.append((f"{name}: the blog's plot (B17), one panel per seed", figure))
    for caption, figure in figures:
        lines += [f"**{caption}**", "", f"![{caption}]({figure})", ""]
    return lines


def zoo_benchmark_table(env_id: str, by_config: dict[str, list[dict[str, Any]]]) -> list[str]:
    """
    The Zoo's benchmark.md table, one row per config. The Zoo evaluates one trained agent; here every
    seed's final evaluation episodes are pooled, as if they were one evaluation of the config
    (``std_reward`` is ``np.std`` over those episodes, as the Zoo's).
    """
    rows = []
    for name, runs in by_config.items():
        returns = np.concatenate([run["evaluations"]["returns"][-1] for run in runs])
        eval_timesteps = sum(sum(run["evaluations"]["lengths"][-1]) for run in runs)
        n_timesteps = _zoo_timesteps(runs[0]["spec"]["n_timesteps"])
        rows.append([name, env_id, f"{np.mean(returns):.3f}", f"{np.std(returns):.3f}", n_timesteps,
                     str(eval_timesteps), str(len(returns))])
    return _aligned_table(ZOO_BENCHMARK_COLUMNS, rows)


def _zoo_timesteps(n_timesteps: int) -> str:
    # The Zoo writes int(n / 1e3) "k" or int(n / 1e6) "M"; :g keeps what int() would drop (1.5M, not 1M).
    return f"{n_timesteps / 1e3:g}k" if n_timesteps < 1e6 else f"{n_timesteps / 1e6:g}M"


def _aligned_table(columns: dict[str, bool], rows: list[list[str]]) -> list[str]:
    """A Markdown table padded as pytablewriter pads the Zoo's, so that the two also read alike as plain text."""
    widths = [max(map(len, column)) for column in zip(columns, *rows, strict=True)]
    right = list(columns.values())

    def line(cells: Iterable[str]) -> str:
        return "|" + "|".join(cells) + "|"

    return [
        line(f"{name:^{width}}" for name, width in zip(columns, widths, strict=True)),
        line("-" * (width - 1) + (":" if r else "-") for width, r in zip(widths, right, strict=True)),
        *(line(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)) for row in rows),
    ]


def _zoo_benchmark(env_id: str, by_config: dict[str, list[dict[str, Any]]]) -> list[str]:
    caps = [f"`{name}` at {runs[0]['spec']['max_episodes']} episodes" for name, runs in by_config.items()
            if runs[0]["spec"]["max_episodes"] is not None]
    caps_text = f" Episode caps apply too, training stopping at whichever comes first: {', '.join(caps)}." if caps else ""
    return [
        "### In the RL Zoo's benchmark format",
        "",
        f"The columns of the Zoo's [benchmark.md]({ZOO_BENCHMARK}): `algo` is the config; `mean_reward` and `std_reward` "
        "are over all episodes of every seed's final deterministic evaluation, pooled; `eval_timesteps` and "
        f"`eval_episodes` are those episodes' env steps and number; `n_timesteps` is the step budget (M = 1e6).{caps_text}",
        "",
        *zoo_benchmark_table(env_id, by_config),
        "",
    ]


def _blog_claim(env_id: str, by_config: dict[str, list[dict[str, Any]]]) -> list[str]:
    reported = BLOG_REPORTED_SCORE.get(env_id)
    runs = by_config.get("blogdqn")
    if reported is None or not runs:
        return []
    target = [np.asarray(r["final_target_network_returns"]) for r in runs]
    online = [np.asarray(r["evaluations"]["returns"][-1]) for r in runs]
    hits = sum(bool(np.all(returns >= reported)) for returns in target)
    online_hits = sum(bool(np.all(returns >= reported)) for returns in online)
    ever = sum(any(min(returns) >= reported for returns in r["evaluations"]["returns"]) for r in runs)
    n_episodes = len(target[0])
    rate = f"{hits}/{len(runs)} seeds ({100 * hits / len(runs):.0f}%)"
    if hits == len(runs):
        verdict = f"**Yes: BlogDQN's blog preset reaches {reported:g} as the blog reports, in {rate}.**"
    else:
        verdict = (
            f"**No: BlogDQN's blog preset does not reliably reach {reported:g} as the blog reports. "
            f"Success rate across seeds: {rate}.**"
        )
    per_seed = ", ".join(f"{r['seed']}: {np.mean(t):.0f}" for r, t in zip(runs, target, strict=True))
    return [
        f"### Does BlogDQN reach {reported:g}, as the blog reports?",
        "",
        f"The blog's `run()` plays its learned target network greedily (B16, history padded as in B3) and scores "
        f"{reported:g}. Here a seed succeeds when that network, after the blog's budget, scores {reported:g} in all "
        f"{n_episodes} evaluation episodes.",
        "",
        verdict,
        "",
        f"Mean target-network return per seed: {per_seed}. The online network (what the table above evaluates) "
        f"scores {reported:g} in all episodes in {online_hits}/{len(runs)} seeds at the end, and did so in at least one "
        f"evaluation during training in {ever}/{len(runs)} seeds.",
        "",
    ]


def _ablations(
    env_id: str, by_config: dict[str, list[dict[str, Any]]], scores: dict[str, np.ndarray], reps: int
) -> list[str]:
    flipped = [name for name in ABLATION_CONFIGS if name in by_config]
    if not flipped or "blogdqn" not in by_config:
        return []
    lines = [
        "### Ablations: which of the blog's deviations from standard DQN matter",
        "",
        "Each row is BlogDQN with one switch turned to standard DQN (all five in `blogdqn-std-all`). "
        "P(better) is rliable's probability that a run of the row's config scores higher than a run of `blogdqn` "
        "(a tie counting half), 0.5 meaning no difference; its 95% CI excluding 0.5 means the switch matters, "
        "in that direction.",
        "",
        "| config | switch(es) | final IQM | Δ mean vs blogdqn | P(better than blogdqn) [95% CI] |",
        "|---|---|---|---|---|",
    ]
    blog = scores["blogdqn"][:, 0]
    for name in flipped:
        rule = name.removeprefix("blogdqn-std-")
        switch = ABLATION_SWITCHES.get(rule) or {k: v for s in ABLATION_SWITCHES.values() for k, v in s.items()}
        row = scores[name][:, 0]
        point = probability_of_improvement(row, blog)
        low, high = bootstrap_interval((row, blog), probability_of_improvement, reps)
        settings = ", ".join(f"`{k}={v}`" for k, v in switch.items())
        lines.append(
            f"| {name} | {settings} | {format_number(float(iqm(row)))} | {np.mean(row) - np.mean(blog):+.1f} "
            f"| {point:.2f} [{low:.2f}, {high:.2f}] |"
        )
    return [*lines, ""]


def save_figure(fig: Figure, path: Path, **savefig_kwargs: Any) -> None:
    """Write ``fig`` as a PNG that a kill never leaves half-written, and close it."""
    try:
        # The format is named: the temporary file's extension is not .png.
        write_atomically(path, lambda temporary: fig.savefig(temporary, format="png", dpi=100, **savefig_kwargs))
    finally:
        plt.close(fig)


def _plot_final(points: dict, intervals: dict, configs: list[str], env_id: str, path: Path) -> None:
    """rliable's interval plot: per metric, each config's 95% interval as a bar and its point estimate as a tick."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.45 * len(configs) + 1), sharey=True, squeeze=False)
    colors = plt.get_cmap("tab10")
    for metric, (ax, title) in enumerate(zip(axes[0], ("Mean", "IQM"), strict=True)):
        for row, name in enumerate(configs):
            low, high = intervals[name][:, metric]
            ax.barh(row, high - low, left=low, height=0.6, color=colors(row % 10), alpha=0.75)
            ax.vlines(points[name][metric], row - 0.28, row + 0.22, color="black", alpha=0.5)
        ax.set_title(title)
        ax.grid(True, axis="x", alpha=0.25)
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.tick_params(axis="y", length=0)
    axes[0, 0].set_yticks(range(len(configs)), configs)
    axes[0, 0].invert_yaxis()
    fig.supxlabel(f"{env_id} final evaluation return")
    fig.tight_layout()
    save_figure(fig, path, bbox_inches="tight")


def _plot_curves(
    by_config: dict[str, list[dict[str, Any]]],
    x_key: str,
    x_label: str,
    env_id: str,
    threshold: float | None,
    reps: int,
    path: Path,
) -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, runs in by_config.items():
        grid, matrix = curve_matrix(runs, x_key)
        (point,), (interval,) = (v.values() for v in interval_estimates({name: matrix}, iqm, reps))
        line = ax.plot(grid, point, label=f"{name} ({len(runs)} runs)")[0]
        ax.fill_between(grid, interval[0], interval[1], color=line.get_color(), alpha=0.2)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle=":", linewidth=1, label=f"solved ({threshold:g})")
    ax.set_xlabel(x_label)
    ax.set_ylabel("evaluation return (IQM, 95% CI)")
    ax.set_title(env_id)
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path)


def _plot_b17(runs: list[dict[str, Any]], env_id: str, path: Path) -> None:
    cols = min(len(runs), 5)
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharey=True)
    for ax, run in zip(axes.flat, runs, strict=False):
        plot_training_scores(run["episodes"]["return"], env_id, ax=ax)
        ax.set_title(f"{env_id} (seed {run['seed']})", fontsize="medium")
    for ax in axes.flat[len(runs) :]:
        ax.set_visible(False)
    fig.tight_layout()
    save_figure(fig, path)
