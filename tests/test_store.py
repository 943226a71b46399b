"""The on-disk frame store (issue 18, item 1): the same scores as the encoded side held in RAM, exact search streamed
from it, rebuilt when the checkpoint or the videos change, and a damaged store never read."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hgr.search.searcher as searcher_module
from hgr.collection import Collection
from hgr.demo_assets import DEMO_CHECKPOINT, DEMO_COLLECTION
from hgr.errors import HGRError
from hgr.evaluate import graph_lookup
from hgr.inputs import collection_inputs
from hgr.search import Searcher
from hgr.search.store import FrameStore, StoreError, store_path
from tests import synthetic


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return synthetic.searcher_world(tmp_path_factory.mktemp("store"))


make = synthetic.searcher          # (world, video_ids=None, checkpoint=None, **Searcher's kw)


def captions(collection, n: int = 6) -> list[str]:
    ids = collection.video_ids
    return [collection.captions[ids[i]][0] for i in np.linspace(0, len(ids) - 1, n).astype(int)]


def assert_same_search(memory: Searcher, disk: Searcher, sentences: list[str], pool: int) -> None:
    """Every score of the exact ranking within 1e-5, and the same exact and two-stage top 10."""
    full, streamed = memory.score_matrix(sentences), disk.score_matrix(sentences)
    for level in full:
        np.testing.assert_allclose(streamed[level], full[level], atol=1e-5, err_msg=level)
    for sentence in sentences:
        for p in (None, pool):
            a, _ = memory.search(sentence, top_k=10, pool=p)
            b, _ = disk.search(sentence, top_k=10, pool=p)
            assert b.ids == a.ids, (sentence, p)
            np.testing.assert_allclose(b.scores["fused"], a.scores["fused"], atol=1e-5)
            np.testing.assert_allclose(b.action_alignment, a.action_alignment, atol=1e-5)


@pytest.mark.parametrize("storage", [torch.float32, torch.float16])
def test_the_store_scores_as_the_index_in_ram(world, tmp_path, monkeypatch, storage):
    monkeypatch.setattr(searcher_module, "STORE_VIDEOS_PER_CHUNK", 7)     # many chunks: the exact ranking streams
    collection, _ = world
    memory = make(world, storage=storage, store="memory")
    disk = make(world, storage=storage, store="disk", cache=tmp_path / "index.pt")
    assert disk.on_disk and not memory.on_disk
    assert_same_search(memory, disk, captions(collection), pool=40)
    assert disk.frame_store.path == tmp_path / "index.frames"
    torch.testing.assert_close(disk.first_stage_keys().float(), memory.first_stage_keys())


@pytest.mark.skipif(not (DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()), reason="no embedded demo")
def test_the_store_scores_as_the_index_in_ram_on_the_demo(tmp_path):
    from hgr.checkpoint import load

    ckpt = load(DEMO_CHECKPOINT, device="cpu")
    with Collection.open(DEMO_COLLECTION) as coll:
        args = (ckpt, collection_inputs(coll, ckpt.config), coll.video_ids,
                graph_lookup(coll.role_graphs, coll.manifest["parser"]))
        memory = Searcher(*args)
        disk = Searcher(*args, cache=tmp_path / "index.pt", store="disk")
        assert_same_search(memory, disk, captions(coll, 4), pool=60)


def test_the_store_is_reused_and_rebuilt_when_the_checkpoint_or_videos_change(world, tmp_path):
    collection, ckpt = world
    cache = tmp_path / f"index-all-{'0' * 20}.pt"
    first = make(world, store="disk", cache=cache)
    reference = first.index.event.clone()
    again = make(world, store="disk", cache=cache)
    again._encoded_batches = None                                   # must not be called: the store is valid
    torch.testing.assert_close(again.index.event, reference)
    fewer = make(world, video_ids=collection.video_ids[:30], store="disk", cache=cache)
    assert fewer.index.event.shape[0] == 30                         # other videos: built again, for them
    torch.testing.assert_close(fewer.index.event, reference[:30])
    with torch.no_grad():
        next(ckpt.model.parameters()).add_(0.01)                    # new weights: built again
    try:
        changed = make(world, store="disk", cache=cache)
        assert not torch.allclose(changed.index.event, reference)
        torch.testing.assert_close(changed.index.event, make(world, store="memory").index.event)
        newer = make(world, store="disk", cache=tmp_path / f"index-all-{'1' * 20}.pt")   # a new digest's name
        assert newer.frame_store.videos == len(collection.video_ids)
        assert not store_path(cache).exists()                       # the store it supersedes is removed
    finally:
        with torch.no_grad():
            next(ckpt.model.parameters()).sub_(0.01)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "unfinished", "missing"])
def test_a_damaged_store_is_reported_and_rebuilt_never_read(world, tmp_path, damage):
    sentence = captions(world[0], 1)[0]
    memory = make(world, store="memory")
    expected, _ = memory.search(sentence, top_k=10)
    built = make(world, store="disk", cache=tmp_path / "index.pt")
    folder, key = built.frame_store.path, built._store_key()
    frames = folder / "actions.bin"
    if damage == "truncated":
        frames.write_bytes(frames.read_bytes()[:-4096])
    elif damage == "flipped":
        data = bytearray(frames.read_bytes())
        data[len(data) // 2:len(data) // 2 + 64] = b"\x7f" * 64              # same size, other values
        frames.write_bytes(bytes(data))
    elif damage == "unfinished":
        (folder / "store.json").unlink()
    else:
        (folder / "mask.bin").unlink()
    with pytest.raises(StoreError, match="delete .* to rebuild it|rebuild it"):
        FrameStore.open(folder, key)
    with pytest.warns(UserWarning, match="building it again"):
        again = make(world, store="disk", cache=tmp_path / "index.pt")
        ranked, _ = again.search(sentence, top_k=10)
    assert ranked.ids == expected.ids
    np.testing.assert_allclose(ranked.scores["fused"], expected.scores["fused"], atol=1e-5)
    FrameStore.open(folder, key).verify()                           # the rebuilt store is whole


def test_int8_frames_keep_the_ranking_close(world, tmp_path):
    """int8 frames (a quarter of float32's bytes) change fused scores a little; the measured effect on recall is
    benchmarks/scale.py's --int8 row."""
    collection, _ = world
    memory = make(world, store="memory")
    int8 = make(world, storage=torch.int8, cache=tmp_path / "index.pt")      # auto: int8 is kept on disk
    assert int8.on_disk and int8.frame_store.fields["actions"].dtype == torch.int8
    sentences = captions(collection, 8)
    full, small = memory.score_matrix(sentences)["fused"], int8.score_matrix(sentences)["fused"]
    assert np.abs(small - full).max() < 5e-2
    recall = [len(set(np.argsort(-full[:, j])[:10]) & set(np.argsort(-small[:, j])[:10])) / 10
              for j in range(len(sentences))]
    assert np.mean(recall) >= 0.9
    with pytest.raises(HGRError, match="int8 frame store serves search only"):
        _ = int8.index


def test_when_the_store_is_used(monkeypatch):
    import hgr.search.planning as planning
    from hgr.search.planning import uses_frame_store

    assert not uses_frame_store(100) and uses_frame_store(100, "disk")
    assert uses_frame_store(planning.DISK_FROM) and not uses_frame_store(planning.DISK_FROM, "memory")
    assert not uses_frame_store(planning.DISK_FROM, cache=False)       # auto with no cache folder: in RAM
    assert uses_frame_store(100, storage=torch.int8)
    with pytest.raises(HGRError, match="beside the index cache"):
        uses_frame_store(100, "disk", cache=False)
    with pytest.raises(HGRError, match="only in the on-disk frame store"):
        uses_frame_store(100, "memory", storage=torch.int8)
    with pytest.raises(HGRError, match="unknown frame store"):
        uses_frame_store(100, "ssd")
