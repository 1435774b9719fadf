"""common.files: whole files or none, one writer per folder, junk set aside."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import folder_held_by_another_process

from sb3_blogdqn.common.files import FolderInUseError, FolderLock, set_aside, write_atomically


def test_a_failed_write_leaves_the_previous_file_whole_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text("previous")

    def cut_short(temporary: Path) -> None:
        temporary.write_text("half")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, cut_short)
    assert [file.name for file in tmp_path.iterdir()] == ["result.json"]
    assert path.read_text() == "previous"


def test_set_aside_keeps_the_junk_beside_under_another_name_and_says_so(tmp_path: Path) -> None:
    junk = tmp_path / "result.json"
    junk.write_text("{cut")
    with pytest.warns(UserWarning, match=r"result\.json is not JSON: it is set aside as result\.json\.bad-\d{8}T\d+\."):
        aside = set_aside(junk, "is not JSON")
    assert not junk.exists() and aside.parent == tmp_path and aside.read_text() == "{cut"


def test_a_folder_held_by_another_process_is_refused_naming_it_and_free_once_it_is_killed(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path, "run", "Wait for it to end, or use another --out.")
    with folder_held_by_another_process(tmp_path, "run") as holder:
        with pytest.raises(FolderInUseError) as info:
            lock.acquire()
        assert str(info.value).startswith(f"{tmp_path} is being written by process {holder.pid} on ")
        assert str(info.value).endswith("Wait for it to end, or use another --out.")
        assert not lock.held
        FolderLock(tmp_path, "checkpoints").acquire()  # another name: other files, another writer
    lock.acquire()  # SIGKILL released it
    assert lock.held


def test_a_holder_that_is_gone_is_not_named(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with folder_held_by_another_process(tmp_path, "run"):
        # As a holder killed before the current one wrote its own description leaves it.
        description = {"pid": int(gone.stdout), "host": socket.gethostname(), "since": "", "command": ""}
        (tmp_path / ".run.lock.holder").write_text(json.dumps(description))
        with pytest.raises(FolderInUseError, match=r"is being written by another process: "):
            FolderLock(tmp_path, "run").acquire()


def test_in_one_process_a_newer_lock_takes_the_folder_over(tmp_path: Path) -> None:
    """The callback of a learn() that raised never released its folder; the process's next writer takes it."""
    older, newer = FolderLock(tmp_path, "run"), FolderLock(tmp_path, "run")
    older.acquire()
    newer.acquire()
    assert newer.held and not older.held
    newer.release()
    assert not (tmp_path / ".run.lock.holder").exists()
    with FolderLock(tmp_path, "run") as lock:
        assert lock.held
    assert not lock.held
