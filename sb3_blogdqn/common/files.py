"""
Files that a kill never leaves half-written, folders that one process writes at a time, and
junk moved out of the way instead of deleted.
"""

import contextlib
import datetime
import json
import multiprocessing
import os
import socket
import sys
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock


def write_atomically(path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
    """
    ``write(temporary_path)`` in ``path``'s folder, then rename over ``path``: a reader sees the
    previous file whole or the new one whole, never a part, even if the process is killed. The
    data reaches the disk before the rename (``fsync``), so a machine's crash cannot leave the new
    name on empty blocks. The temporary file is removed if ``write`` fails.
    """
    path = Path(path)
    # The temporary name ends in .tmp, so SB3's save functions do not append their own extension.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def set_aside(path: str | os.PathLike, reason: str) -> Path:
    """
    Rename the file or folder ``path``, which cannot be used (``reason`` says why), to
    ``<name>.bad-<time>`` beside it, with a warning naming both: out of the way of the code that
    would read it again, and still there for a look. Return the new path.
    """
    path = Path(path)
    aside = path.with_name(f"{path.name}.bad-{datetime.datetime.now():%Y%m%dT%H%M%S%f}")
    path.rename(aside)
    warnings.warn(f"{path} {reason}: it is set aside as {aside.name}.", stacklevel=2)
    return aside


class FolderInUseError(RuntimeError):
    """Another process holds the lock of a folder that this one was about to write in."""

    def __init__(self, folder: Path, holder: str, advice: str) -> None:
        super().__init__(
            f"{folder} is being written by {holder}: two processes writing one folder overwrite and delete each "
            f"other's files. {advice}"
        )
        self.folder = folder
        self.holder = holder


# The locks this process holds, by lock file: a newer FolderLock of a folder takes it over from an older one.
_held_in_this_process: "weakref.WeakValueDictionary[Path, FolderLock]" = weakref.WeakValueDictionary()


class FolderLock:
    """
    The right to write in ``folder``, for one process at a time: the lock file
    ``folder/.<name>.lock`` (filelock's), and beside it ``.<name>.lock.holder`` saying which
    process holds it, for the error the next one gets. The operating system releases the lock
    of a process that dies, even by SIGKILL, so a killed writer never leaves a folder locked.

    Within one process, a newer ``FolderLock`` of the same folder and name takes the folder
    over from an older one that was never released (the callback of a ``learn()`` that
    raised): code of one process writes one folder at a time, so the older one is done.
    ``acquire()`` and ``release()`` may be called again; ``with FolderLock(...)`` does both.

    :param folder: the folder (made if missing)
    :param name: what the lock protects, so that writers of disjoint files in one folder do not exclude each other
    :param advice: the end of the error a second process gets: what to do
    """

    def __init__(self, folder: str | os.PathLike, name: str, advice: str = "Wait for it to end, or write elsewhere.") -> None:
        self.folder = Path(folder)
        self.path = self.folder / f".{name}.lock"
        self.advice = advice
        # Not thread-local: a lock that a finalizer releases in another thread is released all the same.
        self._lock = filelock.FileLock(self.path, timeout=0, thread_local=False)

    @property
    def held(self) -> bool:
        """Whether this object holds the folder (False once another FolderLock of this process took it over)."""
        return self._lock.is_locked

    def acquire(self) -> None:
        """
        Hold the folder, unless this object holds it already.

        :raises FolderInUseError: when another process holds it, naming that process and the way out
        """
        if self.held:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        previous = _held_in_this_process.get(key)
        if previous is not None:
            previous.release()
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise FolderInUseError(self.folder, self._holder(), self.advice) from None
        _held_in_this_process[key] = self
        # A pool's worker runs multiprocessing's bootstrap command: the process that started it says more.
        parent = multiprocessing.parent_process()
        command = f"a worker of process {parent.pid}" if parent is not None else " ".join(sys.orig_argv)[:300]
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S}",
                  "command": command}
        with contextlib.suppress(OSError):  # the holder's description only serves a better error
            write_atomically(self._holder_path, lambda path: path.write_text(json.dumps(holder)))

    def release(self) -> None:
        """Let other processes write in the folder (nothing if this object does not hold it)."""
        if not self.held:
            return
        with contextlib.suppress(OSError):
            self._holder_path.unlink()
        self._lock.release(force=True)

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exception: object) -> None:
        self.release()

    @property
    def _holder_path(self) -> Path:
        return self.path.with_name(self.path.name + ".holder")

    def _holder(self) -> str:
        """
        The holder, as it described itself. A holder that has not written its description yet
        may leave that of an earlier holder, killed: a process that this host knows to be gone
        is not named.
        """
        try:
            holder = json.loads(self._holder_path.read_text())
            pid, host, since, command = (holder[key] for key in ("pid", "host", "since", "command"))
            # Signal 0 only asks whether the process exists (on Windows, os.kill would end it).
            if host == socket.gethostname() and os.name == "posix":
                with contextlib.suppress(PermissionError):  # it exists, run by another user
                    os.kill(pid, 0)
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"
        return f"process {pid} on {host} (since {since}: {command})"
