"""Issue 18, single-query speed: the inference-only recurrence (`RecurrentInference`) gives nn.GRU's and nn.LSTM's
states in both directions (1e-6) at the official and paper configurations, serves one query under no_grad in eval
mode only, and follows the weights when they change."""
from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from hgr.inputs import caption_inputs, collate_captions
from hgr.model import HGR, preset
from hgr.model.text import RecurrentInference
from hgr.vocab import Vocabulary

SENTENCES = ["a", "a dog is chasing a cat across the snowy field",
             " ".join(["the man walks the dog past the tall tree"] * 4)]   # 1, 10 and 36 words (30 kept)


@pytest.mark.parametrize("name", ["official", "paper"])                   # bi-GRU 300 -> 1024, bi-LSTM
def test_states_equal_the_torch_layer_in_both_directions(name):
    torch.manual_seed(0)
    vocab = Vocabulary.build(SENTENCES)
    model = HGR(preset(name, num_words=len(vocab))).eval()
    rnn = model.text_encoder.rnn
    fast = RecurrentInference()
    with torch.no_grad():
        for sentence in SENTENCES:
            words = model.text_encoder.embedding(collate_captions([caption_inputs(sentence, [{}, []], vocab,
                                                                                  model.cfg)]).ids)
            expected = rnn(words)[0]                                       # [1, L, 2D]: forward, then backward
            got = fast(rnn, words)
            assert got.shape == expected.shape
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
            assert not torch.equal(expected[..., :rnn.hidden_size], expected[..., rnn.hidden_size:])


def test_one_query_takes_the_fast_path_only_without_autograd_and_follows_the_weights(monkeypatch):
    torch.manual_seed(0)
    vocab = Vocabulary.build(SENTENCES)
    model = HGR(preset("official", num_words=len(vocab), dim_embed=64, dim_word=16)).eval()
    encoder = model.text_encoder
    calls = []
    fast = encoder.fast_rnn
    monkeypatch.setattr(encoder, "fast_rnn", lambda rnn, words: calls.append(words.shape) or fast(rnn, words))
    one = collate_captions([caption_inputs(SENTENCES[1], [{}, []], vocab, model.cfg)])
    two = collate_captions([caption_inputs(s, [{}, []], vocab, model.cfg) for s in SENTENCES[:2]])

    def packed(batch):                                                     # the training path, by hand
        words = encoder.embedding(batch.ids)
        out, _ = encoder.rnn(pack_padded_sequence(words, batch.lengths, batch_first=True, enforce_sorted=False))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=batch.ids.shape[1])
        forward, backward = out.chunk(2, dim=2)
        return (forward + backward) / 2

    with torch.no_grad():
        torch.testing.assert_close(encoder.encode_words(one.ids, one.lengths), packed(one), rtol=0, atol=1e-6)
        assert calls == [(1, 10, 16)]
        encoder.encode_words(two.ids, two.lengths)                         # a batch: packed
        with torch.no_grad():
            encoder.rnn.weight_hh_l0.mul_(0.5)                             # weights change in place (a step)
        torch.testing.assert_close(encoder.encode_words(one.ids, one.lengths), packed(one), rtol=0, atol=1e-6)
    assert len(calls) == 2
    assert encoder.encode_words(one.ids, one.lengths).requires_grad      # autograd on: packed, differentiable
    model.train()
    with torch.no_grad():
        encoder.encode_words(one.ids, one.lengths)                         # training mode (dropout): packed
    assert len(calls) == 2
