"""Failures that used to pass silently are reported: a damaged cache, a clip that cannot be decoded, GloVe not
applied."""
from __future__ import annotations

import pytest
import torch

from hgr.collection import Collection
from tests import synthetic


def test_a_damaged_cache_is_reported_and_rebuilt(tmp_path):
    from hgr.search import read_cache

    path = tmp_path / "index.pt"
    assert read_cache(path, "video index", dict) is None                      # no file: nothing to say
    torch.save({"tensors": {}}, path)
    assert read_cache(path, "video index", lambda obj: None) is None           # for other inputs: silent
    for content in (b"garbage", b""):
        path.write_bytes(content)
        with pytest.warns(UserWarning, match=r"index.pt: unreadable video index cache .*computing it again"):
            assert read_cache(path, "video index", dict) is None
    torch.save({"tensors": {}}, path)
    with pytest.warns(UserWarning, match="KeyError"):                        # not what this version wrote
        assert read_cache(path, "video index", lambda obj: obj["video_ids"]) is None


def test_a_clip_that_cannot_be_decoded_is_reported_and_not_cached_empty(tmp_path):
    from hgr.app.frames import FrameStrips
    from hgr.video_io import Sampling

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    strips = FrameStrips({"broken": broken}.get, Sampling(max_frames=4), 4, 24, tmp_path / "cache")
    with pytest.warns(UserWarning, match="broken: no frame strip, its video cannot be decoded"):
        assert strips("broken") == []
    assert not list((tmp_path / "cache").rglob("*.json"))                     # decoded again after a restart


def test_glove_that_cannot_be_applied_is_said_and_recorded(tmp_path):
    import hgr
    from hgr.model import HGRConfig
    from hgr.train import TrainConfig, train

    collection = Collection.open(synthetic.build(tmp_path / "coll", n_train=20, n_val=8))
    cfg = HGRConfig(dim_fts=collection.dim, dim_embed=16, dim_word=16, num_words=0)
    lines = []
    train(collection, cfg, tmp_path / "m.pt", TrainConfig(epochs=1, batch_size=16, glove=True), device="cpu",
          progress=False, log=lines.append)
    assert any("the 16-d word embeddings start random" in line for line in lines), lines
    assert hgr.load(tmp_path / "m.pt", device="cpu").card["train"]["glove"] is False
