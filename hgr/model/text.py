"""Hierarchical textual encoding (paper section 3.1, Eq. 1-10; official RoleGraphEncoder, spec section 4).

Words -> bi-RNN (mean of both directions) -> event node by attention pooling, action/entity nodes by max
pooling over their words times a role embedding -> role-aware attention graph reasoning over
[event; actions; entities].
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from hgr.model.config import NEG_INF, HGRConfig


@dataclass
class TextEmbedding:
    """Text side of the joint space, with what the demo shows about how it was computed."""
    event: torch.Tensor            # [B, D] c_e
    actions: torch.Tensor          # [B, num_verbs, D] c_a
    entities: torch.Tensor         # [B, num_nouns, D] c_o
    action_valid: torch.Tensor     # [B, num_verbs] bool: slot holds a real action node
    entity_valid: torch.Tensor     # [B, num_nouns] bool
    word_attention: torch.Tensor   # [B, L] alpha_e of Eq. 5
    graph_attention: list[torch.Tensor] = field(default_factory=list)  # per layer [B, N, N], row = receiving node


class WordEmbedding(nn.Module):
    """nn.Embedding under the official name `embedding.we` so official checkpoints load as they are."""

    def __init__(self, num_words: int, dim_word: int) -> None:
        super().__init__()
        self.we = nn.Embedding(num_words, dim_word)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.we(ids)


class GraphReasoningLayer(nn.Module):
    """One attention-based graph reasoning layer (Eq. 7-9), followed by LayerNorm as in the official code.

    With attention off (ablation) the context is the row-normalised mean over neighbours.
    """

    def __init__(self, dim: int, attention: bool = True, dropout: float = 0.5) -> None:
        super().__init__()
        self.attention = attention
        self.ctx_layer = nn.Linear(dim, dim, bias=False)            # W_t
        self.layernorm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        if attention:
            d_ff = dim // 2
            self.edge_attn_query = nn.Linear(dim, d_ff)             # W_a^q
            self.edge_attn_key = nn.Linear(dim, d_ff)               # W_a^k
            self.scale = 1.0 / math.sqrt(d_ff)

    def forward(self, nodes: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # nodes: [B, N, D]; edges: [B, N, N] rel[target, source], row-normalised
        if self.attention:
            scores = torch.einsum("btd,bsd->bts", self.edge_attn_query(nodes), self.edge_attn_key(nodes))
            scores = (scores * self.scale).masked_fill(edges == 0, NEG_INF)
            weights = torch.softmax(scores, dim=2).masked_fill(edges == 0, 0)  # beta_ij, Eq. 8
        else:
            weights = edges
        context = self.ctx_layer(torch.bmm(weights, nodes))       # W_t sum_j beta_ij g_j, Eq. 9
        return self.layernorm(nodes + self.dropout(context)), weights


class TextEncoder(nn.Module):
    """Role graph + words -> event, action and entity embeddings (official parameter names)."""

    def __init__(self, cfg: HGRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.dim_embed
        self.embedding = WordEmbedding(cfg.num_words, cfg.dim_word)
        self.dropout = nn.Dropout(cfg.text_dropout)
        rnn = nn.GRU if cfg.rnn_type == "gru" else nn.LSTM
        self.rnn = rnn(cfg.dim_word, dim, num_layers=1, bidirectional=True, batch_first=True)
        self.ft_attn = nn.Linear(dim, 1)                            # W_e, Eq. 5
        self.role_embedding = nn.Embedding(cfg.num_roles, dim)      # W_r, Eq. 6
        self.gcn = nn.Module()
        self.gcn.layers = nn.ModuleList(
            GraphReasoningLayer(dim, cfg.gcn_attention, cfg.gcn_dropout) for _ in range(cfg.gcn_layers))

    def encode_words(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Contextual word vectors w_i (Eq. 1-3): [B, L] ids -> [B, L, D], zero beyond each length."""
        embeds = self.dropout(self.embedding(ids))                  # [B, L, dim_word]
        packed = pack_padded_sequence(embeds, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])  # [B, L, 2D]
        forward, backward = out.chunk(2, dim=2)
        return (forward + backward) / 2

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, verb_masks: torch.Tensor,
                noun_masks: torch.Tensor, node_roles: torch.Tensor, edges: torch.Tensor) -> TextEmbedding:
        # ids: [B, L]; lengths: [B]; verb_masks: [B, V, L]; noun_masks: [B, O, L]; node_roles: [B, V+O];
        # edges: [B, N, N] with N = 1 + V + O
        words = self.encode_words(ids, lengths)                     # [B, L, D]
        word_mask = torch.arange(ids.shape[1], device=ids.device)[None] < lengths.to(ids.device)[:, None]
        if self.cfg.matching == "global":                           # VSE++: mean of the word states
            alpha = word_mask / word_mask.sum(1, keepdim=True).clamp(min=1)
        else:
            attn = self.ft_attn(words).squeeze(2).masked_fill(~word_mask, NEG_INF)
            alpha = torch.softmax(attn, dim=1)                      # [B, L], Eq. 5
        event = torch.einsum("bl,bld->bd", alpha, words)            # g_e, Eq. 4

        phrase_masks = torch.cat([verb_masks, noun_masks], dim=1)   # [B, V+O, L]
        phrases = words.unsqueeze(1).masked_fill(~phrase_masks.unsqueeze(3), -1e10).max(dim=2).values
        if self.cfg.role_aware:
            phrases = phrases * self.role_embedding(node_roles)     # g_i^0 = g_i * W_r r_ij, Eq. 6
        nodes = torch.cat([event.unsqueeze(1), phrases], dim=1)     # [B, N, D]

        attention = []
        for layer in self.gcn.layers:
            nodes, weights = layer(nodes, edges)
            attention.append(weights)

        num_verbs = verb_masks.shape[1]
        return TextEmbedding(
            event=nodes[:, 0],
            actions=nodes[:, 1:1 + num_verbs],
            entities=nodes[:, 1 + num_verbs:],
            action_valid=verb_masks.any(dim=2),
            entity_valid=noun_masks.any(dim=2),
            word_attention=alpha,
            graph_attention=attention,
        )
