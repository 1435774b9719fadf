"""
Run (configuration, env, seed) jobs in worker processes, each into its own folder.

The layout mirrors the RL Zoo's ``logs/<algo>/<env>_<id>/``, so the Zoo's plotting tools
read it too (``python -m rl_zoo3.cli all_plots -a blogdqn dqn-zoo -e CartPole-v1 -f DIR``)::

    DIR/<config>/<env>_<seed>/evaluations.npz   EvalCallback's format: timesteps, results, ep_lengths
    DIR/<config>/<env>_<seed>/result.json       everything else; written last, atomically: the run is done
    DIR/<config>/<env>_<seed>/checkpoint/       while it runs: the newest mid-run checkpoint (common.checkpoints)

A job whose ``result.json`` exists is skipped, so an interrupted command resumes where
it stopped, and ``--shard i/n`` jobs of a cluster array write disjoint folders. A job
killed mid-run resumes from its checkpoint (every ``--checkpoint-freq`` env steps): the
model with its optimizer and exploration state, the replay buffer, the training env's
frozen scaler and the record so far. What a checkpoint cannot hold is the envs' position
inside their episodes and the random generators' state: the resumed run starts fresh
episodes (the one in progress is not recorded) with generators re-seeded from the seed
and the step count, so it is a run of the same configuration, not the same trajectory
as an uninterrupted one; ``result.json`` lists the steps it resumed at in ``resumed_at``.
"""

import argparse
import contextlib
import io
import json
import shutil
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from rl_zoo3.exp_manager import ExperimentManager
from sb3_contrib import QRDQN
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack
from tqdm.auto import tqdm

from sb3_blogdqn import BlogDQN, StopTrainingOnMaxLearningEpisodes
from sb3_blogdqn.common.checkpoints import Checkpoint, CheckpointCallback, find_checkpoint, next_multiple
from sb3_blogdqn.common.checks import find_vec_wrapper
from sb3_blogdqn.common.files import write_atomically
from sb3_blogdqn.common.wrappers import VecStandardScaler, make_blog_env

ALGOS: dict[str, type[BaseAlgorithm]] = {"blogdqn": BlogDQN, "dqn": DQN, "qrdqn": QRDQN}
RESULT_FILE = "result.json"
EVALUATIONS_FILE = "evaluations.npz"
CHECKPOINT_DIR = "checkpoint"
# An evaluation episode this long is taken for one that never ends (unless the env's own time limit is longer).
EPISODE_STEP_LIMIT = 100_000


@dataclass(frozen=True, order=True)
class Job:
    """One run, keyed by (config, env, seed)."""

    config: str
    env: str
    seed: int

    def folder(self, out: Path) -> Path:
        return out / self.config / f"{self.env}_{self.seed}"


def plan_jobs(configs: list[str], envs: list[str], seeds: list[int]) -> list[Job]:
    """Every (config, env, seed) once, in an order that does not depend on the command line's order."""
    jobs = {Job(config, env, seed) for config in configs for env in envs for seed in seeds}
    # Seed-major: a run cut short still leaves every config with its first seeds done.
    return sorted(jobs, key=lambda job: (job.seed, job.env, job.config))


def shard(jobs: list[Job], index: int, count: int) -> list[Job]:
    """Slice ``index`` (0-based) of ``count`` disjoint slices; round robin, so slow configs spread out."""
    if not 0 <= index < count:
        raise ValueError(f"--shard {index}/{count}: the index must be in 0..{count - 1}.")
    return jobs[index::count]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, e.g. 0/4, got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard {text}: i must be in 0..n-1")
    return index, count


def is_done(job: Job, out: Path) -> bool:
    return (job.folder(out) / RESULT_FILE).is_file()


# ------------------------------------------------------------------ inside a worker


@dataclass
class ModelSetup:
    """What the RL Zoo's preprocessing makes of Zoo-style hyperparameters."""

    kwargs: dict[str, Any]  # for the algorithm's constructor
    n_envs: int
    frame_stack: int | None
    env_wrapper: Any
    vec_env_wrapper: Any = None


