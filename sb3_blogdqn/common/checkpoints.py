"""
Checkpoints that survive a kill, and resuming from the newest complete one, for any off-policy SB3 algorithm.

:class:`CheckpointCallback` writes, every ``save_freq`` env steps, SB3's files plus two
of its own (``rl_model`` is the ``name_prefix``, ``n`` the env steps)::

    rl_model_replay_buffer_<n>_steps.pkl   the replay buffer (save_replay_buffer=True)
    rl_model_vecnormalize_<n>_steps.pkl    VecNormalize's statistics (save_vecnormalize=True)
    rl_model_scaler_<n>_steps.json         a VecStandardScaler's statistics, when the env has one
    rl_model_<n>_steps.zip                 the model
    rl_model_manifest_<n>_steps.json       the files above with their sizes; written last

Each file is written under a temporary name and renamed into place, the model after the
files above it and the manifest last, so a process killed while saving leaves no cut file
under a final name. A checkpoint is complete when its manifest reads and every file it
lists has the listed size, which :func:`find_checkpoint` checks without unpickling
anything; a file cut after the save (a full disk, a copy stopped half-way) shows as a size
mismatch, and the checkpoint is skipped with a warning naming the file.

While it trains, the callback holds the lock file ``.<name_prefix>.lock`` in its folder
(:class:`~sb3_blogdqn.common.files.FolderLock`): a second process writing checkpoints of that
name there, e.g. a second resume of one run, would overwrite and delete the first one's files,
and its ``learn()`` stops at once with :class:`~sb3_blogdqn.common.files.FolderInUseError`
naming the folder and the process that holds it. A killed process holds nothing.

Checkpoints of SB3's own ``CheckpointCallback`` (no manifest) are found too. SB3 writes
its files in place, so for them the zip is read (a cut zip is skipped), but the replay
buffer can only be checked to exist: a cut one shows when it is loaded. They hold no
scaler statistics, so a resumed run keeps those of its env. A zip without a manifest but
with a scaler file beside it is a save of this callback cut short, and is skipped.

What a checkpoint cannot hold is the env's position inside its episodes and the random
generators' state: a resumed run starts fresh episodes with generators re-seeded by
:meth:`Checkpoint.load`, so two resumes of one checkpoint with one seed are identical,
but not identical to the run that was killed.
"""

import json
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common import callbacks
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.type_aliases import GymEnv

from sb3_blogdqn.common.checks import Problem, SetupError, find_vec_wrapper
from sb3_blogdqn.common.files import FolderLock, write_atomically
from sb3_blogdqn.common.wrappers import VecStandardScaler

AlgorithmT = TypeVar("AlgorithmT", bound=OffPolicyAlgorithm)

# A checkpoint's files by role; the model's name carries no role, as in SB3's CheckpointCallback.
EXTENSIONS = {"model": "zip", "replay_buffer": "pkl", "vecnormalize": "pkl", "scaler": "json", "manifest": "json"}


def checkpoint_file_name(name_prefix: str, role: str, num_timesteps: int) -> str:
    """``{name_prefix}_{role}_{num_timesteps}_steps.{extension}``, SB3's names (the model's without its role)."""
    role_part = "" if role == "model" else f"{role}_"
    return f"{name_prefix}_{role_part}{num_timesteps}_steps.{EXTENSIONS[role]}"


