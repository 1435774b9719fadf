"""Helpers for the hostile cases: a time limit that turns a hang into a failure, a folder held by another process."""

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import sb3_blogdqn.common.files

# Loads common/files.py alone (the package's __init__ imports torch: seconds), holds the lock until killed.
_HOLDER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("files", sys.argv[1])
files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(files)
lock = files.FolderLock(sys.argv[2], sys.argv[3])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail with TimeoutError instead of hanging: SIGALRM interrupts the code under test."""

    def interrupt(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def folder_held_by_another_process(folder: Path, name: str) -> Iterator[subprocess.Popen]:
    """A process that holds ``FolderLock(folder, name)`` until the block ends, when it is killed (SIGKILL)."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, sb3_blogdqn.common.files.__file__, str(folder), name],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    try:
        with time_limit(30):
            assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
