"""The staging log: staging/done.log, one JSON line per video indexed but not merged yet, the source of truth for
what a killed `hgr index` finished (docs/collections.md, crash safety)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from hgr.errors import CollectionError


def read_done_log(path: Path) -> list[dict]:
    """Entries of a staging done-log. A torn tail after the last newline (killed mid-write) was never reported
    done: ignored. A damaged complete line is refused: the entries after it are finished work."""
    if not path.exists():
        return []
    data = path.read_bytes()
    entries = []
    for number, raw in enumerate(data[:data.rfind(b"\n") + 1].splitlines(), start=1):
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            entry = None
        if not (isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("num_frames"), int)):
            raise CollectionError(f"{path}: damaged entry on line {number}, {raw[:120]!r} (each line is "
                                  '{"id", "file", "num_frames"}); remove that line (its video is indexed again) '
                                  "or the staging folder (every staged video is)")
        entries.append(entry)
    return entries


def cut_torn_tail(path: Path) -> None:
    """Cut a done-log after its last newline, so that the next entry starts a line of its own (a line appended
    to a torn one would make both unreadable)."""
    if not path.exists():
        return
    with open(path, "r+b") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())


def append_entry(path: Path, entry: dict) -> None:
    """Append one entry as a line and fsync it: once this returns, the video counts as done."""
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
