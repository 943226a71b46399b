"""Similar clips (video to video) from HGR's own video side: the encoded collection a `Searcher` keeps.

Beyond the paper, which only matches videos with text. Per level, in that level's joint space:
- event: the cosine of the two clips' event vectors (Eq. 11's pooled vector);
- action and entity: a symmetric frame-set similarity, the mean over each clip's frames of its best cosine with a
  frame of the other clip, averaged over both directions (a clip and its re-encoded copy score about 1);
- fused: the mean of the three, as Eq. 13 fuses text-video scores.

    similar = SimilarClips(searcher.index)
    scores = similar.scores(searcher.index[[i]])     # {level: [n_videos]}, one product per level
"""
from __future__ import annotations

import numpy as np
import torch

from hgr.inputs import collate_frames
from hgr.model import LEVELS, VideoIndex
from hgr.model.matching import FrameStats, cosine, frame_dots

# collection videos compared at once: bounds the [query frames, videos, frames] cosines (16,384 x 20 x 20 x 4 B =
# 26 MB); the demo and any collection below it is one product per level
VIDEOS_PER_CHUNK = 16_384


def frame_set_similarity(collection: FrameStats, query: FrameStats) -> torch.Tensor:
    """Symmetric best-match similarity of one query clip's frames with every clip's frames: [n_videos].

    collection: frames [N, F, D] (any float dtype); query: one clip, frames [1, Fq, D]. Frame cosines use the
    cached inverse norms, so the collection's frames are read once, in one product (`frame_dots`).
    """
    real = query.mask[0]
    columns = (query.frames[0, real].float() * query.inv_norms[0, real, None].float())   # unit query frames [Fq, D]
    n, frames, dim = collection.frames.shape
    out = []
    for start in range(0, n, VIDEOS_PER_CHUNK):
        part = collection[start:start + VIDEOS_PER_CHUNK]
        count = part.frames.shape[0]
        dots = frame_dots(part.frames.reshape(count * frames, dim), columns).view(-1, count, frames)  # [Fq, n, F]
        cos = (dots * part.inv_norms.to(dots.dtype)).masked_fill(~part.mask, float("-inf"))
        query_side = cos.max(dim=2).values.mean(dim=0)                                  # [n] best per query frame
        best = cos.max(dim=0).values.masked_fill(~part.mask, 0)                         # [n, F] best per clip frame
        clip_side = best.sum(1) / part.mask.sum(1).clamp(min=1)
        out.append((query_side + clip_side) / 2)
    return torch.cat(out)


class SimilarClips:
    """Every clip of an encoded collection scored against one clip, at each level (module docstring)."""

    def __init__(self, index: VideoIndex) -> None:
        self.index = index                                 # the Searcher's index: on the model's device, cached

    @torch.no_grad()
    def scores(self, query: VideoIndex) -> dict[str, torch.Tensor]:
        """{level: [n_videos]} for one clip `query` (a one-video VideoIndex, e.g. `index[[i]]` or `encode_clip`)."""
        query = query.to(self.index.event.device)
        out = {"event": cosine(self.index.event, query.event)[:, 0],
               "action": frame_set_similarity(self.index.actions, query.actions),
               "entity": frame_set_similarity(self.index.entities, query.entities)}
        out["fused"] = (out["event"] + out["action"] + out["entity"]) / 3
        return out

    def rank(self, query: VideoIndex, top_k: int,
             exclude: int | None = None) -> tuple[list[int], dict[str, np.ndarray]]:
        """Rows of the `top_k` most similar clips by fused score (without row `exclude`), and their scores."""
        scores = self.scores(query)
        fused = scores["fused"].clone()
        if exclude is not None:
            fused[exclude] = float("-inf")
        rows = torch.topk(fused, min(top_k, len(fused) - (exclude is not None))).indices
        return rows.tolist(), {level: scores[level][rows].cpu().numpy() for level in LEVELS}


@torch.no_grad()
def encode_clip(model, features: np.ndarray) -> VideoIndex:
    """One clip's frame features [n, dim] (already resampled, `hgr.inputs.frame_inputs`) -> its VideoIndex."""
    frames, lengths = collate_frames([features], model.cfg.max_frames)
    return VideoIndex.of(model.encode_video(frames.to(model.device), lengths.to(model.device)))
