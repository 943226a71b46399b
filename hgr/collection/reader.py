"""Reading a collection: `Collection`, our folder format opened lazily (HDF5 datasets stay on disk, captions and
role graphs load on first use), staged videos included."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from hgr.collection.layout import (
    CAPTIONS,
    DONE_LOG,
    FEATURES,
    FORMAT,
    MANIFEST,
    REGIONS_GROUP,
    ROLE_GRAPHS,
    STAGING_DIR,
    VIDEOS_DIR,
    feature_key,
    is_role_graph,
    read_json,
)
from hgr.collection.staging import read_done_log
from hgr.errors import CollectionError
from hgr.video_io import select_frames


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
        manifest = read_json(root / MANIFEST, "collection manifest")
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
        for entry in read_done_log(root / STAGING_DIR / DONE_LOG):   # indexed, not merged yet: still ours
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
    def from_official(cls, root: str | Path, split: str | list[str] = "tst", features_name: str = "resnet152.pth",
                      max_frames: int = 20) -> Collection:
        """Open the official release's data root in place (no copy): one split's names, features and captions, or
        several splits as one collection (`["trn", "val"]`, for training)."""
        from hgr.collection.official import open_official_split

        return open_official_split(cls, root, split, features_name, max_frames)

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
        data = read_json(self._captions_path, "captions")
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
                data = read_json(self._role_graphs_path, "role graphs")
                if not isinstance(data, dict):
                    raise CollectionError(f"{self._role_graphs_path}: role graphs must be {{sentence: [nodes, edges]}}")
                bad = next((k for k, g in data.items() if not is_role_graph(g)), None)
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
            self._video_path_map = read_json(self.root / name, "video path map") if name else {}
        return self._video_path_map

    def check_dim(self, dim: int, what: str) -> None:
        """CollectionError if `what` (e.g. a checkpoint) expects `dim`-d features and this collection differs."""
        if int(dim) != self.dim:
            extractor = (self.manifest.get("extractor") or {}).get("name", "?")
            raise CollectionError(f"{what} expects {dim}-d frame features but collection {self.name!r} holds "
                                  f"{self.dim}-d {extractor} features ({self.features_path}); use a checkpoint "
                                  f"trained on {self.dim}-d features or re-index with the matching extractor")

    def features_signature(self) -> dict:
        """What made the frame features, as `hgr train` records it in a model card ("features") and as a collection
        must match to be searched with that model: extractor, dim and preprocessing (sampling is recorded too)."""
        ext = self.manifest.get("extractor") or {}
        ext = ext if isinstance(ext, dict) else {"name": str(ext)}
        return {"extractor": ext.get("ours") or ext.get("name"), "dim": self.dim,
                "preprocessing": ext.get("preprocessing"), "sampling": self.manifest.get("sampling"),
                "source": ext.get("name")}

    def check_features(self, trained_on: dict | None, what: str) -> None:
        """CollectionError if `what` (a checkpoint) was trained on other frame features than this collection holds:
        another extractor, size or preprocessing. `trained_on` is its model card's "features" (None: nothing is
        recorded, as in official checkpoints, and `check_dim` is the only check)."""
        if not isinstance(trained_on, dict) or not trained_on:
            return
        mine = self.features_signature()
        diffs = []
        if trained_on.get("dim") is not None and int(trained_on["dim"]) != self.dim:
            diffs.append(f"{trained_on['dim']}-d vs {self.dim}-d")
        if trained_on.get("extractor") and mine["extractor"] and trained_on["extractor"] != mine["extractor"]:
            diffs.append(f"extractor {trained_on['extractor']} vs {mine['extractor']}")
        theirs, ours = _preprocessing(trained_on.get("preprocessing")), _preprocessing(mine["preprocessing"])
        if theirs and ours and theirs != ours:
            diffs += [f"preprocessing {k} {theirs[k]} vs {ours[k]}" for k in theirs if theirs[k] != ours[k]]
        if diffs:
            raise CollectionError(
                f"{what} was trained on other frame features than collection {self.name!r} holds "
                f"({'; '.join(diffs)}): the model would read them as something they are not. Index the videos with "
                f"the checkpoint's extractor (`hgr index VIDEOS --out DIR --extractor {trained_on.get('extractor')} "
                "...`, see docs/official.md), or use a checkpoint trained on this collection's features")

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _preprocessing(p: dict | None) -> dict | None:
    """The fields of a preprocessing record (hgr.features.Preprocessing.to_dict) that change a frame's features."""
    if not isinstance(p, dict):
        return None
    return {k: list(p[k]) if isinstance(p.get(k), (list, tuple)) else p.get(k)
            for k in ("resize_shorter", "crop", "interpolation", "mean", "std")}