def next_multiple(num_timesteps: int, period: int) -> int:
    """The first multiple of ``period`` past ``num_timesteps``: when a periodic save or evaluation is next due."""
    return (num_timesteps // period + 1) * period


class CheckpointCallback(callbacks.CheckpointCallback):
    """
    SB3's ``CheckpointCallback`` with checkpoints that a kill cannot leave half-written
    (the layout is in this module's docstring); :func:`find_checkpoint` finds the newest
    complete one, :meth:`Checkpoint.load` resumes from it.

    It takes SB3's arguments (and ``keep_last``), and differs from SB3's in three ways:

    - ``save_freq`` counts env steps (``num_timesteps``), not calls: with several envs it
      is still every ``save_freq`` steps of them all.
    - It saves at the start of a rollout, once ``num_timesteps`` has passed the next multiple
      of ``save_freq``, instead of inside a step. By then every collected transition is in
      the replay buffer and has had its gradient steps, so the checkpoint holds all of the
      run so far, and a resumed run goes on with the same rollouts to the same final step.
      SB3's callback saves after ``env.step()`` but before the transition is stored. No
      rollout starts after the last one, so save the model yourself when ``learn()`` returns.
    - From the start of ``learn()`` (or its first :meth:`save`) until ``learn()`` returns, it
      holds its folder's lock for checkpoints of ``name_prefix`` (this module's docstring).
      A ``learn()`` that raises keeps it until :meth:`release_folder`, until the process ends,
      or until another callback of this process takes the folder over.

    :param save_freq: save every ``save_freq`` env steps (>= 1)
    :param save_path: the folder of the checkpoints
    :param name_prefix: the first part of the files' names
    :param save_replay_buffer: save the replay buffer too (needed to resume)
    :param save_vecnormalize: save the ``VecNormalize`` statistics too; load them with
        ``VecNormalize.load(checkpoint.files["vecnormalize"], venv)`` before resuming
    :param verbose: 2 prints the name of every checkpoint written
    :param keep_last: delete the other checkpoints of ``name_prefix`` once a new one is
        complete (SB3's keeps them all, and so does this one by default)
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str | Path,
        name_prefix: str = "rl_model",
        save_replay_buffer: bool = False,
        save_vecnormalize: bool = False,
        verbose: int = 0,
        keep_last: bool = False,
    ) -> None:
        if isinstance(save_freq, bool) or not isinstance(save_freq, int | np.integer) or save_freq < 1:
            raise ValueError(
                f"save_freq must be a whole number of env steps >= 1, got {save_freq!r}; "
                "to write no checkpoints, leave the callback out."
            )
        # SB3 annotates save_path as a str; it only joins and creates it, which a Path allows too.
        super().__init__(save_freq, save_path, name_prefix, save_replay_buffer, save_vecnormalize, verbose)  # type: ignore[arg-type]
        self.keep_last = keep_last
        self._next_save = save_freq
        self._folder_lock = FolderLock(save_path, name_prefix, "Wait for it to end, or give this run another save_path.")

    def _init_callback(self) -> None:
        super()._init_callback()
        self._folder_lock.acquire()
        # A resumed run's learn() starts past 0: its first save is at the next multiple.
        self._next_save = next_multiple(self.model.num_timesteps, self.save_freq)

    def _on_training_end(self) -> None:
        self.release_folder()

    def release_folder(self) -> None:
        """Let another process write checkpoints in the folder (``learn()`` does it when it returns)."""
        self._folder_lock.release()

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps >= self._next_save:
            self.save()
            self._next_save = next_multiple(self.model.num_timesteps, self.save_freq)

    def _on_step(self) -> bool:
        return True

    def extra(self) -> dict[str, Any]:
        """What the manifest keeps besides the files (JSON values): override to keep more. Nothing by default."""
        return {}

    def save(self) -> Path:
        """Write a checkpoint at the model's ``num_timesteps``; return its manifest's path."""
        self._folder_lock.acquire()
        directory, steps = Path(self.save_path), self.model.num_timesteps
        writers: dict[str, Callable[[Path], Any]] = {}
        if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
            writers["replay_buffer"] = self.model.save_replay_buffer  # type: ignore[attr-defined]
        vec_normalize = self.model.get_vec_normalize_env()
        if self.save_vecnormalize and vec_normalize is not None:
            writers["vecnormalize"] = vec_normalize.save  # type: ignore[assignment]  # SB3 annotates a str; it opens any path
        scaler = find_vec_wrapper(self.model.get_env(), VecStandardScaler)
        if scaler is not None:
            writers["scaler"] = scaler.save  # its JSON, as VecStandardScaler.load reads it
        # The model last: a zip under its final name has its companions in place too.
        writers["model"] = self.model.save
        files = {}
        for role, write in writers.items():
            path = directory / checkpoint_file_name(self.name_prefix, role, steps)
            write_atomically(path, write)
            files[role] = {"name": path.name, "bytes": path.stat().st_size}
        manifest = {"algorithm": type(self.model).__name__, "num_timesteps": steps, "files": files, "extra": self.extra()}
        manifest_path = directory / checkpoint_file_name(self.name_prefix, "manifest", steps)
        write_atomically(manifest_path, lambda path: path.write_text(json.dumps(manifest, separators=(",", ":"))))
        if self.verbose >= 2:
            print(f"Saving checkpoint {manifest_path}")
        if self.keep_last:
            self._delete_other_checkpoints(steps)
        return manifest_path

    def _delete_other_checkpoints(self, steps: int) -> None:
        """Every file of this prefix's layout but those of the checkpoint at ``steps``, temporaries of cut saves too."""
        roles = "|".join(f"{role}_" for role in EXTENSIONS if role != "model")
        extensions = "|".join(set(EXTENSIONS.values()))
        # Temporaries nest (an algorithm whose save is itself atomic, inside write_atomically): dots and .<pid>.tmp repeat.
        pattern = re.compile(rf"\.*{re.escape(self.name_prefix)}_(?:{roles})?(\d+)_steps\.(?:{extensions})(?:\.\d+\.tmp)*")
        for path in Path(self.save_path).iterdir():
            match = pattern.fullmatch(path.name)
            if match and (int(match.group(1)) != steps or path.name.endswith(".tmp")):
                path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Checkpoint:
    """
    A complete checkpoint: its files by role (``model``, ``replay_buffer``, and ``scaler``,
    ``vecnormalize`` if saved) and its manifest, None for one of SB3's own callback.
    """

    num_timesteps: int
    files: dict[str, Path]
    manifest: dict[str, Any] | None

    @property
    def extra(self) -> dict[str, Any]:
        """What the callback's :meth:`CheckpointCallback.extra` returned when it saved."""
        return self.manifest.get("extra", {}) if self.manifest is not None else {}

    def load(
        self,
        env: GymEnv,
        algorithm: type[AlgorithmT],
        seed: int | None = None,
        device: th.device | str = "auto",
        **load_kwargs: Any,
    ) -> AlgorithmT:
        """
        The checkpoint's model on ``env``, with its replay buffer and the statistics of the
        env's ``VecStandardScaler`` (the network learned on inputs standardized with them,
        not with what a rebuilt env fits).

        The random generators and the env are re-seeded with ``seed + num_timesteps``,
        ``seed`` being the model's own seed unless given (``model.seed`` becomes it).
        ``load()`` itself seeds with the run's seed, which would replay the draws the run
        made from its start; the step count makes each checkpoint's draws its own, and
        two resumes of one checkpoint with one seed identical.

        :param env: the env to continue on, wrapped as the run's was
        :param algorithm: the class that saved the checkpoint (``BlogDQN``, ``DQN``, ``QRDQN``...)
        :param seed: the run's seed (None: the model's own; if that is None too, no re-seeding)
        :param device: torch device
        :param load_kwargs: passed to ``algorithm.load``
        :raises SetupError: when the checkpoint does not fit ``algorithm`` or ``env``
        """
        subject = f"Cannot resume from {self.files['model']}"
        if self.manifest is not None and self.manifest["algorithm"] != algorithm.__name__:
            raise SetupError([Problem(
                f"it was written by {self.manifest['algorithm']}, not {algorithm.__name__}: load it with that class."
            )], subject)
        self._restore_scaler_statistics(env, subject)
        model = algorithm.load(self.files["model"], env=env, device=device, **load_kwargs)
        buffer_class = type(model.replay_buffer)
        model.load_replay_buffer(self.files["replay_buffer"])
        buffer = model.replay_buffer
        assert buffer is not None, "load_replay_buffer sets it"
        # Files of two runs mixed in one folder: a buffer of other observations would train on nonsense.
        shape = buffer.observations.shape[2:] if isinstance(buffer.observations, np.ndarray) else None
        if not isinstance(buffer, buffer_class) or shape not in (None, model.observation_space.shape):
            raise SetupError([Problem(
                f"its replay buffer {self.files['replay_buffer'].name} is a {type(buffer).__name__} of observations of "
                f"shape {shape}; the model needs a {buffer_class.__name__} of {model.observation_space.shape}."
            )], subject)
        if seed is not None:
            model.seed = seed
        if model.seed is not None:
            model.set_random_seed(model.seed + model.num_timesteps)
        return model

    def _restore_scaler_statistics(self, env: GymEnv, subject: str) -> None:
        scaler = find_vec_wrapper(env, VecStandardScaler)
        saved = self.files.get("scaler")
        if saved is None:
            if scaler is not None and self.manifest is not None:
                raise SetupError([Problem(
                    "the run it comes from had no VecStandardScaler, and the env given has one: "
                    "wrap the env as the run's was."
                )], subject)
            return
        if scaler is None:
            raise SetupError([Problem(
                f"{saved.name} holds the statistics of the run's VecStandardScaler, and the env given has none: "
                "wrap the env as the run's was."
            )], subject)
        # The wrapper's own file and checks, around the env under the rebuilt scaler; the rebuilt one,
        # which refitted on its own play, then takes the statistics the network learned on.
        scaler.set_statistics_from(VecStandardScaler.load(saved, scaler.venv))


class _Incomplete(Exception):
    """Why a checkpoint cannot be resumed from."""


def _read_manifest_checkpoint(directory: Path, manifest_path: Path) -> Checkpoint:
    try:
        manifest = json.loads(manifest_path.read_text())
        listed = {role: (entry["name"], int(entry["bytes"])) for role, entry in manifest["files"].items()}
        num_timesteps = int(manifest["num_timesteps"])
        if not isinstance(manifest["algorithm"], str) or any(Path(name).name != name for name, _ in listed.values()):
            raise ValueError("it names no algorithm, or a file outside its folder")
        if not isinstance(manifest.get("extra", {}), dict):
            raise ValueError("its 'extra' is not a mapping")
    # Whatever a file of junk makes json or int() raise (1e400 is an OverflowError, deep nesting a
    # RecursionError): the checkpoint is skipped, never the scan.
    except Exception as error:
        raise _Incomplete(f"its manifest is unreadable ({type(error).__name__}: {error})") from None
    for name, size in listed.values():
        path = directory / name
        if not path.is_file():
            raise _Incomplete(f"{name} is missing")
        if path.stat().st_size != size:
            raise _Incomplete(f"{name} has {path.stat().st_size} bytes, its manifest lists {size}: it was cut or changed")
    if "model" not in listed or "replay_buffer" not in listed:
        raise _Incomplete("it has no replay buffer (saved with save_replay_buffer=False)")
    return Checkpoint(num_timesteps, {role: directory / name for role, (name, _) in listed.items()}, manifest)


def _read_sb3_checkpoint(directory: Path, name_prefix: str, num_timesteps: int) -> Checkpoint:
    """A checkpoint of SB3's own callback: as SB3 writes in place, the zip is read and the replay buffer looked for."""
    model = directory / checkpoint_file_name(name_prefix, "model", num_timesteps)
    replay_buffer = directory / checkpoint_file_name(name_prefix, "replay_buffer", num_timesteps)
    if (directory / checkpoint_file_name(name_prefix, "scaler", num_timesteps)).exists():
        raise _Incomplete("its manifest is missing: a save of sb3_blogdqn's CheckpointCallback was cut short")
    problem = _zip_problem(model)
    if problem is not None:
        raise _Incomplete(f"{model.name} is truncated or corrupted ({problem})")
    if not replay_buffer.is_file():
        raise _Incomplete(f"its replay buffer {replay_buffer.name} is missing")
    return Checkpoint(num_timesteps, {"model": model, "replay_buffer": replay_buffer}, None)


def _zip_problem(path: Path) -> str | None:
    """
    Why the zip at ``path`` is not a whole SB3 save (a bad entry's checksum, no ``data`` that
    parses as JSON), or None. Nothing in it is deserialized: its cloudpickled entries stay text.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad_entry = archive.testzip()
            if bad_entry is not None:
                return f"the entry {bad_entry} fails its checksum"
            json.loads(archive.read("data"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def find_checkpoint(checkpoint_dir: str | Path, name_prefix: str = "rl_model") -> Checkpoint:
    """
    The newest complete checkpoint in ``checkpoint_dir``; newer, incomplete ones are skipped
    with a warning naming them and why (this module's docstring says what complete means).

    :raises FileNotFoundError: when none is complete
    """
    directory = Path(checkpoint_dir)
    prefix = re.escape(name_prefix)
    pattern = re.compile(rf"{prefix}_(\d+)_steps\.zip|{prefix}_manifest_(\d+)_steps\.json")
    steps = set()
    for path in directory.glob(f"{name_prefix}_*_steps.*"):
        match = pattern.fullmatch(path.name)
        if match:
            steps.add(int(match.group(1) or match.group(2)))
    skipped = []
    for num_timesteps in sorted(steps, reverse=True):
        manifest_path = directory / checkpoint_file_name(name_prefix, "manifest", num_timesteps)
        has_manifest = manifest_path.exists()
        try:
            if has_manifest:
                checkpoint = _read_manifest_checkpoint(directory, manifest_path)
            else:
                checkpoint = _read_sb3_checkpoint(directory, name_prefix, num_timesteps)
        except _Incomplete as reason:
            role = "manifest" if has_manifest else "model"
            skipped.append(f"{checkpoint_file_name(name_prefix, role, num_timesteps)}: {reason}")
            continue
        if skipped:
            warnings.warn(
                f"Resuming from {checkpoint.files['model'].name}; skipped the newer, incomplete checkpoint(s): "
                + "; ".join(skipped),
                stacklevel=2,
            )
        if checkpoint.manifest is None:
            warnings.warn(
                f"{checkpoint.files['model'].name} has no manifest (SB3's CheckpointCallback wrote it in place): its "
                "replay buffer cannot be checked without loading it. sb3_blogdqn's CheckpointCallback writes "
                "checkpoints that can.",
                stacklevel=2,
            )
        return checkpoint
    raise FileNotFoundError(
        f"No complete checkpoint (a '{name_prefix}_<steps>_steps.zip' with its "
        f"'{name_prefix}_replay_buffer_<steps>_steps.pkl') in '{checkpoint_dir}'. Train with "
        "CheckpointCallback(..., save_replay_buffer=True)."
        + (f" Skipped: {'; '.join(skipped)}" if skipped else "")
    )
