"""Exact HGR ranking of a collection: the one scoring path shared by evaluation, the CLI and the app.

The video side is encoded once (`VideoIndex`: event vectors, action/entity frame embeddings with their norms
and Gram matrices); captions are encoded in batches and scored against every video in chunks.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hgr.checkpoint import Checkpoint
from hgr.inputs import CaptionInputs, caption_inputs, collate_captions, collate_frames
from hgr.model import LEVELS, TextEmbedding, VideoIndex
from hgr.model.matching import FrameStats

# pairs (video, caption) scored at once; bounds the [Bv, Bc, F, P] temporaries of local matching
PAIRS_PER_CHUNK = 200_000


def _pad_frames(t: torch.Tensor, width: int, dims: int) -> torch.Tensor:
    """Zero-pad the frame axis (dim 1, and dim 2 too for a Gram matrix) of `t` to `width`."""
    gap = width - t.shape[1]
    pads = {1: (0, gap), 2: (0, 0, 0, gap), 3: (0, gap, 0, gap)}[dims]
    return torch.nn.functional.pad(t, pads)


def _cat_stats(stats: list[FrameStats]) -> FrameStats:
    width = max(s.frames.shape[1] for s in stats)
    return FrameStats(frames=torch.cat([_pad_frames(s.frames, width, 2) for s in stats]),
                      inv_norms=torch.cat([_pad_frames(s.inv_norms, width, 1) for s in stats]),
                      gram=torch.cat([_pad_frames(s.gram, width, 3) for s in stats]),
                      mask=torch.cat([_pad_frames(s.mask, width, 1) for s in stats]))


def _cat_index(parts: list[VideoIndex]) -> VideoIndex:
    return VideoIndex(torch.cat([p.event for p in parts]), _cat_stats([p.actions for p in parts]),
                      _cat_stats([p.entities for p in parts]))


def _cat_text(parts: list[TextEmbedding]) -> TextEmbedding:
    return TextEmbedding(
        event=torch.cat([p.event for p in parts]), actions=torch.cat([p.actions for p in parts]),
        entities=torch.cat([p.entities for p in parts]), action_valid=torch.cat([p.action_valid for p in parts]),
        entity_valid=torch.cat([p.entity_valid for p in parts]), word_attention=torch.empty(0), graph_attention=[])


@dataclass
class Encoded:
    """Caption embeddings with the inputs they came from (node names for the demo's labels)."""
    text: TextEmbedding
    inputs: list[CaptionInputs]


class Searcher:
    """Scores captions against the videos of a collection with one checkpoint."""

    def __init__(self, checkpoint: Checkpoint, features: Callable[[str], np.ndarray], video_ids: Sequence[str],
                 graphs: Callable[[str], list], batch_size: int = 128) -> None:
        """`features(video_id)` gives resampled frame features [n, dim]; `graphs(sentence)` its role graph."""
        self.checkpoint = checkpoint
        self.model = checkpoint.model
        self.cfg = checkpoint.model.cfg
        self.video_ids = list(video_ids)
        self.features = features
        self.graphs = graphs
        self.batch_size = batch_size
        self._index: VideoIndex | None = None

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def index(self) -> VideoIndex:
        if self._index is None:
            self._index = self.encode_videos(self.video_ids)
        return self._index

    @torch.no_grad()
    def encode_videos(self, video_ids: Sequence[str]) -> VideoIndex:
        parts = []
        for start in range(0, len(video_ids), self.batch_size):
            feats = [self.features(v) for v in video_ids[start:start + self.batch_size]]
            frames, lengths = collate_frames(feats, self.cfg.max_frames)
            parts.append(VideoIndex.of(self.model.encode_video(frames.to(self.device), lengths.to(self.device))))
        return _cat_index(parts)

    def inputs(self, sentences: Sequence[str]) -> list[CaptionInputs]:
        return [caption_inputs(s, self.graphs(s), self.checkpoint.vocab, self.cfg) for s in sentences]

    @torch.no_grad()
    def encode_captions(self, sentences: Sequence[str]) -> Encoded:
        items = self.inputs(sentences)
        parts = [self.model.encode_text(collate_captions(items[i:i + self.batch_size]).to(self.device))
                 for i in range(0, len(items), self.batch_size)]
        return Encoded(parts[0] if len(parts) == 1 else _cat_text(parts), items)

    @torch.no_grad()
    def score_matrix(self, sentences: Sequence[str]) -> dict[str, np.ndarray]:
        """Every video (rows, `video_ids` order) against every sentence (columns): {level: [n_vid, n_cap]}."""
        text = self.encode_captions(sentences).text
        index = self.index
        n_vid, n_cap = len(self.video_ids), len(sentences)
        out = {level: np.empty((n_vid, n_cap), dtype=np.float32) for level in LEVELS}
        cap_chunk = max(1, min(n_cap, PAIRS_PER_CHUNK // max(n_vid, 1)))
        vid_chunk = max(1, min(n_vid, PAIRS_PER_CHUNK // cap_chunk))
        for c in range(0, n_cap, cap_chunk):
            sub = TextEmbedding(text.event[c:c + cap_chunk], text.actions[c:c + cap_chunk],
                                text.entities[c:c + cap_chunk], text.action_valid[c:c + cap_chunk],
                                text.entity_valid[c:c + cap_chunk], text.word_attention, [])
            for v in range(0, n_vid, vid_chunk):
                scores = self.model.score(index[v:v + vid_chunk], sub)
                for level in LEVELS:
                    out[level][v:v + vid_chunk, c:c + cap_chunk] = scores.level(level).cpu().numpy()
        return out
