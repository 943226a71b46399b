"""Video collections: the videos a search runs over, their per-frame features, captions and role graphs.

Two sources open to the same `Collection` interface (format documented in docs/collections.md):
- our folder format (`Collection.open`), written by `hgr index` through `CollectionWriter`:
    collection.json       manifest: name, extractor (+ preprocessing), dim, sampling, frame counts, splits
    features.h5           one dataset per video, key = video_id.replace('/', '_'), (num_frames, dim) float16/32;
                          optional region features in group regions/<key>, (num_frames, cells, dim)
    captions.json         {video_id: [caption, ...]}                  (optional)
    sent2rolegraph.json   {sentence: [graph_nodes, graph_edges]}     (optional, official role-graph format)
    video_paths.json      {video_id: path} of the source files, for playback (optional; else videos/)
    videos/               <key>.<ext> files for playback              (optional)
    staging/              videos indexed but not merged yet (done.log + one .npz each): part of the collection
- the official release's data root, in place (`Collection.from_official`, spec section 2).
Everything is read lazily: HDF5 datasets stay on disk, captions and role graphs load on first use.
"""
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

from hgr.errors import CollectionError
from hgr.video_io import select_frames

FORMAT = "hgr-collection"
FORMAT_VERSION = 1
MANIFEST, FEATURES, CAPTIONS, ROLE_GRAPHS = "collection.json", "features.h5", "captions.json", "sent2rolegraph.json"
VIDEO_PATHS = "video_paths.json"
VIDEOS_DIR, STAGING_DIR, DONE_LOG, REGIONS_GROUP = "videos", "staging", "done.log", "regions"


def feature_key(video_id: str) -> str:
    """HDF5 key of a video: the official rule name.replace('/', '_')."""
    return video_id.replace("/", "_")


