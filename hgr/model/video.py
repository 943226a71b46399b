"""Hierarchical video encoding (paper section 3.2, Eq. 11; official MultilevelEncoder, spec section 4).

Three projections of the frame features: the event level is attention-pooled into one vector, the action
and entity levels stay frame sequences for local attentive matching.

Beyond the paper (its conclusion names spatio-temporal reasoning as future work): the 'spatiotemporal' encoder
first turns each frame's global and region-cell features into a token with a temporal position embedding and
lets the frames attend to each other (one Transformer layer), so that order and layout (who is left of whom,
which way things move) reach the three levels. Globally pooled frames alone cannot see either.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hgr.model.config import HGRConfig

NEG_INF = -1e18


@dataclass
class VideoEmbedding:
    event: torch.Tensor            # [B, D] v_e
    actions: torch.Tensor          # [B, F, D] v_a (padded frames hold the bias; frame_mask says which are real)
    entities: torch.Tensor         # [B, F, D] v_o
    frame_mask: torch.Tensor       # [B, F] bool
    frame_attention: torch.Tensor  # [B, F] attention of the event vector over frames


class VideoEncoder(nn.Module):
    """Frame features -> event vector and action/entity frame sequences (official parameter names)."""

    def __init__(self, cfg: HGRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        num_projections = 1 if cfg.video_encoder == "shared" else 3
        level_in = cfg.dim_fts
        if cfg.video_encoder == "spatiotemporal":
            self.frame_tokens = nn.Linear(cfg.frame_dim, cfg.dim_embed)
            self.frame_position = nn.Embedding(cfg.max_frames, cfg.dim_embed)
            self.temporal = nn.TransformerEncoderLayer(cfg.dim_embed, nhead=4, dim_feedforward=2 * cfg.dim_embed,
                                                       dropout=cfg.video_dropout, batch_first=True)
            level_in = cfg.dim_embed
        self.level_embeds = nn.ModuleList(nn.Linear(level_in, cfg.dim_embed) for _ in range(num_projections))
        self.ft_attn = nn.Linear(cfg.dim_embed, 1)
        self.dropout = nn.Dropout(cfg.video_dropout)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> VideoEmbedding:
        # frames: [B, F, frame_dim] (zero padded beyond lengths); lengths: [B]
        frame_mask = torch.arange(frames.shape[1], device=frames.device)[None] < lengths.to(frames.device)[:, None]
        if self.cfg.video_encoder == "spatiotemporal":
            positions = torch.arange(frames.shape[1], device=frames.device)
            tokens = self.frame_tokens(frames) + self.frame_position(positions)[None]       # [B, F, D]
            frames = self.temporal(tokens, src_key_padding_mask=~frame_mask).masked_fill(~frame_mask[..., None], 0)
        levels = [self.dropout(proj(frames)) for proj in self.level_embeds]   # each [B, F, D], Eq. 11
        if len(levels) == 1:
            levels = levels * 3
        if self.cfg.matching == "global":                                      # VSE++: mean over frames
            weights = frame_mask / frame_mask.sum(1, keepdim=True).clamp(min=1)
        else:
            attn = self.ft_attn(levels[0]).squeeze(2).masked_fill(~frame_mask, NEG_INF)
            weights = torch.softmax(attn, dim=1)                               # [B, F]
        event = torch.einsum("bf,bfd->bd", weights, levels[0])
        return VideoEmbedding(event=event, actions=levels[1], entities=levels[2],
                              frame_mask=frame_mask, frame_attention=weights)
