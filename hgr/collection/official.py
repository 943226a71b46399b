"""The official release's data root opened in place as a `Collection` (spec section 2): a split's video names, its
features file and the release's captions and role graphs; or several splits as one collection (`hgr train
--official-root` reads trn and val), each video read from its own split's features file.

What is known of how the release's features were made (docs/official.md): ImageNet ResNet-152, one 2048-d vector a
frame, one frame every 16 (MSR-VTT, hgr_v2t issue #6); resize, crop and normalisation are not published (spec
section 5). `RELEASE_EXTRACTORS` names the extractor of ours that computes the same kind of feature, so that a
model trained on the release can be checked against a collection indexed from your own videos
(`Collection.check_features`); `hgr.official.open_release` adds that extractor's preprocessing, as assumed.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hgr.collection.layout import feature_key
from hgr.collection.reader import Collection
from hgr.errors import CollectionError

# the release's features folder under ordered_feature/SA/ -> our name for that kind of feature (an extractor of
# hgr.features); a folder not listed keeps its own name (ours when we wrote it, e.g. 'efficientnet-lite0')
RELEASE_EXTRACTORS = {"resnet152.pth": "resnet152"}


def annotation_dir(root: str | Path) -> Path:
    """annotation/RET: captions, role graphs and the vocabulary (int2word.npy, word2int.json)."""
    return Path(root) / "annotation" / "RET"


def release_extractor(features_name: str) -> dict:
    """The manifest's 'extractor' entry for a release features folder: its name, and ours for that kind of feature
    ('ours': the extractor a collection must have been indexed with to be searched by a model trained on it)."""
    return {"name": features_name, "ours": RELEASE_EXTRACTORS.get(features_name, features_name)}


def open_official_split(cls: type[Collection], root: str | Path, split: str | Sequence[str] = "tst",
                        features_name: str = "resnet152.pth", max_frames: int = 20) -> Collection:
    """Open the official release's data root in place (no copy): one split's names, features and captions, or
    several splits (a list of names) as one `OfficialSplits` collection."""
    if not isinstance(split, str):
        return OfficialSplits({s: open_official_split(cls, root, s, features_name, max_frames) for s in split})
    root = Path(root)
    names_path = root / "public_split" / f"{split}_names.npy"
    features_path = root / "ordered_feature" / "SA" / features_name / f"{split}_ft.hdf5"
    captions_path = annotation_dir(root) / "ref_captions.json"
    graphs_path = annotation_dir(root) / "sent2rolegraph.augment.json"
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
    coll.manifest = _manifest(coll, split, features_name, str(features_path))
    return coll


def _manifest(coll: Collection, split: str, features_name: str, features_file: str) -> dict:
    return {"format": "official-hgr", "name": coll.name, "dim": coll.dim, "root": str(coll.root), "split": split,
            "extractor": {**release_extractor(features_name), "dim": coll.dim}, "features_file": features_file,
            "sampling": {"policy": "official", "max_frames": coll.max_frames, "trim": "select"}}


class OfficialSplits(Collection):
    """Several splits of the release as one collection: `split(name)` lists each, and a video's features come from
    its own split's file (the release keeps one HDF5 file a split)."""

    def __init__(self, parts: dict[str, Collection]):
        first = next(iter(parts.values()))
        owner: dict[str, Collection] = {}
        for part in parts.values():
            if part.dim != first.dim:
                raise CollectionError(f"{part.features_path} holds {part.dim}-d features but {first.features_path} "
                                      f"{first.dim}-d: the splits come from different extractors")
            for vid in part.video_ids:
                if vid in owner:
                    raise CollectionError(f"video {vid!r} is in two splits ({owner[vid].name} and {part.name}); "
                                          "the release's splits are disjoint: check public_split/")
                owner[vid] = part
        super().__init__(root=first.root, name=f"official:{first.root.name}/{'+'.join(parts)}", dim=first.dim,
                         video_ids=list(owner), manifest={}, features_path=first.features_path,
                         captions_path=first._captions_path, role_graphs_path=first._role_graphs_path,
                         splits={s: p.video_ids for s, p in parts.items()}, captions_filter=set(owner),
                         max_frames=first.max_frames)
        self.close()                   # the handle the base class opened: each split reads through its own part
        self._parts, self._owner = parts, owner
        self.manifest = _manifest(self, "+".join(parts), first.manifest["extractor"]["name"],
                                  ", ".join(str(p.features_path) for p in parts.values()))

    def features(self, video_id: str) -> np.ndarray:
        self._check_id(video_id)
        return self._owner[video_id].features(video_id)

    def num_frames(self, video_id: str) -> int:
        self._check_id(video_id)
        return self._owner[video_id].num_frames(video_id)

    def close(self) -> None:
        for part in getattr(self, "_parts", {}).values():
            part.close()
        super().close()
