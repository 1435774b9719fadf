"""
Run (configuration, env, seed) jobs in worker processes, each into its own folder.

The layout mirrors the RL Zoo's ``logs/<algo>/<env>_<id>/``, so the Zoo's plotting tools
read it too (``python -m rl_zoo3.cli all_plots -a blogdqn dqn-zoo -e CartPole-v1 -f DIR``)::

    DIR/<config>/<env>_<seed>/evaluations.npz   EvalCallback's format: timesteps, results, ep_lengths
    DIR/<config>/<env>_<seed>/result.json       everything else; written last, atomically: the run is done
    DIR/<config>/<env>_<seed>/checkpoint/       while it runs: the newest mid-run checkpoint (common.checkpoints)

A job whose ``result.json`` holds its finished record is skipped, so an interrupted command
resumes where it stopped, and ``--shard i/n`` jobs of a cluster array write disjoint folders.
A worker holds its run folder's lock (``.run.lock``) while it trains the run: a second command
on the same ``--out`` skips the runs that another process trains, with a message, and runs the
others. Junk costs a run, never the sweep: a ``result.json`` that is not a whole record of its
run, or a checkpoint that cannot be resumed, is renamed aside (``result.json.bad-<time>``,
``checkpoint.bad-<time>``) with a warning, and the run is redone. A job
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
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path
from typing import Any, NamedTuple

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
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack
from tqdm.auto import tqdm

from sb3_blogdqn import BlogDQN, StopTrainingOnMaxLearningEpisodes
from sb3_blogdqn.common.checkpoints import Checkpoint, CheckpointCallback, find_checkpoint, next_multiple
from sb3_blogdqn.common.checks import find_vec_wrapper
from sb3_blogdqn.common.files import FolderInUseError, FolderLock, set_aside, write_atomically
from sb3_blogdqn.common.wrappers import VecStandardScaler, make_blog_env

ALGOS: dict[str, type[OffPolicyAlgorithm]] = {"blogdqn": BlogDQN, "dqn": DQN, "qrdqn": QRDQN}
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"
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
    """
    Whether the job's run is finished: its ``result.json`` holds a whole record of that run. A
    ``result.json`` that does not (junk, a cut copy, another run's record) is set aside with a
    warning, and the run is redone.
    """
    path = job.folder(out) / RESULT_FILE
    if not path.exists():
        return False
    try:
        record = read_result(path)
        if (record["spec"]["config"], record["spec"]["env"], record["seed"]) != (job.config, job.env, job.seed):
            raise ValueError(f"it is the record of {record['spec']['config']} {record['spec']['env']} seed {record['seed']}")
    except ValueError as problem:
        with contextlib.suppress(FileNotFoundError):  # another process set it aside first
            set_aside(path, f"is not a finished run's record ({problem}); the run is redone")
        return False
    return True


def read_result(path: Path) -> dict[str, Any]:
    """
    A finished run's record (``result.json``), with everything ``report`` reads from it.

    :raises ValueError: saying what is wrong, when the file is not such a record
    """
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise ValueError(f"unreadable: {type(error).__name__}: {error}") from None
    problem = _record_problem(record)
    if problem is not None:
        raise ValueError(problem)
    return record


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list_of(value: Any, check: Any, min_length: int = 0) -> bool:
    return isinstance(value, list) and len(value) >= min_length and all(check(item) for item in value)


def _record_problem(record: Any) -> str | None:
    """What a record lacks of what ``report`` reads, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    spec, episodes, evals = (record.get(key) for key in ("spec", "episodes", "evaluations"))
    if not (isinstance(spec, dict) and all(isinstance(spec.get(key), str) for key in ("config", "env", "algo"))
            and _is_count(spec.get("n_timesteps")) and (spec.get("max_episodes") is None or _is_count(spec["max_episodes"]))):
        return "its 'spec' lacks the config, env, algo or budget"
    if not (_is_count(record.get("seed")) and _is_count(record.get("timesteps"))
            and _is_number(record.get("train_seconds")) and _is_number(record.get("steps_per_second"))):
        return "its seed, timesteps, train_seconds or steps_per_second is missing or not a number"
    if not (isinstance(episodes, dict) and _is_list_of(episodes.get("return"), _is_number)):
        return "its 'episodes' lacks the training returns"
    columns: list[Any] = (
        [evals.get(key) for key in ("timesteps", "seconds", "returns", "lengths")] if isinstance(evals, dict) else []
    )
    if not (columns and all(isinstance(column, list) for column in columns) and len(set(map(len, columns))) == 1
            and columns[0]):
        return "its 'evaluations' are not four lists of one length, with at least the final evaluation"
    timesteps, seconds, returns, lengths = columns
    if not (all(map(_is_count, timesteps)) and all(map(_is_number, seconds))
            and all(_is_list_of(episodes, _is_number, 1) for episodes in returns + lengths)
            and len({len(episodes) for episodes in returns}) == 1):
        return "its evaluations are not steps, seconds and lists of episodes' returns and lengths, as many each time"
    if not _is_list_of(record.get("resumed_at", []), _is_count):
        return "its 'resumed_at' is not a list of env steps"
    if spec["algo"] == "blogdqn" and not _is_list_of(record.get("final_target_network_returns"), _is_number, 1):
        return "it lacks the target network's returns of a BlogDQN run"
    return None


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
    from sb3_blogdqn.zoo import evaluate_policy_kwargs, register_env_families

    register_env_families()  # MinAtar's and Atari's ids, in this worker's process too
    hyperparams = dict(spec["hyperparams"])
    evaluate_policy_kwargs(hyperparams)
    with contextlib.redirect_stdout(io.StringIO()):
        manager = ExperimentManager(
            argparse.Namespace(), spec["algo"], spec["env"], log_folder="", n_timesteps=spec["n_timesteps"], verbose=0
        )
        kwargs, env_wrapper, callbacks, vec_env_wrapper = manager._preprocess_hyperparams(hyperparams)
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
        """
        Continue the record of a checkpoint taken at ``timesteps``.

        :raises ValueError: when ``state`` is not a record of :meth:`state` (training would fail on it later)
        """
        def is_table(value: Any, columns: dict[str, list]) -> bool:
            return isinstance(value, dict) and set(value) == set(columns) and all(isinstance(v, list) for v in value.values())

        if not (isinstance(state, dict) and is_table(state.get("episodes"), self.episodes)
                and is_table(state.get("evaluations"), self.evals) and isinstance(state.get("resumed_at"), list)
                and _is_number(state.get("eval_seconds")) and _is_number(state.get("train_seconds"))):
            raise ValueError("the record in the checkpoint's manifest is not a RunRecorder's")
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
    """
    The newest complete checkpoint of a run, or None when it has none to resume from. A folder
    of files without a complete checkpoint is set aside, with a warning. Call it holding the
    run's lock: in the folder of a run that another process trains, a first save may be under way.
    """
    try:
        return find_checkpoint(directory)
    except FileNotFoundError as error:
        if directory.is_dir() and any(not path.name.startswith(".") for path in directory.iterdir()):
            set_aside(directory, f"holds no complete checkpoint ({error}); the run starts again from step 0")
        return None


def _can_resume(directory: Path) -> bool:
    """Whether a run has a checkpoint to resume from, without a warning (the worker warns, when it resumes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            find_checkpoint(directory)
        except FileNotFoundError:
            return False
    return True


class OtherSettingsError(ValueError):
    """The run's checkpoint was written with other settings than the command's: not junk, another experiment."""


def restore_checkpoint(
    spec: dict[str, Any], checkpoint: Checkpoint, env: VecEnv, eval_env: VecEnv, recorder: RunRecorder, seed: int,
    device: Any,
) -> OffPolicyAlgorithm:
    """
    The model of ``checkpoint`` on ``env``, with its replay buffer, scaler and record.

    :raises OtherSettingsError: when the checkpoint's run had other settings
    """
    stored_spec = checkpoint.extra.get("spec")
    if isinstance(stored_spec, dict) and stored_spec != json.loads(json.dumps(spec)):
        raise OtherSettingsError(
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
    checkpoint = find_run_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    try:
        model, env, eval_env, recorder = _start(spec, setup, seed, eval_freq, n_eval_episodes, checkpoint)
    except OtherSettingsError:
        raise
    except Exception as error:
        if checkpoint is None or checkpoint_dir is None:
            raise
        # Junk in a checkpoint would fail every rerun the same way: it costs the run its progress, not its future.
        set_aside(checkpoint_dir, f"holds a checkpoint that cannot be resumed ({type(error).__name__}: {error}); "
                                  "the run starts again from step 0")
        checkpoint = None
        model, env, eval_env, recorder = _start(spec, setup, seed, eval_freq, n_eval_episodes, None)
    callbacks: list[BaseCallback] = [recorder]
    checkpointer = None
    if checkpoint_dir is not None and checkpoint_freq > 0:
        checkpointer = RunCheckpointer(checkpoint_dir, checkpoint_freq, recorder, spec)
        callbacks.append(checkpointer)
    if spec["max_episodes"] is not None:
        # BlogDQN's counts learning episodes only (B6); for SB3's algorithms it is SB3's callback.
        stop = StopTrainingOnMaxLearningEpisodes(spec["max_episodes"])
        stop.n_episodes = len(recorder.episodes["return"])  # those before a resume
        callbacks.append(stop)
    try:
        if checkpoint is None:
            model.learn(spec["n_timesteps"], callback=CallbackList(callbacks))
        elif spec["n_timesteps"] > model.num_timesteps:
            model.learn(spec["n_timesteps"] - model.num_timesteps, callback=CallbackList(callbacks),
                        reset_num_timesteps=False)
    finally:
        if checkpointer is not None:  # a learn() that raised does not release it
            checkpointer.release_folder()
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
    if isinstance(model, BlogDQN):
        # B16: the blog deploys the target network, acting greedily with a padded history (B3).
        model.policy.act_with_target = True
        record["final_target_network_returns"] = evaluate(model, eval_env, n_eval_episodes, recorder.max_episode_steps)[0]
    env.close()
    eval_env.close()
    return record


def _start(
    spec: dict[str, Any], setup: ModelSetup, seed: int, eval_freq: int, n_eval_episodes: int, checkpoint: Checkpoint | None
) -> tuple[BaseAlgorithm, VecEnv, VecEnv, RunRecorder]:
    """A new model, or the checkpoint's, on new envs, and its recorder."""
    env, eval_env = make_envs(spec, setup, seed, n_eval_episodes)
    recorder = RunRecorder(eval_env, eval_freq, n_eval_episodes, episode_step_limit(spec["env"]))
    if checkpoint is None:
        model = ALGOS[spec["algo"]](env=env, seed=seed, verbose=0, **setup.kwargs)
    else:
        model = restore_checkpoint(spec, checkpoint, env, eval_env, recorder, seed, setup.kwargs.get("device", "auto"))
    return model, env, eval_env, recorder


def _versions() -> dict[str, str]:
    return {name: version(name) for name in ("sb3-blogdqn", "stable-baselines3", "sb3-contrib", "rl_zoo3", "torch")}


class Outcome(NamedTuple):
    """What became of a job: done (no ``error``, not ``skipped``), failed, or left to another process."""

    job: Job
    error: str | None = None  # the end of the traceback
    skipped: str | None = None  # why another process's work was left alone


def run_job(
    job: Job, spec: dict[str, Any], out: Path, eval_freq: int, n_eval_episodes: int, checkpoint_freq: int = 0
) -> Outcome:
    """
    Worker entry point: train (or resume), then write evaluations.npz and the done marker
    result.json, holding the run folder's lock all along. A run whose folder another process
    holds is skipped: it is being trained already.
    """
    try:
        with FolderLock(job.folder(out), "run", "Wait for it to end, or use another --out."):
            return _run_locked(job, spec, out, eval_freq, n_eval_episodes, checkpoint_freq)
    except FolderInUseError as in_use:
        return Outcome(job, skipped=str(in_use))
    except Exception:  # the folder cannot be made or locked
        return Outcome(job, error=traceback.format_exc(limit=1))


def _run_locked(
    job: Job, spec: dict[str, Any], out: Path, eval_freq: int, n_eval_episodes: int, checkpoint_freq: int
) -> Outcome:
    folder = job.folder(out)
    if is_done(job, out):
        return Outcome(job, skipped="another process finished it meanwhile")
    try:
        record = train_one(spec, job.seed, eval_freq, n_eval_episodes, folder / CHECKPOINT_DIR, checkpoint_freq)
        _write_results(folder, record)
    except Exception:
        details = traceback.format_exc()
        with contextlib.suppress(OSError):  # the caller prints the error's last line anyway
            write_atomically(folder / ERROR_FILE, lambda path: path.write_text(details))
        return Outcome(job, error=traceback.format_exc(limit=1))
    (folder / ERROR_FILE).unlink(missing_ok=True)
    shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)  # the run is done: nothing to resume
    return Outcome(job)


