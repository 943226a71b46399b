"""The HGR model: `encode_video`, `encode_text`, then `score` (fusion of Eq. 13), then `forward` for training."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from hgr.model.config import HGRConfig
from hgr.model.matching import FrameStats, contrastive_loss, cosine, local_attentive_matching
from hgr.model.text import TextEmbedding, TextEncoder
from hgr.model.video import VideoEmbedding, VideoEncoder

if TYPE_CHECKING:
    from hgr.distributed import BatchPart

LEVELS = ("event", "action", "entity", "fused")


@dataclass
class Scores:
    """Similarities of a batch of videos (rows) and captions (columns) at each level, and their fusion."""
    event: torch.Tensor      # [Bv, Bc] s_e
    action: torch.Tensor     # [Bv, Bc] s_a
    entity: torch.Tensor     # [Bv, Bc] s_o
    fused: torch.Tensor      # [Bv, Bc] (s_e + s_a + s_o) / 3, Eq. 13
    action_alignment: torch.Tensor | None = None  # [Bv, Bc, num_verbs, F] phi of Eq. 12 (frame alignment)
    entity_alignment: torch.Tensor | None = None  # [Bv, Bc, num_nouns, F]

    def level(self, name: str) -> torch.Tensor:
        return getattr(self, name)


@dataclass
class VideoIndex:
    """Video side prepared for matching: what the searcher caches per collection and checkpoint."""
    event: torch.Tensor      # [Bv, D]
    actions: FrameStats
    entities: FrameStats

    @classmethod
    def of(cls, video: VideoEmbedding) -> VideoIndex:
        return cls(video.event, FrameStats.of(video.actions, video.frame_mask),
                   FrameStats.of(video.entities, video.frame_mask))

    def __getitem__(self, index) -> VideoIndex:
        return VideoIndex(self.event[index], self.actions[index], self.entities[index])

    def to(self, device=None, dtype=None) -> VideoIndex:
        return VideoIndex(self.event.to(device=device, dtype=dtype), self.actions.to(device, dtype),
                          self.entities.to(device, dtype))


class HGR(nn.Module):
    def __init__(self, cfg: HGRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.video_encoder = VideoEncoder(cfg)
        self.text_encoder = TextEncoder(cfg)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode_video(self, frames: torch.Tensor, lengths: torch.Tensor) -> VideoEmbedding:
        """frames [Bv, F, dim_fts] zero padded, lengths [Bv]."""
        return self.video_encoder(frames, lengths)

    def encode_text(self, captions) -> TextEmbedding:
        """captions: a `hgr.inputs.CaptionBatch`."""
        return self.text_encoder(captions.ids, captions.lengths, captions.verb_masks, captions.noun_masks,
                                 captions.node_roles, captions.edges)

    def score(self, video: VideoEmbedding | VideoIndex, text: TextEmbedding, alignment: bool = False) -> Scores:
        """Every video against every caption at the three levels, and fused (Eq. 12-13)."""
        index = video if isinstance(video, VideoIndex) else VideoIndex.of(video)
        event = cosine(index.event, text.event)
        if self.cfg.matching == "global":                        # VSE++ baseline: the global cosine alone
            zero = torch.zeros_like(event)
            return Scores(event, zero, zero, event)
        action, action_phi = local_attentive_matching(index.actions, text.actions, text.action_valid,
                                                      self.cfg.sigma, alignment, self.cfg.phrase_pooling)
        entity, entity_phi = local_attentive_matching(index.entities, text.entities, text.entity_valid,
                                                      self.cfg.sigma, alignment, self.cfg.phrase_pooling)
        fused = (event + action + entity) / 3
        return Scores(event, action, entity, fused, action_phi, entity_phi)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor, captions,
                same_video: torch.Tensor | None = None, negatives=None,
                negative_of: list[int] | None = None, part: BatchPart | None = None) -> torch.Tensor:
        """Training loss of a batch of paired (video i, caption i) (Eq. 14). `same_video` [B, B] bool marks pairs
        of one video; they are negatives unless `cfg.same_video_negatives` is False.

        Beyond the paper: `negatives` (a CaptionBatch, e.g. role-swapped captions) are extra captions, the k-th a
        negative of video `negative_of[k]` alone; each adds one hinge [margin + s(v, c') - s(v, c)]+, summed and
        divided by the batch size like Eq. 14's two terms.

        Data-parallel training (`hgr.distributed`): the inputs are this process's `part` of a global batch, the
        embeddings are gathered into the global batch's, and the loss is the global batch's; `same_video` is
        global, `negatives` and `negative_of` this process's.
        """
        video = self.encode_video(frames, lengths)
        text = self.encode_text(captions)
        batch_video, batch_text = (video, text) if part is None else (part.gather(video), part.gather(text))
        scores = self.score(batch_video, batch_text).fused                              # [B, B]
        loss = contrastive_loss(scores, self.cfg.margin, None if self.cfg.same_video_negatives else same_video)
        hinges = scores.new_zeros(0)                                                    # [k]
        if negatives is not None and negative_of:
            extra = self.score(video, self.encode_text(negatives)).fused                # [b, k]
            rows = torch.as_tensor(negative_of, device=extra.device)
            hard = extra[rows, torch.arange(len(negative_of), device=extra.device)]     # [k] s(v, c')
            positives = scores.diagonal()[rows + (part.rows.start if part else 0)]      # [k] s(v, c)
            hinges = (self.cfg.margin + hard - positives).clamp(min=0)
        if part is not None:
            hinges = part.gather_negatives(hinges)                                      # [K] every process's
        if len(hinges):
            loss = loss + hinges.sum() / scores.shape[0]
        return loss
