"""hgr.parsing.minilm, the SRL parser's encoder in plain torch, against transformers' BertModel and BertTokenizerFast
on the package's all-MiniLM-L6-v2 files: the same word pieces, the same states, the same parameter names (the
shipped tagger's tuned layers load into it), and `hgr parse` no longer imports transformers."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from hgr.parsing.minilm import BertEncoder, WordPieces
from hgr.parsing.transformer_srl import MAX_PIECES, encoder_dir

SENTENCES = [
    ["a", "dog", "chases", "a", "cat"],
    ["A", "Woman", "with", "a", "grey", "coat", "points", "towards", "a", "woman", "."],
    ["a", "\u200b", "zebra-crossing", "runs"],                  # the zero-width space has no word piece
    ["Crème", "brûlée", "is", "served", "at", "the", "café", "東京"],
    ["unbelievably", "xyzzyplorbing", "C3PO", "don't", "U.S.", "$5,000"],
    ["word"] * (MAX_PIECES + 20),                                # cut at MAX_PIECES pieces
]


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    folder = str(encoder_dir())
    return (transformers.BertModel.from_pretrained(folder, add_pooling_layer=False, local_files_only=True).eval(),
            transformers.BertTokenizerFast.from_pretrained(folder, local_files_only=True))


def test_the_word_pieces_are_transformers_word_pieces(reference):
    _, tokenizer = reference
    ids, attention, word_ids = WordPieces.load(encoder_dir())(SENTENCES, max_length=MAX_PIECES)
    expected = tokenizer(SENTENCES, is_split_into_words=True, truncation=True, max_length=MAX_PIECES, padding=True,
                         return_tensors="pt")
    assert torch.equal(ids, expected["input_ids"]) and torch.equal(attention, expected["attention_mask"])
    assert word_ids == [expected.word_ids(b) for b in range(len(SENTENCES))]
    assert ids.shape[1] == MAX_PIECES and int(attention[0].sum()) == 7          # [CLS] 5 words [SEP], padded


def test_the_states_are_bertmodels_states(reference):
    model, _ = reference
    encoder = BertEncoder.load(encoder_dir()).eval()
    ids, attention, _ = WordPieces.load(encoder_dir())(SENTENCES, max_length=MAX_PIECES)
    with torch.no_grad():
        ours = encoder(ids, attention)
        theirs = model(input_ids=ids, attention_mask=attention).last_hidden_state
        alone = encoder(ids[:1, :7], attention[:1, :7])                           # no padding: no mask at all
    real = attention.bool()
    assert (ours[real] - theirs[real]).abs().max() < 1e-5
    assert (alone[0] - theirs[0, :7]).abs().max() < 1e-5


def test_the_parameters_are_named_as_in_bertmodel(reference):
    model, _ = reference
    ours = set(BertEncoder.load(encoder_dir()).state_dict())
    theirs = {k for k in model.state_dict() if not k.endswith(("position_ids", "token_type_ids"))}
    assert ours == theirs


def test_dropout_acts_only_in_training():
    encoder = BertEncoder.load(encoder_dir())
    ids, attention, _ = WordPieces.load(encoder_dir())(SENTENCES[:2], max_length=MAX_PIECES)
    torch.manual_seed(0)
    encoder.train()
    assert not torch.allclose(encoder(ids, attention), encoder(ids, attention))
    encoder.eval()
    with torch.no_grad():
        assert torch.equal(encoder(ids, attention), encoder(ids, attention))


def test_hgr_parse_does_not_import_transformers():
    code = ("import sys; from hgr.cli import main; main(['parse', 'a dog chases a cat']); "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False" and "chases" in out
