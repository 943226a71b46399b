"""Hierarchical textual encoding (paper section 3.1, Eq. 1-10; official RoleGraphEncoder, spec section 4).

Words -> bi-RNN (mean of both directions) -> event node by attention pooling, action/entity nodes by max
pooling over their words times a role embedding -> role-aware attention graph reasoning over
[event; actions; entities].
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
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


class RecurrentInference:
    """Inference only: a one-layer bidirectional nn.GRU / nn.LSTM over one unpadded sentence, [1, L, dim_word] ->
    [1, L, 2D], the values of `rnn(words)[0]` (to float rounding), without autograd or packing.

    A query at search time is one short sentence, and its cost is the recurrence's 2 x L hidden products with W_hh
    (W_hh: 12 MB a direction at the official dimensions). Here the input products of the whole sentence are one
    product a direction before the loop, and each step is one batched product of both directions' hidden states
    with W_hh^T stacked [2, D, G*D] (kept until the weights change; MKL runs it faster than two matrix-vector
    products in W_hh's own layout, benchmarks/search.py) and the gates of both directions at once (PyTorch's gate order:
    GRU r, z, n; LSTM i, f, g, o).
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._hidden_t = torch.empty(0)      # [2, D, G*D] W_hh^T of each direction
        self._hidden_bias = torch.empty(0)   # [2, 1, G*D]

    def _hidden_weights(self, rnn: nn.GRU | nn.LSTM) -> tuple[torch.Tensor, torch.Tensor]:
        params = [rnn.weight_hh_l0, rnn.weight_hh_l0_reverse, rnn.bias_hh_l0, rnn.bias_hh_l0_reverse]
        key = tuple((p.data_ptr(), p._version) for p in params)     # in-place updates and loads bump _version
        if key != self._key:
            self._hidden_t = torch.stack([params[0].T, params[1].T]).contiguous()
            self._hidden_bias = torch.stack(params[2:])[:, None]
            self._key = key
        return self._hidden_t, self._hidden_bias

    def __call__(self, rnn: nn.GRU | nn.LSTM, words: torch.Tensor) -> torch.Tensor:
        x = words[0]                                                            # [L, dim_word]
        length = x.shape[0]
        hidden_t, hidden_bias = self._hidden_weights(rnn)
        inputs = [torch.addmm(rnn.bias_ih_l0, x, rnn.weight_ih_l0.T),
                  torch.addmm(rnn.bias_ih_l0_reverse, x, rnn.weight_ih_l0_reverse.T).flip(0)]
        inputs = torch.stack(inputs, dim=1)                                     # [L, 2, G*D] step t of each
        hidden = x.new_zeros(2, 1, rnn.hidden_size)                             # [2, 1, D] h of each direction
        cell = x.new_zeros(2, rnn.hidden_size)                                  # [2, D] c (LSTM)
        states = x.new_empty(length, 2, rnn.hidden_size)
        for t in range(length):
            products = torch.baddbmm(hidden_bias, hidden, hidden_t)[:, 0]      # [2, G*D] W_hh h + b_hh
            if isinstance(rnn, nn.GRU):
                x_r, x_z, x_n = inputs[t].chunk(3, dim=1)
                h_r, h_z, h_n = products.chunk(3, dim=1)
                reset = torch.sigmoid(x_r + h_r)
                update = torch.sigmoid(x_z + h_z)
                new = torch.tanh(x_n + reset * h_n)
                state = new + update * (hidden[:, 0] - new)                    # (1 - z) n + z h
            else:
                i, f, g, o = (inputs[t] + products).chunk(4, dim=1)
                cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
                state = torch.sigmoid(o) * torch.tanh(cell)
            states[t] = state
            hidden = state[:, None]
        return torch.cat([states[:, 0], states[:, 1].flip(0)], dim=1)[None]     # [1, L, 2D]


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
        self.fast_rnn: RecurrentInference | None = RecurrentInference()  # one query, no autograd (None: never)
        self.ft_attn = nn.Linear(dim, 1)                            # W_e, Eq. 5
        self.role_embedding = nn.Embedding(cfg.num_roles, dim)      # W_r, Eq. 6
        self.gcn = nn.Module()
        self.gcn.layers = nn.ModuleList(
            GraphReasoningLayer(dim, cfg.gcn_attention, cfg.gcn_dropout) for _ in range(cfg.gcn_layers))

    def encode_words(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Contextual word vectors w_i (Eq. 1-3): [B, L] ids -> [B, L, D], zero beyond each length."""
        embeds = self.dropout(self.embedding(ids))                  # [B, L, dim_word]
        if (self.fast_rnn is not None and ids.shape[0] == 1 and ids.device.type == "cpu"
                and not (self.training or torch.is_grad_enabled())):
            length = int(lengths[0])                                # one query on the CPU: no padding to pack
            out = F.pad(self.fast_rnn(self.rnn, embeds[:, :length]), (0, 0, 0, ids.shape[1] - length))
        else:
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
