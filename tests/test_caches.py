"""Caches beside a collection: one file per collection, kind and set of videos; a new one removes what it
supersedes; two splits of one collection keep their own."""
from __future__ import annotations

import torch

from hgr.collection import Collection
from hgr.inputs import collection_inputs
from hgr.search import Searcher, index_cache_path
from tests import synthetic


def _searcher(collection, ckpt, video_ids) -> Searcher:
    cache = index_cache_path(collection, ckpt, video_ids=video_ids)
    return Searcher(ckpt, collection_inputs(collection, ckpt.config), video_ids, lambda s: [{}, []], cache=cache)


def _index_files(collection) -> list[str]:
    return sorted(p.name for p in (collection.root / "cache").glob("index-*.pt"))


def test_one_cache_per_split_and_the_superseded_one_removed(tmp_path):
    collection = Collection.open(synthetic.build(tmp_path / "coll", n_train=12, n_val=6))
    ckpt = synthetic.untrained_checkpoint(collection)
    train, val = collection.split("train"), collection.split("val")
    legacy = collection.root / "cache" / ("index-" + "0" * 20 + ".pt")    # named before the split was in the name
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(b"old")
    for ids in (train, val, train):                         # two services on different splits, then the first again
        searcher = _searcher(collection, ckpt, ids)
        assert searcher.index.event.shape[0] == len(ids)
    first = _index_files(collection)
    assert len(first) == 2 and not legacy.exists()          # one per split, neither overwrote the other
    reread = _searcher(collection, ckpt, val)
    reread.encode_videos = None                             # must not be called: its split's cache is still there
    assert reread.index.event.shape[0] == len(val)
    with torch.no_grad():
        next(ckpt.model.parameters()).add_(0.01)            # new weights: the train split's cache is superseded
    assert _searcher(collection, ckpt, train).index.event.shape[0] == len(train)
    now = _index_files(collection)
    assert len(now) == 2 and len(set(now) - set(first)) == 1


def test_frame_strips_made_with_other_settings_are_removed(tmp_path):
    from hgr.app.frames import FrameStrips
    from hgr.video_io import Sampling

    old = tmp_path / "cache" / "frames-0123456789abcdef"
    old.mkdir(parents=True)
    (old / "strip.json").write_text("{}")
    strips = FrameStrips(lambda v: None, Sampling(max_frames=4), 4, 24, tmp_path / "cache")
    assert strips.folder != old and not old.exists()
