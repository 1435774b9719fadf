"""Files that a kill never leaves half-written: each is written under a temporary name, then renamed into place."""

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


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