def _write_results(folder: Path, record: dict[str, Any]) -> None:
    """evaluations.npz, then the done marker result.json."""
    evals = record["evaluations"]

    def write_evaluations(path: Path) -> None:
        with open(path, "wb") as file:  # a file object: np.savez would append ".npz" to a temporary name
            np.savez(file, timesteps=np.array(evals["timesteps"]), results=np.array(evals["returns"]),
                     ep_lengths=np.array(evals["lengths"]))

    write_atomically(folder / EVALUATIONS_FILE, write_evaluations)
    write_atomically(folder / RESULT_FILE, lambda path: path.write_text(json.dumps(record, separators=(",", ":"))))


def _stale_spec(job: Job, spec: dict[str, Any], out: Path) -> bool:
    try:
        stored = read_result(job.folder(out) / RESULT_FILE)["spec"]
    except ValueError:
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
    """Run the jobs not done yet in ``n_workers`` processes; return the failures (runs other processes hold are skipped)."""
    todo = [job for job in jobs if not is_done(job, out)]
    stale = [job for job in jobs if job not in todo and _stale_spec(job, specs[job.config, job.env], out)]
    resumed = sum(_can_resume(job.folder(out) / CHECKPOINT_DIR) for job in todo)
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
        for job, error, skipped in _results(arguments, n_workers):
            if error is not None:
                failures.append((job, error))
                bar.write(f"FAILED {job.config} {job.env} seed {job.seed}: {error.strip().splitlines()[-1]}")
            if skipped is not None:
                bar.write(f"SKIPPED {job.config} {job.env} seed {job.seed}: {skipped}")
            bar.set_postfix_str(f"last: {job.config} {job.env} {job.seed}")
            bar.update()
    return failures


def _results(arguments: list[tuple[Any, ...]], n_workers: int) -> Iterator[Outcome]:
    """``run_job`` on each, as they finish: in this process for one worker, else in a pool."""
    if n_workers == 1:
        yield from (run_job(*args) for args in arguments)
        return
    # spawn: torch and its thread pools are not fork-safe.
    with ProcessPoolExecutor(max_workers=min(n_workers, len(arguments)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_job, *args): args[0] for args in arguments}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool as error:  # a worker was killed (out of memory?): every job left fails with it
                yield Outcome(futures[future], error=f"its worker process died ({error}); rerun the command to resume it")
