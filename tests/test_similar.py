"""Similar clips (hgr/similar.py): the batched frame-set similarity equals its definition written out per pair,
in chunks or not, with padded frames and half-precision storage."""
from __future__ import annotations

import pytest
import torch

from hgr.model import VideoIndex
from hgr.model.matching import FrameStats


def _index(frames: torch.Tensor, lengths: list[int]) -> VideoIndex:
    mask = torch.arange(frames.shape[1])[None] < torch.tensor(lengths)[:, None]
    frames = frames * mask[..., None]
    return VideoIndex(frames[:, 0] + frames[:, -1], FrameStats.of(frames, mask), FrameStats.of(frames * 2 - 1, mask))


def _definition(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over each clip's frames of its best cosine with the other clip's frames, both directions averaged."""
    cos = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
    return float((cos.max(1).values.mean() + cos.max(0).values.mean()) / 2)


@pytest.mark.parametrize("chunk", [1000, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_frame_set_similarity_is_its_definition(monkeypatch, chunk, dtype):
    from hgr import similar

    monkeypatch.setattr(similar, "VIDEOS_PER_CHUNK", chunk)
    torch.manual_seed(0)
    lengths = [5, 3, 5, 1, 4, 2, 5]
    index = _index(torch.randn(len(lengths), 5, 16), lengths)
    for stats in (index.actions, index.entities):
        stats.frames = stats.frames.to(dtype)
    clips = similar.SimilarClips(index)
    for q in (1, 4):
        scores = clips.scores(index[[q]])
        for level, stats in (("action", index.actions), ("entity", index.entities)):
            for v, n in enumerate(lengths):
                want = _definition(stats.frames[v, :n].float(), stats.frames[q, :lengths[q]].float())
                assert float(scores[level][v]) == pytest.approx(want, abs=1e-5 if dtype == torch.float32 else 2e-3)
        assert float(scores["action"][q]) == pytest.approx(1, abs=1e-3)          # a clip is its own best match
        event = torch.nn.functional.cosine_similarity(index.event, index.event[q][None])
        assert torch.allclose(scores["event"], event, atol=1e-5)
        rows, ranked = clips.rank(index[[q]], 3, exclude=q)
        assert q not in rows and len(rows) == 3 and list(ranked["fused"]) == sorted(ranked["fused"], reverse=True)