def _read_json(path: Path, what: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CollectionError(f"missing {what}: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CollectionError(f"{path}: {what} is not valid JSON ({err})") from err


def _read_done_log(path: Path) -> list[dict]:
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


def _cut_torn_tail(path: Path) -> None:
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


def _is_role_graph(graph) -> bool:
    """The official [graph_nodes {name: node}, graph_edges [[verb, arg, role], ...]] shape (spec section 1)."""
    return isinstance(graph, list) and len(graph) == 2 and isinstance(graph[0], dict) and isinstance(graph[1], list)


class Collection:
    """A searchable set of videos with frame features (ours or the official release's); see module docstring."""

    def __init__(self, *, root: Path | None, name: str, dim: int, video_ids: list[str], manifest: dict,
                 features_path: Path, frame_counts: dict[str, int] | None = None,
                 staged: dict[str, Path] | None = None, captions_path: Path | None = None,
                 role_graphs_path: Path | None = None, splits: dict[str, list[str]] | None = None,
                 captions_filter: set[str] | None = None, max_frames: int = 20):
        self.root, self.name, self.dim, self.video_ids, self.manifest = root, name, dim, video_ids, manifest
        self.max_frames = max_frames
        self.features_path = features_path
        self.splits: dict[str, list[str]] = splits if splits is not None else {"all": list(video_ids)}
        self._frame_counts = frame_counts
        self._staged = staged or {}
        self._captions_path, self._role_graphs_path = captions_path, role_graphs_path
        self._captions_filter = captions_filter
        self._captions: dict[str, list[str]] | None = None
        self._role_graphs: dict | None = None
        self._video_path_map: dict[str, str] | None = None
        self._ids = frame_counts if frame_counts is not None else set(video_ids)
        self._h5: h5py.File | None = None
        if features_path.exists():
            try:
                self._h5 = h5py.File(features_path, "r")
            except OSError as err:
                raise CollectionError(f"{features_path}: cannot be opened as HDF5 ({err})") from err

    # ------------------------------------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path) -> Collection:
        """Open a collection folder (our format) and validate its manifest and features file."""
        root = Path(path)
        if not root.is_dir():
            raise CollectionError(f"collection folder not found: {root}")
        if not (root / MANIFEST).exists() and (root / "annotation" / "RET").is_dir():
            raise CollectionError(f"{root} is an official HGR data root, not a collection folder: open it with "
                                  "Collection.from_official(root, split)")
        manifest = _read_json(root / MANIFEST, "collection manifest")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CollectionError(f"{root / MANIFEST}: not an hgr collection manifest (format must be {FORMAT!r})")
        for key in ("name", "dim", "frame_counts", "extractor"):
            if key not in manifest:
                raise CollectionError(f"{root / MANIFEST}: manifest lacks the field {key!r}")
        dim, counts = manifest["dim"], manifest["frame_counts"]
        if not isinstance(dim, int) or dim < 1:
            raise CollectionError(f"{root / MANIFEST}: dim must be a positive whole number, got {dim!r}")
        if not isinstance(counts, dict) or not all(isinstance(n, int) for n in counts.values()):
            raise CollectionError(f"{root / MANIFEST}: frame_counts must map each video id to its number of frames")
        if not isinstance(manifest.get("splits") or {}, dict):
            raise CollectionError(f"{root / MANIFEST}: splits must map each split name to a list of video ids")
        staged: dict[str, Path] = {}
        for entry in _read_done_log(root / STAGING_DIR / DONE_LOG):   # indexed, not merged yet: still ours
            vid, file = entry["id"], root / STAGING_DIR / entry["file"]
            if vid not in counts and file.exists():
                staged[vid] = file
                counts = counts if counts is not manifest["frame_counts"] else dict(counts)
                counts[vid] = int(entry["num_frames"])
        video_ids = list(counts)
        splits = {"all": video_ids}                  # 'all' is implicit: every video, manifest order
        for name, ids in (manifest.get("splits") or {}).items():
            if name == "all":
                continue
            unknown = [v for v in ids if v not in counts]
            if unknown:
                raise CollectionError(f"{root / MANIFEST}: split {name!r} names {len(unknown)} unknown videos, "
                                      f"e.g. {unknown[:3]}")
            splits[name] = list(ids)
        features_path = root / FEATURES
        if not features_path.exists():
            raise CollectionError(f"missing features file {features_path} (listed videos: {len(video_ids)}); "
                                  "re-run `hgr index` into this folder to rebuild it")
        captions_path = root / (manifest.get("captions_file") or CAPTIONS)
        if manifest.get("captions_file") and not captions_path.exists():
            raise CollectionError(f"missing captions file {captions_path} (named in {root / MANIFEST})")
        graphs_path = root / (manifest.get("role_graphs_file") or ROLE_GRAPHS)
        if manifest.get("role_graphs_file") and not graphs_path.exists():
            raise CollectionError(f"missing role-graph file {graphs_path} (named in {root / MANIFEST})")
        coll = cls(root=root, name=str(manifest["name"]), dim=dim, video_ids=video_ids, manifest=manifest,
                   features_path=features_path, frame_counts=counts, staged=staged,
                   captions_path=captions_path if captions_path.exists() else None,
                   role_graphs_path=graphs_path if graphs_path.exists() else None, splits=splits)
        coll._validate_features_file()
        return coll

    def _validate_features_file(self) -> None:
        try:
            self._check_features_file()
        except (OSError, KeyError, ValueError, RuntimeError) as err:    # h5py's errors for damaged objects
            raise CollectionError(f"{self.features_path}: damaged HDF5 file ({err}); re-index into a new "
                                  "folder") from err

    def _check_features_file(self) -> None:
        f = self._h5
        stored_dim = f.attrs.get("dim")
        if stored_dim is not None and int(stored_dim) != self.dim:
            raise CollectionError(f"{self.features_path} holds {int(stored_dim)}-d features but "
                                  f"{self.root / MANIFEST} says dim {self.dim}")
        committed = [v for v in self.video_ids if v not in self._staged] if self._staged else self.video_ids
        n_datasets = int(f.attrs.get("num_videos", len(committed)))     # len(f) would walk 100k links
        if n_datasets < len(committed):
            raise CollectionError(f"{self.features_path} holds {n_datasets} videos but {self.root / MANIFEST} lists "
                                  f"{len(committed)}; the file was replaced or damaged: re-index into a new folder")
        if committed:
            key = feature_key(committed[0])
            if key not in f or f[key].ndim != 2 or f[key].shape[1] != self.dim:
                shape = f[key].shape if key in f else "missing"
                raise CollectionError(f"{self.features_path}: video {committed[0]!r} has features {shape}, "
                                      f"expected (num_frames, {self.dim})")

    @classmethod
    def from_official(cls, root: str | Path, split: str = "tst", features_name: str = "resnet152.pth",
                      max_frames: int = 20) -> Collection:
        """Open the official release's data root in place (no copy): one split's names, features and captions."""
        root = Path(root)
        names_path = root / "public_split" / f"{split}_names.npy"
        features_path = root / "ordered_feature" / "SA" / features_name / f"{split}_ft.hdf5"
        captions_path = root / "annotation" / "RET" / "ref_captions.json"
        graphs_path = root / "annotation" / "RET" / "sent2rolegraph.augment.json"
        if not root.is_dir():
            raise CollectionError(f"official data root not found: {root}")
        for p, what in ((names_path, f"split names for {split!r}"), (features_path, f"{features_name} features"),
                        (captions_path, "captions")):
            if not p.exists():
                raise CollectionError(f"missing {what}: {p} (official layout, spec section 2)")
        try:
            names = [str(n) for n in np.load(names_path, allow_pickle=False)]
        except ValueError as err:
            raise CollectionError(f"{names_path}: not a numpy array of video names ({err})") from err
        coll = cls(root=root, name=f"official:{root.name}/{split}", dim=0, video_ids=names, manifest={},
                   features_path=features_path, captions_path=captions_path,
                   role_graphs_path=graphs_path if graphs_path.exists() else None, splits={split: names},
                   captions_filter=set(names), max_frames=max_frames)
        f = coll._h5
        if not names:
            raise CollectionError(f"{names_path}: split {split!r} has no videos")
        first = feature_key(names[0])
        if first not in f:
            raise CollectionError(f"{features_path}: no features for video {names[0]!r} (key {first!r})")
        coll.dim = int(f[first].shape[1])
        coll.manifest = {"format": "official-hgr", "name": coll.name, "dim": coll.dim, "root": str(root),
                         "split": split, "extractor": {"name": features_name, "dim": coll.dim},
                         "features_file": str(features_path),
                         "sampling": {"policy": "official", "max_frames": max_frames, "trim": "select"}}
        return coll

    # ------------------------------------------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.video_ids)

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, {len(self)} videos, dim={self.dim}, features={self.features_path})"

    def split(self, name: str) -> list[str]:
        """Video ids of a split; CollectionError naming the known splits if there is no such split."""
        if name not in self.splits:
            raise CollectionError(f"collection {self.name!r} has no split {name!r}; splits: {sorted(self.splits)}")
        return self.splits[name]

    def _check_id(self, video_id: str) -> None:
        if video_id not in self._ids:
            raise CollectionError(f"video {video_id!r} is not in collection {self.name!r} ({self.features_path})")

    def features(self, video_id: str) -> np.ndarray:
        """Raw frame features of one video, (num_frames, dim) float32."""
        self._check_id(video_id)
        if video_id in self._staged:
            with np.load(self._staged[video_id]) as z:
                arr = z["features"]
        else:
            key = feature_key(video_id)
            if key not in self._h5:
                raise CollectionError(f"{self.features_path}: no features for video {video_id!r} (key {key!r})")
            try:
                arr = self._h5[key][...]
            except (OSError, KeyError, ValueError, RuntimeError) as err:   # damaged on disk since it was opened
                raise CollectionError(f"{self.features_path}: features of video {video_id!r} cannot be read ({err}); "
                                      "the file is damaged: re-index into a new folder") from err
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise CollectionError(f"{self.features_path}: video {video_id!r} has features of shape {arr.shape}, "
                                  f"expected (num_frames, {self.dim})")
        return arr.astype(np.float32, copy=False)

    def frame_features(self, video_id: str, max_frames: int | None = None) -> tuple[np.ndarray, int]:
        """Official 'select' resampling of a video's frames: (min(n, max_frames), dim) float32 and that length."""
        return select_frames(self.features(video_id), max_frames or self.max_frames)

    def region_features(self, video_id: str) -> np.ndarray | None:
        """Grid-cell features (num_frames, cells, dim) float32, or None if the collection was indexed without."""
        self._check_id(video_id)
        if not self.manifest.get("regions"):
            return None
        if video_id in self._staged:
            with np.load(self._staged[video_id]) as z:
                return z["regions"].astype(np.float32) if "regions" in z else None
        key = f"{REGIONS_GROUP}/{feature_key(video_id)}"
        return self._h5[key][...].astype(np.float32) if key in self._h5 else None

    def num_frames(self, video_id: str) -> int:
        self._check_id(video_id)
        if self._frame_counts is not None:
            return self._frame_counts[video_id]
        return int(self._h5[feature_key(video_id)].shape[0])

    @property
    def captions(self) -> dict[str, list[str]]:
        """{video_id: [caption, ...]} ({} if none); loaded and validated on first use."""
        if self._captions is None:
            self._captions = self._load_captions()
        return self._captions

    def _load_captions(self) -> dict[str, list[str]]:
        if self._captions_path is None:
            return {}
        data = _read_json(self._captions_path, "captions")
        if not isinstance(data, dict):
            raise CollectionError(f"{self._captions_path}: captions must be a JSON object {{video_id: [caption]}}")
        if self._captions_filter is not None:                 # official: one file for all splits
            return {v: list(c) for v, c in data.items() if v in self._captions_filter}
        for vid, caps in data.items():
            if vid not in self._ids:
                raise CollectionError(f"{self._captions_path}: caption for unknown video {vid!r} (not in "
                                      f"{self.root / MANIFEST}); remove it or index that video")
            if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
                raise CollectionError(f"{self._captions_path}: captions of {vid!r} must be a list of strings")
        return data

    @property
    def role_graphs_file(self) -> Path | None:
        """The role-graph cache file, if the collection has one."""
        return self._role_graphs_path

    @property
    def role_graphs(self) -> dict:
        """{sentence: [graph_nodes, graph_edges]} (official format; {} if none); loaded on first use."""
        if self._role_graphs is None:
            if self._role_graphs_path is None:
                self._role_graphs = {}
            else:
                data = _read_json(self._role_graphs_path, "role graphs")
                if not isinstance(data, dict):
                    raise CollectionError(f"{self._role_graphs_path}: role graphs must be {{sentence: [nodes, edges]}}")
                bad = next((k for k, g in data.items() if not _is_role_graph(g)), None)
                if bad is not None:
                    raise CollectionError(f"{self._role_graphs_path}: the role graph of {str(bad)[:80]!r} is not "
                                          "[graph_nodes, graph_edges]; rebuild the file with `hgr parse`")
                self._role_graphs = data
        return self._role_graphs

    def video_path(self, video_id: str) -> Path | None:
        """A playable file for the video: mapped in the manifest, or videos/<key>.* inside the collection folder."""
        self._check_id(video_id)
        if self.root is None:
            return None
        mapped = self._video_paths().get(video_id)
        if mapped:
            p = Path(mapped) if Path(mapped).is_absolute() else self.root / mapped
            return p if p.is_file() else None
        videos = (self.root / VIDEOS_DIR).resolve()
        if not videos.is_dir():
            return None
        key = feature_key(video_id)
        for p in sorted(videos.glob(f"{key}.*")):
            p = p.resolve()
            if p.is_file() and p.parent == videos and p.stem == key:
                return p
        return None

    def _video_paths(self) -> dict[str, str]:
        if self._video_path_map is None:
            name = self.manifest.get("video_paths_file")
            self._video_path_map = _read_json(self.root / name, "video path map") if name else {}
        return self._video_path_map

    def check_dim(self, dim: int, what: str) -> None:
        """CollectionError if `what` (e.g. a checkpoint) expects `dim`-d features and this collection differs."""
        if int(dim) != self.dim:
            extractor = (self.manifest.get("extractor") or {}).get("name", "?")
            raise CollectionError(f"{what} expects {dim}-d frame features but collection {self.name!r} holds "
                                  f"{self.dim}-d {extractor} features ({self.features_path}); use a checkpoint "
                                  f"trained on {self.dim}-d features or re-index with the matching extractor")

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -------------------------------------------------------------------------------------------------- writing
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_json(path: Path, data, indent: int | None = 1) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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
            self.manifest = _read_json(self.root / MANIFEST, "collection manifest")
            self._check_compatible(wanted)
        else:
            self.manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **wanted,
                             "frame_counts": {}, "splits": {}, "video_paths_file": None,
                             "captions_file": None, "role_graphs_file": None,
                             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "created_with": created_with or {}}
            self._write_features([])                         # an empty but valid collection from the start
            _atomic_write_json(self.root / MANIFEST, self.manifest)
        self.dim, self.dtype = int(self.manifest["dim"]), self.manifest["dtype"]
        _cut_torn_tail(self.staging / DONE_LOG)
        logged = [e for e in _read_done_log(self.staging / DONE_LOG) if (self.staging / e["file"]).exists()]
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
        self._video_paths = _read_json(self.root / name, "video path map") if name else {}
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
        _fsync_dir(self.staging)
        entry = {"id": video_id, "file": file, "num_frames": int(features.shape[0])}
        if source is not None:
            entry["source"] = str(Path(source).resolve())
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.staging / DONE_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
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
        _fsync_dir(self.root)

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
            current = _read_json(path, "captions") if path.exists() else {}
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
