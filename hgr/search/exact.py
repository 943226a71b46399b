"""Exact scoring: every video against every caption by the model's fused score (Eq. 13), in chunks of bounded
memory; the re-scoring of a few chosen pairs with the frame alignment kept for the demo."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hgr.inputs import CaptionInputs
from hgr.model import LEVELS, TextEmbedding, VideoIndex
from hgr.model.matching import FrameStats

# pairs (video, caption) scored at once; bounds the [Bv, Bc, F, P] temporaries of local matching
PAIRS_PER_CHUNK = 200_000
# videos scored at once from half precision (bounds the float32 copy made off the CPU: 8,192 x 20 x 1024 x 4 B =
# 670 MB a level; on the CPU `frame_dots` widens a few rows at a time)
HALF_VIDEOS_PER_CHUNK = 8192


def _pad_frames(t: torch.Tensor, width: int, dims: int) -> torch.Tensor:
    """Zero-pad the frame axis (dim 1, and dim 2 too for a Gram matrix) of `t` to `width`."""
    gap = width - t.shape[1]
    pads = {1: (0, gap), 2: (0, 0, 0, gap), 3: (0, gap, 0, gap)}[dims]
    return torch.nn.functional.pad(t, pads)


def _pad_stats(stats: FrameStats, width: int) -> FrameStats:
    return FrameStats(_pad_frames(stats.frames, width, 2), _pad_frames(stats.inv_norms, width, 1),
                      _pad_frames(stats.gram, width, 3), _pad_frames(stats.mask, width, 1))


def pad_index(index: VideoIndex, width: int) -> VideoIndex:
    """`index` with its frame axis zero-padded to `width` (a batch is as wide as its longest video); padded frames
    are masked out, so they change no score."""
    if index.actions.frames.shape[1] == width:
        return index
    return VideoIndex(index.event, _pad_stats(index.actions, width), _pad_stats(index.entities, width))


def _cat_stats(stats: list[FrameStats]) -> FrameStats:
    width = max(s.frames.shape[1] for s in stats)
    padded = [_pad_stats(s, width) for s in stats]
    return FrameStats(frames=torch.cat([s.frames for s in padded]), inv_norms=torch.cat([s.inv_norms for s in padded]),
                      gram=torch.cat([s.gram for s in padded]), mask=torch.cat([s.mask for s in padded]))


def store_frames(index: VideoIndex, dtype: torch.dtype) -> VideoIndex:
    """`index` with its action and entity frame embeddings (the bulk of it) kept in `dtype`, changed in place."""
    for stats in (index.actions, index.entities):
        stats.frames = stats.frames.to(dtype)                     # a no-op when they are kept so already
    return index


def cat_index(parts: list[VideoIndex]) -> VideoIndex:
    return VideoIndex(torch.cat([p.event for p in parts]), _cat_stats([p.actions for p in parts]),
                      _cat_stats([p.entities for p in parts]))


def cat_text(parts: list[TextEmbedding]) -> TextEmbedding:
    return TextEmbedding(
        event=torch.cat([p.event for p in parts]), actions=torch.cat([p.actions for p in parts]),
        entities=torch.cat([p.entities for p in parts]), action_valid=torch.cat([p.action_valid for p in parts]),
        entity_valid=torch.cat([p.entity_valid for p in parts]), word_attention=torch.empty(0), graph_attention=[])


@dataclass
class Encoded:
    """Caption embeddings with the inputs they came from (node names for the demo's labels)."""
    text: TextEmbedding
    inputs: list[CaptionInputs]


@dataclass
class Ranked:
    """Top results of one query, with the trace the demo draws (numpy, on the CPU)."""
    ids: list[str]                       # ranked best first (video ids, or captions for video-to-text)
    scores: dict[str, np.ndarray]        # level -> [k], for event, action, entity, fused
    action_alignment: np.ndarray         # [k, num_verbs, F] frame weights phi of each action node (Eq. 12)
    entity_alignment: np.ndarray         # [k, num_nouns, F]
    frame_counts: list[int]              # real frames of each result's video


@dataclass
class QueryTrace:
    """How a sentence was encoded: its graph inputs, word attention and per-layer graph attention."""
    sentence: str
    inputs: CaptionInputs
    word_attention: np.ndarray           # [num_words]
    graph_attention: list[np.ndarray]    # per layer [N, N], row = receiving node


def top_rows(fused: torch.Tensor, k: int) -> torch.Tensor:
    return torch.topk(fused, min(k, fused.shape[0])).indices


def select_captions(text: TextEmbedding, rows: torch.Tensor | slice) -> TextEmbedding:
    """Some captions of an encoded batch (the matching inputs only)."""
    return TextEmbedding(text.event[rows], text.actions[rows], text.entities[rows], text.action_valid[rows],
                         text.entity_valid[rows], torch.empty(0), [])


def rescore_with_alignment(model, index: VideoIndex, text: TextEmbedding, order: torch.Tensor, ids: list[str],
            video_to_text: bool) -> Ranked:
    """Re-score the chosen pairs with the frame alignment kept (cheap: k pairs)."""
    if not video_to_text:                                         # text -> video: k videos x 1 caption
        s = model.score(index[order], text, alignment=True)
        pick = (slice(None), 0)
        lengths = index.actions.mask[order].sum(1)
    else:                                                         # video -> text: 1 video x k captions
        s = model.score(index, select_captions(text, order), alignment=True)
        pick = (0, slice(None))
        lengths = index.actions.mask.sum(1).expand(len(order))
    scores = {level: s.level(level)[pick].cpu().numpy() for level in LEVELS}
    if s.action_alignment is None:                                # global matching has no frame alignment
        return Ranked([ids[i] for i in order.tolist()], scores, np.zeros((len(order), 0, 0)),
                      np.zeros((len(order), 0, 0)), [int(n) for n in lengths.tolist()])
    return Ranked(ids=[ids[i] for i in order.tolist()], scores=scores,
                  action_alignment=s.action_alignment[pick].cpu().numpy(),
                  entity_alignment=s.entity_alignment[pick].cpu().numpy(),
                  frame_counts=[int(n) for n in lengths.tolist()])


def trace_of(encoded: Encoded, i: int, sentence: str) -> QueryTrace:
    text = encoded.text
    n = len(encoded.inputs[i].ids)
    return QueryTrace(sentence, encoded.inputs[i], text.word_attention[i, :n].cpu().numpy(),
                      [a[i].cpu().numpy() for a in text.graph_attention])


@torch.no_grad()
def score_all(model, rows: Callable[[slice], VideoIndex], n_vid: int, text: TextEmbedding,
              half: bool = False, videos_per_chunk: int | None = None) -> dict[str, np.ndarray]:
    """Every video (`rows(slice)` gives some of the index) against every encoded caption: {level: [n_vid, n_cap]}.
    `half`: frames kept in half precision are widened a bounded chunk of videos at a time. `videos_per_chunk`: at
    most this many videos asked of `rows` at once (a store on disk is streamed in chunks of it)."""
    n_cap = text.event.shape[0]
    out = {level: np.empty((n_vid, n_cap), dtype=np.float32) for level in LEVELS}
    cap_chunk = max(1, min(n_cap, PAIRS_PER_CHUNK // max(n_vid, 1)))
    vid_chunk = max(1, min(n_vid, PAIRS_PER_CHUNK // cap_chunk))
    if half:
        vid_chunk = min(vid_chunk, HALF_VIDEOS_PER_CHUNK)
    if videos_per_chunk is not None:
        vid_chunk = max(1, min(vid_chunk, videos_per_chunk))
    for v in range(0, n_vid, vid_chunk):              # videos outside: each chunk is read once for every caption
        videos = rows(slice(v, v + vid_chunk))
        for c in range(0, n_cap, cap_chunk):
            scores = model.score(videos, select_captions(text, slice(c, c + cap_chunk)))
            for level in LEVELS:
                out[level][v:v + vid_chunk, c:c + cap_chunk] = scores.level(level).cpu().numpy()
    return out