def zoo_preprocess(spec: dict[str, Any]) -> ModelSetup:
    """The spec's Zoo-style hyperparameters as model kwargs, by the RL Zoo's own preprocessing."""
    with contextlib.redirect_stdout(io.StringIO()):
        manager = ExperimentManager(
            argparse.Namespace(), spec["algo"], spec["env"], log_folder="", n_timesteps=spec["n_timesteps"], verbose=0
        )
        kwargs, env_wrapper, callbacks, vec_env_wrapper = manager._preprocess_hyperparams(dict(spec["hyperparams"]))
    if manager.normalize or callbacks:
        raise ValueError(
            f"{spec['config']}: 'normalize' and 'callback' are not supported by the comparison; "
            "train such a configuration with the RL Zoo itself."
        )
    if vec_env_wrapper is not None and spec["algo"] == "blogdqn":
        raise ValueError(f"{spec['config']}: BlogDQN builds its own history and scaler; drop 'vec_env_wrapper'.")
    kwargs.setdefault("policy", "MlpPolicy")
    return ModelSetup(kwargs, manager.n_envs, getattr(manager, "frame_stack", None), env_wrapper, vec_env_wrapper)


def make_envs(spec: dict[str, Any], setup: ModelSetup, seed: int, n_eval_envs: int) -> tuple[VecEnv, VecEnv]:
    """Training and (separate, differently seeded) evaluation envs, wrapped in the Zoo's order."""
    eval_seed = seed + 10_000
    if spec["algo"] == "blogdqn":
        history_length = setup.kwargs.get("history_length", 4)
        return (
            make_blog_env(spec["env"], setup.n_envs, history_length, seed, wrapper_class=setup.env_wrapper),
            make_blog_env(spec["env"], n_eval_envs, history_length, eval_seed, wrapper_class=setup.env_wrapper),
        )
    envs = []
    for n_envs, env_seed in ((setup.n_envs, seed), (n_eval_envs, eval_seed)):
        env = make_vec_env(spec["env"], n_envs=n_envs, seed=env_seed, wrapper_class=setup.env_wrapper)
        if setup.vec_env_wrapper is not None:
            env = setup.vec_env_wrapper(env)
        envs.append(VecFrameStack(env, setup.frame_stack) if setup.frame_stack else env)
    train_scaler, eval_scaler = (find_vec_wrapper(env, VecStandardScaler) for env in envs)
    if train_scaler is not None and eval_scaler is not None:
        # The model learned on inputs standardized with the training env's statistics; the eval
        # env's own fitting play would give slightly different ones (VecNormalize's eval envs
        # likewise take the training statistics).
        eval_scaler.set_statistics_from(train_scaler)
    return envs[0], envs[1]


def episode_step_limit(env_id: str) -> int:
    """Steps past which an evaluation episode of ``env_id`` is taken for one that never ends."""
    return max(EPISODE_STEP_LIMIT, gym.spec(env_id).max_episode_steps or 0)


def evaluate(
    model: BaseAlgorithm, eval_env: VecEnv, n_eval_episodes: int, max_episode_steps: int = EPISODE_STEP_LIMIT
) -> tuple[list[float], list[int]]:
    """
    Deterministic episodes on the eval env, one per sub-env (it has ``n_eval_episodes`` of them).

    :raises RuntimeError: when an episode runs past ``max_episode_steps``, where SB3's
        ``evaluate_policy`` would wait for its end forever
    """

    def check_episode_length(local_variables: dict[str, Any], _: dict[str, Any]) -> None:
        if local_variables["current_lengths"][local_variables["i"]] > max_episode_steps:
            raise RuntimeError(
                f"An evaluation episode ran past {max_episode_steps:,} steps without ending: the env has no time limit, "
                "or the policy keeps it going forever. Register the env with max_episode_steps (or add a "
                "gymnasium.wrappers.TimeLimit in the configuration's env_wrapper)."
            )

    returns, lengths = evaluate_policy(model, eval_env, n_eval_episodes, deterministic=True, return_episode_rewards=True,
                                       callback=check_episode_length)
    return [float(r) for r in returns], [int(n) for n in lengths]  # type: ignore[union-attr]


