"""Hierarchical video encoding (paper section 3.2, Eq. 11; official MultilevelEncoder, spec section 4).

Three projections of the frame features: the event level is attention-pooled into one vector, the action
and entity levels stay frame sequences for local attentive matching.

Beyond the paper (its conclusion names spatio-temporal reasoning as future work): the 'spatiotemporal' encoder is
the paper's encoder plus a residual context branch. Each frame's global and region-cell features become a token
with a temporal position embedding; one pre-LN Transformer layer lets the frames attend to each other, so that
order and layout (who is left of whom, which way things move) are visible; a small-initialised projection per
level adds that context to the paper's three projections of the global feature (Eq. 11 + context). It starts next
to the paper's encoder and can only add to it; globally pooled frames alone cannot see order or layout.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hgr.model.config import NEG_INF, HGRConfig

CONTEXT_INIT_SCALE = 0.1   # the context projections start at a tenth of PyTorch's default initialisation


@dataclass
class VideoEmbedding:
    event: torch.Tensor            # [B, D] v_e
    actions: torch.Tensor          # [B, F, D] v_a (padded frames hold the bias; frame_mask says which are real)
    entities: torch.Tensor         # [B, F, D] v_o
    frame_mask: torch.Tensor       # [B, F] bool
    frame_attention: torch.Tensor  # [B, F] attention of the event vector over frames


class FrameContext(nn.Module):
    """Frame order and region layout -> one context vector per frame and level (the spatiotemporal branch)."""

    def __init__(self, cfg: HGRConfig, levels: int = 3) -> None:
        super().__init__()
        self.frame_tokens = nn.Linear(cfg.frame_dim, cfg.dim_embed)          # global + region cells -> token
        self.frame_position = nn.Embedding(cfg.max_frames, cfg.dim_embed)    # temporal position
        self.temporal = nn.TransformerEncoderLayer(cfg.dim_embed, nhead=4, dim_feedforward=2 * cfg.dim_embed,
                                                   dropout=cfg.video_dropout, batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(cfg.dim_embed)                              # final norm of a pre-LN stack
        self.levels = nn.ModuleList(nn.Linear(cfg.dim_embed, cfg.dim_embed) for _ in range(levels))
        with torch.no_grad():
            for proj in self.levels:
                proj.weight.mul_(CONTEXT_INIT_SCALE)
                proj.bias.zero_()

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> list[torch.Tensor]:
        # frames: [B, F, frame_dim]; frame_mask: [B, F] bool -> per level [B, F, D] (zero on padded frames)
        positions = torch.arange(frames.shape[1], device=frames.device)
        tokens = self.frame_tokens(frames) + self.frame_position(positions)[None]         # [B, F, D]
        context = self.norm(self.temporal(tokens, src_key_padding_mask=~frame_mask))     # [B, F, D]
        context = context.masked_fill(~frame_mask[..., None], 0)
        return [proj(context).masked_fill(~frame_mask[..., None], 0) for proj in self.levels]


class VideoEncoder(nn.Module):
    """Frame features -> event vector and action/entity frame sequences (official parameter names)."""

    def __init__(self, cfg: HGRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        num_projections = 1 if cfg.video_encoder == "shared" else 3
        self.level_embeds = nn.ModuleList(nn.Linear(cfg.dim_fts, cfg.dim_embed) for _ in range(num_projections))
        self.ft_attn = nn.Linear(cfg.dim_embed, 1)
        self.dropout = nn.Dropout(cfg.video_dropout)
        self.context = None
        if cfg.video_encoder == "spatiotemporal":
            # Initialised from its own random stream, so the paper's parameters (and the text encoder's after
            # them) start exactly as in the paper's model trained with the same seed.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(2 ** 62, ())))
                self.context = FrameContext(cfg, num_projections)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> VideoEmbedding:
        # frames: [B, F, frame_dim] (zero padded beyond lengths; the global feature first); lengths: [B]
        frame_mask = torch.arange(frames.shape[1], device=frames.device)[None] < lengths.to(frames.device)[:, None]
        levels = [proj(frames[..., :self.cfg.dim_fts]) for proj in self.level_embeds]   # each [B, F, D], Eq. 11
        if self.context is not None:                                           # + order and layout context
            levels = [level + context for level, context in zip(levels, self.context(frames, frame_mask))]
        levels = [self.dropout(level) for level in levels]
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
