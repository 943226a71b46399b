"""Writing a collection: `CollectionWriter`, used by `hgr index`; staged, fsync'd, renamed writes, so that a kill
at any instant leaves the folder openable and loses nothing reported done (docs/collections.md)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from pathlib import Path

import h5py
import numpy as np

from hgr import atomic
from hgr.collection.layout import (
    CAPTIONS,
    DONE_LOG,
    FEATURES,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    REGIONS_GROUP,
    ROLE_GRAPHS,
    STAGING_DIR,
    VIDEO_PATHS,
    feature_key,
    read_json,
)
from hgr.collection.staging import append_entry, cut_torn_tail, read_done_log
from hgr.errors import CollectionError


def _atomic_write_json(path: Path, data, indent: int | None = 1) -> None:
    atomic.atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False))


class CollectionWriter:
    """Adds videos to a collection folder so that a kill at any instant leaves it openable and loses nothing.

    `add` stages a video (its own .npz, fsync'd, then one fsync'd line in staging/done.log: the source of truth)
    and returns only once it is durable. `commit` merges staged videos into a copy of features.h5 and swaps it in
    with a rename, then rewrites the manifest the same way; features.h5 is never modified in place.
    """

    def __init__(self, root: str | Path, *, extractor: dict, dim: int, sampling: dict | None = None,
                 name: str | None = None, dtype: str = "float16", regions: list[int] | None = None,
                 created_with: dict | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / ".lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise CollectionError(f"{self.root} is being written by another process (hgr index?)") from None
        if dtype not in ("float16", "float32"):
            raise CollectionError(f"feature dtype must be float16 or float32, got {dtype!r}")
        self.staging = self.root / STAGING_DIR
        self.staging.mkdir(exist_ok=True)
        for tmp in list(self.staging.glob("*.tmp")) + [self.root / (FEATURES + ".tmp")]:
            tmp.unlink(missing_ok=True)                     # leftovers of a killed write: never reported done
        wanted = {"name": name or self.root.resolve().name, "dim": int(dim), "extractor": extractor,
                  "sampling": sampling, "dtype": dtype, "regions": list(regions) if regions else None}
        if (self.root / MANIFEST).exists():
            self.manifest = read_json(self.root / MANIFEST, "collection manifest")
            self._check_compatible(wanted)
        else:
            self.manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **wanted,
                             "frame_counts": {}, "splits": {}, "video_paths_file": None,
                             "captions_file": None, "role_graphs_file": None,
                             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "created_with": created_with or {}}
            self._write_features([])                         # an empty but valid collection from the start
            _atomic_write_json(self.root / MANIFEST, self.manifest)
        self.dim, self.dtype = int(self.manifest["dim"]), self.manifest["dtype"]
        cut_torn_tail(self.staging / DONE_LOG)
        logged = [e for e in read_done_log(self.staging / DONE_LOG) if (self.staging / e["file"]).exists()]
        self._pending = [e for e in logged if e["id"] not in self.manifest["frame_counts"]]
        self._stale = [e["file"] for e in logged if e["id"] in self.manifest["frame_counts"]]  # committed already
        referenced = {e["file"] for e in logged}
        for orphan in self.staging.glob("*.npz"):           # written but killed before its log line: not done
            if orphan.name not in referenced:
                orphan.unlink()
        self._captions: dict[str, list[str]] | None = None
        self._role_graphs: dict | None = None
        self._role_graphs_parser: str | None = None
        self._splits: dict[str, list[str]] | None = None
        name = self.manifest.get("video_paths_file")
        self._video_paths = read_json(self.root / name, "video path map") if name else {}
        self._keys = {feature_key(v): v for v in self.manifest["frame_counts"]}
        self._keys.update({feature_key(e["id"]): e["id"] for e in self._pending})
        self._next = 1 + max([int(p.stem) for p in self.staging.glob("*.npz") if p.stem.isdigit()] or [0])
        if self._pending or self._stale:
            self.commit()                                    # a killed run's staged videos become committed

    def _check_compatible(self, wanted: dict) -> None:
        have = self.manifest
        diffs = []
        if int(have.get("dim", -1)) != wanted["dim"]:
            diffs.append(f"dim {have.get('dim')} vs {wanted['dim']}")
        for key in ("name", "weights_sha256"):
            a, b = (have.get("extractor") or {}).get(key), (wanted["extractor"] or {}).get(key)
            if a != b:
                diffs.append(f"extractor {key} {a!r} vs {b!r}")
        for key in ("sampling", "regions", "dtype"):
            if have.get(key) != wanted[key]:
                diffs.append(f"{key} {have.get(key)!r} vs {wanted[key]!r}")
        if diffs:
            raise CollectionError(f"{self.root / MANIFEST} was indexed with other settings ({'; '.join(diffs)}); "
                                  "resume with the same settings or write to a new --out folder")

    # ----------------------------------------------------------------------------------------------- staging
    @property
    def done_ids(self) -> set[str]:
        """Every video committed or staged: what a resumed run skips."""
        return set(self.manifest["frame_counts"]) | {e["id"] for e in self._pending}

    def add(self, video_id: str, features: np.ndarray, regions: np.ndarray | None = None,
            source: str | Path | None = None) -> None:
        """Stage one video's features (n, dim) [and regions (n, cells, dim)]; durable when this returns."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.dim or features.shape[0] == 0:
            raise CollectionError(f"{video_id}: features of shape {features.shape} do not fit this collection's "
                                  f"(num_frames >= 1, {self.dim})")
        if not np.isfinite(features).all():
            raise CollectionError(f"{video_id}: features contain NaN or inf")
        key = feature_key(video_id)
        if key == REGIONS_GROUP:
            raise CollectionError(f"video id {video_id!r} is reserved (the HDF5 group of region features)")
        if key in self._keys:
            raise CollectionError(f"video {video_id!r} clashes with {self._keys[key]!r} already in {self.root}: "
                                  f"both are stored under the key {key!r}")
        grid = self.manifest.get("regions")
        arrays = {"features": features.astype(self.dtype)}
        if grid:
            if regions is None or regions.shape != (features.shape[0], grid[0] * grid[1], self.dim):
                raise CollectionError(f"{video_id}: region features of shape "
                                      f"{None if regions is None else regions.shape} do not fit the {grid} grid")
            arrays["regions"] = np.asarray(regions).astype(self.dtype)
        file = f"{self._next:08d}.npz"
        self._next += 1
        tmp = self.staging / (file + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.staging / file)
        atomic.fsync_dir(self.staging)
        entry = {"id": video_id, "file": file, "num_frames": int(features.shape[0])}
        if source is not None:
            entry["source"] = str(Path(source).resolve())
        append_entry(self.staging / DONE_LOG, entry)
        self._pending.append(entry)
        self._keys[key] = video_id

    def set_captions(self, captions: dict[str, list[str]]) -> list[str]:
        """Captions to store at the next commit, for videos in the collection; returns ids not (yet) in it."""
        self._captions = {str(k): [str(c) for c in v] for k, v in captions.items()}
        return sorted(set(self._captions) - self.done_ids)

    def set_role_graphs(self, graphs: dict, parser: str | None = None) -> None:
        """Role graphs {sentence: [graph_nodes, graph_edges]} to store at the next commit; `parser` names the
        SRL backend that made them (hgr.parsing.parser_id), kept in the manifest so queries are parsed alike."""
        self._role_graphs = graphs
        self._role_graphs_parser = parser

    def set_splits(self, splits: dict[str, list[str]]) -> None:
        """Named splits (e.g. train/val/test) of videos in the collection, stored at the next commit."""
        unknown = sorted({v for ids in splits.values() for v in ids} - self.done_ids)
        if unknown:
            raise CollectionError(f"splits name videos that are not in {self.root}: {unknown[:5]}")
        self._splits = {str(k): [str(v) for v in ids] for k, ids in splits.items()}

    # ------------------------------------------------------------------------------------------------ commit
    def _write_features(self, entries: list[dict]) -> None:
        """features.h5 := features.h5 + staged `entries`, built in a temporary copy and renamed over it."""
        final, tmp = self.root / FEATURES, self.root / (FEATURES + ".tmp")
        if final.exists():
            shutil.copyfile(final, tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs["format"], f.attrs["dim"] = FORMAT, int(self.manifest["dim"])
            num_videos = int(f.attrs.get("num_videos", 0))
            for e in entries:
                key = feature_key(e["id"])
                with np.load(self.staging / e["file"]) as z:
                    for name, group in (("features", f), ("regions", None)):
                        if name not in z:
                            continue
                        if group is None:
                            group = f.require_group(REGIONS_GROUP)
                        if key in group:                     # left by a commit killed before its manifest
                            del group[key]
                        elif name == "features":
                            num_videos += 1
                        arr = z[name]
                        group.create_dataset(key, data=arr, chunks=arr.shape, compression="gzip",
                                             compression_opts=4, shuffle=True)
            f.attrs["num_videos"] = num_videos
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        atomic.fsync_dir(self.root)

    def commit(self) -> None:
        """Merge staged videos, captions and role graphs into the collection (atomic renames; safe to kill)."""
        entries = self._pending
        if entries:
            self._write_features(entries)
        m = self.manifest
        for e in entries:
            m["frame_counts"][e["id"]] = e["num_frames"]
        known = m["frame_counts"]
        sources = {e["id"]: e["source"] for e in entries if e.get("source")}
        if sources:
            self._video_paths.update(sources)
            _atomic_write_json(self.root / VIDEO_PATHS, self._video_paths, indent=None)
            m["video_paths_file"] = VIDEO_PATHS
        if self._captions is not None:
            path = self.root / CAPTIONS
            current = read_json(path, "captions") if path.exists() else {}
            current.update({v: c for v, c in self._captions.items() if v in known})
            if current:
                _atomic_write_json(path, current)
                m["captions_file"] = CAPTIONS
        if self._role_graphs is not None:
            _atomic_write_json(self.root / ROLE_GRAPHS, self._role_graphs, indent=None)
            m["role_graphs_file"] = ROLE_GRAPHS
            m["parser"] = self._role_graphs_parser
        if self._splits is not None:
            m["splits"] = {k: v for k, v in self._splits.items() if k != "all"}
        if entries or self._captions is not None or self._role_graphs is not None or self._splits is not None:
            _atomic_write_json(self.root / MANIFEST, m, indent=1 if len(m["frame_counts"]) <= 1000 else None)
        # the manifest now holds them: the staging log goes first, then its files
        (self.staging / DONE_LOG).unlink(missing_ok=True)
        for file in [e["file"] for e in entries] + self._stale:
            (self.staging / file).unlink(missing_ok=True)
        self._pending, self._stale = [], []

    def close(self) -> None:
        """Commit what is staged and release the folder."""
        try:
            self.commit()
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> CollectionWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