class RunRecorder(BaseCallback):
    """
    Per-episode training returns, periodic deterministic evaluations, and the training
    clock, which stops while evaluating so that wall-clock and steps/s measure training.

    :param eval_freq: evaluate every ``eval_freq`` env steps; 0 (or less): no periodic
        evaluation, as with SB3's ``EvalCallback`` (``train_one`` evaluates at the end anyway)
    :param max_episode_steps: evaluation episodes longer than this are an error (see :func:`evaluate`)
    """

    def __init__(
        self, eval_env: VecEnv, eval_freq: int, n_eval_episodes: int, max_episode_steps: int = EPISODE_STEP_LIMIT
    ) -> None:
        super().__init__()
        self.eval_env = eval_env
        self.eval_freq = eval_freq
        self.n_eval_episodes = n_eval_episodes
        self.max_episode_steps = max_episode_steps
        self.episodes: dict[str, list[float]] = {"return": [], "length": [], "timesteps": [], "seconds": []}
        self.evals: dict[str, list[Any]] = {"timesteps": [], "seconds": [], "returns": [], "lengths": []}
        self.eval_seconds = 0.0
        self.resumed_at: list[int] = []
        self._start = 0.0
        self._paused = 0.0  # seconds of this process's training spent evaluating or checkpointing
        self._seconds_before = 0.0  # training seconds before the last resume
        self._next_eval = eval_freq if eval_freq > 0 else None

    def train_seconds(self) -> float:
        return self._seconds_before + time.perf_counter() - self._start - self._paused

    def pause(self, seconds: float) -> None:
        """Take ``seconds`` (spent on something else than training) off the training clock."""
        self._paused += seconds

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the record, for :meth:`restore`."""
        return {"episodes": self.episodes, "evaluations": self.evals, "eval_seconds": self.eval_seconds,
                "train_seconds": self.train_seconds(), "resumed_at": self.resumed_at}

    def restore(self, state: dict[str, Any], timesteps: int) -> None:
        """Continue the record of a checkpoint taken at ``timesteps``."""
        self.episodes, self.evals = state["episodes"], state["evaluations"]
        self.eval_seconds, self._seconds_before = state["eval_seconds"], state["train_seconds"]
        # Every multiple up to the checkpoint was evaluated before it was taken.
        self._next_eval = next_multiple(timesteps, self.eval_freq) if self.eval_freq > 0 else None
        self.resumed_at = [*state["resumed_at"], timesteps]

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()

    def _on_step(self) -> bool:
        # The learning episodes (B15): a BlogDQN warm-up's random episodes (B6) are not among them.
        warm_up = getattr(self.model, "warming_up", False)
        for info in self.locals["infos"]:
            if "episode" in info and not warm_up:
                self.episodes["return"].append(float(info["episode"]["r"]))
                self.episodes["length"].append(int(info["episode"]["l"]))
                self.episodes["timesteps"].append(self.num_timesteps)
                self.episodes["seconds"].append(round(self.train_seconds(), 3))
        if self._next_eval is not None and self.num_timesteps >= self._next_eval:
            self.evaluate()
            self._next_eval = next_multiple(self.num_timesteps, self.eval_freq)
        return True

    def evaluate(self) -> None:
        seconds = self.train_seconds()
        started = time.perf_counter()
        returns, lengths = evaluate(self.model, self.eval_env, self.n_eval_episodes, self.max_episode_steps)
        elapsed = time.perf_counter() - started
        self.eval_seconds += elapsed
        self.pause(elapsed)
        self.evals["timesteps"].append(self.num_timesteps)
        self.evals["seconds"].append(round(seconds, 3))
        self.evals["returns"].append(returns)
        self.evals["lengths"].append(lengths)


class RunCheckpointer(CheckpointCallback):
    """
    The run's checkpoint every ``checkpoint_freq`` env steps (``common.checkpoints``' layout,
    the newest only): the model, its replay buffer, the training env's frozen scaler, and in
    the manifest the run's spec and the recorder's record so far. Its time is not training time.
    """

    def __init__(self, directory: Path, checkpoint_freq: int, recorder: RunRecorder, spec: dict[str, Any]) -> None:
        super().__init__(checkpoint_freq, directory, save_replay_buffer=True, keep_last=True)
        self.recorder = recorder
        self.spec = spec

    def extra(self) -> dict[str, Any]:
        return {"spec": self.spec, "recorder": self.recorder.state()}

    def save(self) -> Path:
        started = time.perf_counter()
        manifest = super().save()
        self.recorder.pause(time.perf_counter() - started)
        return manifest


def find_run_checkpoint(directory: Path) -> Checkpoint | None:
    """The newest complete checkpoint of a run, or None when it has none to resume from."""
    try:
        return find_checkpoint(directory)
    except FileNotFoundError:
        return None


def restore_checkpoint(
    spec: dict[str, Any], checkpoint: Checkpoint, env: VecEnv, eval_env: VecEnv, recorder: RunRecorder, seed: int,
    device: Any,
) -> BaseAlgorithm:
    """The model of ``checkpoint`` on ``env``, with its replay buffer, scaler and record."""
    if checkpoint.extra.get("spec") != json.loads(json.dumps(spec)):
        raise ValueError(
            f"The checkpoint in {checkpoint.files['model'].parent} was written by a run with other settings (budget, "
            "hyperparameters) than this command's: delete that folder to start the run afresh, or run the command it "
            "came from."
        )
    model = checkpoint.load(env, ALGOS[spec["algo"]], seed=seed, device=device)
    train_scaler, eval_scaler = (find_vec_wrapper(venv, VecStandardScaler) for venv in (env, eval_env))
    if train_scaler is not None and eval_scaler is not None:
        # The rebuilt eval env refitted its scaler; it standardizes as the training env, as in make_envs.
        eval_scaler.set_statistics_from(train_scaler)
    recorder.restore(checkpoint.extra["recorder"], model.num_timesteps)
    return model


def train_one(
    spec: dict[str, Any], seed: int, eval_freq: int, n_eval_episodes: int,
    checkpoint_dir: Path | None = None, checkpoint_freq: int = 0,
) -> dict[str, Any]:
    """
    Train one run and return its record (``result.json``'s content). With ``checkpoint_dir``,
    resume from the checkpoint in it if there is one, and (``checkpoint_freq`` > 0) write one
    every ``checkpoint_freq`` env steps.
    """
    th.set_num_threads(1)  # one core per worker: --jobs is the parallelism
    setup = zoo_preprocess(spec)
    env, eval_env = make_envs(spec, setup, seed, n_eval_episodes)
    recorder = RunRecorder(eval_env, eval_freq, n_eval_episodes, episode_step_limit(spec["env"]))
    checkpoint = find_run_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    if checkpoint is None:
        model = ALGOS[spec["algo"]](env=env, seed=seed, verbose=0, **setup.kwargs)
    else:
        device = setup.kwargs.get("device", "auto")
        model = restore_checkpoint(spec, checkpoint, env, eval_env, recorder, seed, device)
    callbacks: list[BaseCallback] = [recorder]
    if checkpoint_dir is not None and checkpoint_freq > 0:
        callbacks.append(RunCheckpointer(checkpoint_dir, checkpoint_freq, recorder, spec))
    if spec["max_episodes"] is not None:
        # BlogDQN's counts learning episodes only (B6); for SB3's algorithms it is SB3's callback.
        stop = StopTrainingOnMaxLearningEpisodes(spec["max_episodes"])
        stop.n_episodes = len(recorder.episodes["return"])  # those before a resume
        callbacks.append(stop)
    if checkpoint is None:
        model.learn(spec["n_timesteps"], callback=CallbackList(callbacks))
    elif spec["n_timesteps"] > model.num_timesteps:
        model.learn(spec["n_timesteps"] - model.num_timesteps, callback=CallbackList(callbacks),
                    reset_num_timesteps=False)
    train_seconds = recorder.train_seconds()
    if not recorder.evals["timesteps"] or recorder.evals["timesteps"][-1] != model.num_timesteps:
        recorder.evaluate()  # the final evaluation, at the end of training
    record: dict[str, Any] = {
        "spec": spec,
        "seed": seed,
        "eval_freq": eval_freq,
        "n_eval_episodes": n_eval_episodes,
        "timesteps": int(model.num_timesteps),
        "episodes_trained": len(recorder.episodes["return"]),
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(recorder.eval_seconds, 3),
        "steps_per_second": round(model.num_timesteps / train_seconds, 1),
        "episodes": recorder.episodes,
        "evaluations": recorder.evals,
        "resumed_at": recorder.resumed_at,  # env steps of the checkpoints it was resumed from
        "versions": _versions(),
    }
    if spec["algo"] == "blogdqn":
        # B16: the blog deploys the target network, acting greedily with a padded history (B3).
        model.policy.act_with_target = True
        record["final_target_network_returns"] = evaluate(model, eval_env, n_eval_episodes, recorder.max_episode_steps)[0]
    env.close()
    eval_env.close()
    return record


def _versions() -> dict[str, str]:
    return {name: version(name) for name in ("sb3-blogdqn", "stable-baselines3", "sb3-contrib", "rl_zoo3", "torch")}


def run_job(
    job: Job, spec: dict[str, Any], out: Path, eval_freq: int, n_eval_episodes: int, checkpoint_freq: int = 0
) -> tuple[Job, str | None]:
    """Worker entry point: train (or resume), then write evaluations.npz and the done marker result.json."""
    folder = job.folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        record = train_one(spec, job.seed, eval_freq, n_eval_episodes, folder / CHECKPOINT_DIR, checkpoint_freq)
    except Exception:
        (folder / "error.txt").write_text(traceback.format_exc())
        return job, traceback.format_exc(limit=1)
    evals = record["evaluations"]

    def write_evaluations(path: Path) -> None:
        with open(path, "wb") as file:  # a file object: np.savez would append ".npz" to a temporary name
            np.savez(file, timesteps=np.array(evals["timesteps"]), results=np.array(evals["returns"]),
                     ep_lengths=np.array(evals["lengths"]))

    write_atomically(folder / EVALUATIONS_FILE, write_evaluations)
    write_atomically(folder / RESULT_FILE, lambda path: path.write_text(json.dumps(record, separators=(",", ":"))))
    (folder / "error.txt").unlink(missing_ok=True)
    shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)  # the run is done: nothing to resume
    return job, None


def _stale_spec(job: Job, spec: dict[str, Any], out: Path) -> bool:
    try:
        stored = json.loads((job.folder(out) / RESULT_FILE).read_text())["spec"]
    except (OSError, ValueError, KeyError):
        return False
    return stored != json.loads(json.dumps(spec))


def run_jobs(
    jobs: list[Job],
    specs: dict[tuple[str, str], dict[str, Any]],
    out: Path,
    n_workers: int,
    eval_freq: int,
    n_eval_episodes: int,
    progress: bool = True,
    checkpoint_freq: int = 0,
) -> list[tuple[Job, str]]:
    """Run the jobs not done yet in ``n_workers`` processes; return the failures."""
    todo = [job for job in jobs if not is_done(job, out)]
    stale = [job for job in jobs if job not in todo and _stale_spec(job, specs[job.config, job.env], out)]
    resumed = sum(find_run_checkpoint(job.folder(out) / CHECKPOINT_DIR) is not None for job in todo)
    print(f"{len(jobs)} runs: {len(jobs) - len(todo)} already done in {out}, {len(todo)} to run"
          + (f" ({resumed} from their mid-run checkpoint)." if resumed else "."))
    if stale:
        print(
            f"Note: {len(stale)} finished runs were made with other settings (budget, hyperparameters) and are kept "
            f"as they are, e.g. {stale[0].folder(out)}. Delete a run's folder or use another --out to redo it."
        )
    failures: list[tuple[Job, str]] = []
    if not todo:
        return failures
    arguments = [(job, specs[job.config, job.env], out, eval_freq, n_eval_episodes, checkpoint_freq) for job in todo]
    with tqdm(total=len(todo), desc="runs", unit="run", disable=not progress) as bar:
        for job, error in _results(arguments, n_workers):
            if error is not None:
                failures.append((job, error))
                bar.write(f"FAILED {job.config} {job.env} seed {job.seed}: {error.strip().splitlines()[-1]}")
            bar.set_postfix_str(f"last: {job.config} {job.env} {job.seed}")
            bar.update()
    return failures


def _results(arguments: list[tuple[Any, ...]], n_workers: int) -> Iterator[tuple[Job, str | None]]:
    """``run_job`` on each, as they finish: in this process for one worker, else in a pool."""
    if n_workers == 1:
        yield from (run_job(*args) for args in arguments)
        return
    # spawn: torch and its thread pools are not fork-safe.
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_job, *args) for args in arguments]
        yield from (future.result() for future in as_completed(futures))
