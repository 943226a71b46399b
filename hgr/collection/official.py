"""The official release's data root opened in place as a `Collection` (spec section 2): one split's video names,
its features file and the release's captions and role graphs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hgr.collection.layout import feature_key
from hgr.errors import CollectionError

if TYPE_CHECKING:
    from hgr.collection.reader import Collection


def open_official_split(cls: type[Collection], root: str | Path, split: str = "tst",
                        features_name: str = "resnet152.pth", max_frames: int = 20) -> Collection:
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
