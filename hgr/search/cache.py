"""Cache files beside a collection: where the encoded video side, caption side and two-stage pool are kept,
how they are written (superseding the file they replace) and read (a damaged one reported, then rebuilt)."""
from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch

from hgr.checkpoint import Checkpoint, atomic_torch_save

T = TypeVar("T")


def index_cache_path(collection, checkpoint: Checkpoint, kind: str = "index", extra: str = "",
                     video_ids: Sequence[str] | None = None) -> Path:
    """Where the encoded video side (kind 'index'), caption side ('captions') or two-stage pool ('pool') of
    `video_ids` (default: every video) of `collection` under `checkpoint` is cached: the collection's cache/ folder
    (or ~/.cache/hgr when that is not writable). One file per collection, kind and set of videos (a split):
    `<kind>-<videos>-<digest>.pt`, the digest of the weights, config, videos, features and `extra` (what else the
    value depends on); `write_cache` removes the file it supersedes."""
    ids = list(collection.video_ids if video_ids is None else video_ids)
    digest = hashlib.sha256(f"{kind}\n{extra}".encode())
    update_with_checkpoint(digest, checkpoint)
    digest.update("\n".join(ids).encode())
    features = Path(collection.features_path)
    if features.exists():
        stat = features.stat()
        digest.update(f"{features.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    videos = "all"
    if ids != list(collection.video_ids):                                   # a split: its own file
        videos = "v" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]
    folder = Path(collection.root) / "cache" if collection.root is not None else None
    if folder is None or not _writable(folder):
        folder = Path.home() / ".cache" / "hgr"               # shared: the collection's folder is in the name
        where = str(Path(collection.root).resolve()) if collection.root is not None else str(features)
        videos = f"c{hashlib.sha256(where.encode()).hexdigest()[:8]}-{videos}"
    return folder / f"{kind}-{videos}-{digest.hexdigest()[:20]}.pt"


def update_with_checkpoint(digest, checkpoint: Checkpoint) -> None:
    """Feed a checkpoint's weights and config to `digest` (a hashlib object): what an encoded side depends on."""
    for name, tensor in sorted(checkpoint.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(repr(sorted(checkpoint.config.to_dict().items())).encode())


def write_cache(payload: dict, path: str | Path) -> None:
    """Write a cache file atomically, then remove the file it supersedes (same kind and videos, another digest)
    and caches named before the split was part of the name."""
    path = Path(path)
    atomic_torch_save(payload, path)
    kind_and_videos = path.name.rsplit("-", 1)[0]
    kind = kind_and_videos.split("-", 1)[0]
    superseded = re.compile(rf"({re.escape(kind_and_videos)}|{re.escape(kind)})-[0-9a-f]{{20}}\.pt")
    for other in path.parent.glob(f"{kind}-*.pt"):
        if other != path and superseded.fullmatch(other.name):
            other.unlink(missing_ok=True)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".probe"
        probe.touch()
        probe.unlink()
        return True
    except OSError:
        return False


def read_cache(path: str | Path | None, what: str, parse: Callable[[dict], T | None]) -> T | None:
    """`parse(obj)` of the cache file at `path` (None when it is for other inputs), or None when there is no file.
    A file that cannot be read or is not what `atomic_torch_save` wrote here is reported and treated as absent:
    the value is computed again and the file overwritten."""
    if path is None or not Path(path).is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict):
            raise TypeError(f"a {type(obj).__name__}, not a dict")
        return parse(obj)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError,
            AttributeError) as err:
        detail = (str(err).strip().splitlines() or [""])[0][:160]
        warnings.warn(f"{path}: unreadable {what} cache ({type(err).__name__}: {detail}); computing it again",
                      stacklevel=2)
        return None
