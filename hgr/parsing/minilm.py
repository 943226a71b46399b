"""The SRL tagger's encoder, all-MiniLM-L6-v2 (a BERT: 6 layers, 384 wide, 12 heads), in plain torch.

    encoder = BertEncoder.load(folder)              # the package's config.json and model.safetensors
    pieces = WordPieces.load(folder)                # its tokenizer.json, through the `tokenizers` library
    ids, attention, word_ids = pieces([["a", "dog", "runs"]], max_length=256)
    hidden = encoder(ids, attention)                # [B, L, 384], the last layer

The same arithmetic as transformers' BertModel (post-norm layers, exact GELU, additive padding mask) and the same
parameter names, so the shipped tagger's tuned layers load as they were saved; tests/test_minilm.py checks it
against transformers' BertModel and BertTokenizerFast. It exists for start-up time: importing transformers' BERT
pulls in torch.distributed, dynamo and scipy, about 3 s of the 5.8 s that `hgr parse "..."` took on this CPU.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class BertConfig:
    """The fields of a BERT config.json this encoder reads."""
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_dropout_prob: float
    attention_probs_dropout_prob: float
    hidden_act: str = "gelu"
    position_embedding_type: str = "absolute"

    @classmethod
    def read(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text())
        cfg = cls(**{name: raw[name] for name in cls.__dataclass_fields__ if name in raw})
        if cfg.hidden_act != "gelu" or cfg.position_embedding_type != "absolute":
            raise ValueError(f"{path}: this encoder runs BERT with exact GELU and absolute positions, not "
                             f"{cfg.hidden_act!r} / {cfg.position_embedding_type!r}")
        return cfg


class Embeddings(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(types) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))                                     # [B, L, H]


class SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.dropout_p = cfg.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, length, width = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:                               # [B, L, H] -> [B, heads, L, H/heads]
            return t.view(b, length, self.heads, width // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)),
                                             attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, length, width)


class Projection(nn.Module):
    """A dense layer, dropout, and the residual's layer norm (BERT's 'output' blocks)."""

    def __init__(self, width_in: int, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(width_in, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.self = SelfAttention(cfg)
        self.output = Projection(cfg.hidden_size, cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.intermediate = Intermediate(cfg)
        self.output = Projection(cfg.intermediate_size, cfg)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention(x, attention_mask)
        return self.output(self.intermediate(x), x)


class Layers(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))


class BertEncoder(nn.Module):
    """BERT without its pooler: word pieces -> the last layer's states."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.encoder = Layers(cfg)

    @classmethod
    def load(cls, folder: Path) -> BertEncoder:
        """config.json and model.safetensors of a BERT folder (its pooler, if any, is not read)."""
        from safetensors.torch import load_file

        model = cls(BertConfig.read(folder / "config.json"))
        weights = {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()
                   if not k.removeprefix("bert.").startswith(("pooler.", "embeddings.position_ids"))}
        model.load_state_dict(weights, strict=True)
        return model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.embeddings(input_ids)
        mask = padding_mask(attention_mask, hidden.dtype)
        for layer in self.encoder.layer:
            hidden = layer(hidden, attention_mask=mask)
        return hidden                                                              # [B, L, H]


def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """[B, L] of 1 (a piece) / 0 (padding) -> the additive mask [B, 1, 1, L] every layer takes; None without padding."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    keep = attention_mask[:, None, None, :].bool()
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, torch.finfo(dtype).min)


class WordPieces:
    """The encoder's WordPiece tokenizer (its tokenizer.json) for sentences already split into words."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def load(cls, folder: Path) -> WordPieces:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(folder / "tokenizer.json")))

    def __call__(self, sentences: Sequence[Sequence[str]], max_length: int
                 ) -> tuple[torch.Tensor, torch.Tensor, list[list[int | None]]]:
        """Word lists -> (piece ids [B, L], attention mask [B, L], each piece's word index or None), [CLS] and
        [SEP] around each sentence, cut to `max_length` pieces, padded to the longest."""
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        out = self.tokenizer.encode_batch([list(words) for words in sentences], is_pretokenized=True)
        return (torch.tensor([e.ids for e in out], dtype=torch.long),
                torch.tensor([e.attention_mask for e in out], dtype=torch.long), [e.word_ids for e in out])
