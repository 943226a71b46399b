"""Atomic file writes, the one way every file of ours is replaced: a reader sees the old file or the new one, never
half of one, and a crash leaves at most a temporary file that the next write to the same path removes."""
from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: str | Path) -> None:
    """Make a rename in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_dead_temporaries(path: Path) -> None:
    """Delete the temporary files of writes to `path` whose process is gone (killed mid-write); live ones stay."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)                 # raises if no such process
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:                  # another user's live process
            pass


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], durable: bool = True) -> Path:
    """`write(f)` into a temporary file beside `path`, then rename it over `path`. `durable`: fsync the file before
    the rename and the folder after it (off for caches, which are only slower when lost)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)   # mkstemp makes it 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if durable:
        fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str, durable: bool = True) -> Path:
    """`text` as UTF-8, written atomically (`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")), durable)
