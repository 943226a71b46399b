"""Training sentences from PropBank frame-file examples (`hgr srl-train --frames`), and how training uses them.

tests/data/propbank_frames/circle.xml is written in the frame files' format with sentences of our own.
"""
from pathlib import Path

import pytest
import torch

from hgr.errors import ParseError
from hgr.parsing.propbank_frames import read_frame_examples

FRAMES = Path(__file__).parent / "data" / "propbank_frames"


def _examples():
    logged = []
    sentences = read_frame_examples(FRAMES, log=logged.append)
    return sentences, logged


def test_verbal_examples_become_one_predicate_gold_sentences():
    sentences, _ = _examples()
    got = {" ".join(s.words): [(" ".join(s.words[a:b + 1]), r) for a, b, r in s.predicates[0].arguments]
           for s in sentences}
    assert got == {
        "A small plane circled slowly around the tower .":
            [("A small plane", "ARG0"), ("slowly", "ARGM-MNR"), ("around the tower", "ARGM-PRP")],   # PNC -> PRP
        "The dog has circled the yard twice .": [("The dog", "ARG0"), ("the yard", "ARGM-LOC")],
        "A stone wall circles the old town .": [("A stone wall", "ARG1"), ("the old town", "ARG2")],
    }
    dog = next(s for s in sentences if s.words[1] == "dog")
    assert dog.predicates[0].index == 3 and dog.predicates[0].lemma == "circle"     # "has circled": the verb
    assert all(not s.complete and s.predicates[0].is_verbal for s in sentences)


def test_traces_unplaced_core_roles_nominals_and_overlaps_are_left_out_and_broken_files_named():
    sentences, logged = _examples()
    texts = {" ".join(s.words) for s in sentences}
    assert not any("hawk" in t or "Circled" in t or "circling" in t or "shore" in t for t in texts)
    assert any("broken.xml" in line and "not well-formed" in line for line in logged)
    assert any(line.startswith("3 verbal example sentences from 1 frame files") for line in logged)


def test_a_folder_without_frame_files_is_a_clear_error(tmp_path):
    with pytest.raises(ParseError, match="no frame files"):
        read_frame_examples(tmp_path)


def test_frame_examples_train_argument_tags_but_never_predicate_finding():
    """Their other verbs are unannotated: a batch of frame examples gives the predicate head no gradient, while a
    CoNLL sentence (every predicate annotated) does."""
    from hgr.parsing.conll import GoldPredicate, GoldSentence
    from hgr.parsing.transformer_srl import DEFAULT_TRANSFORMER_WEIGHTS, TransformerSRL
    from hgr.parsing.transformer_train import caption_form, step_loss

    backend = TransformerSRL.load(DEFAULT_TRANSFORMER_WEIGHTS, device="cpu")
    model, tag_id = backend.model, {t: i for i, t in enumerate(backend.model.cfg.tags)}
    sentences, _ = _examples()
    assert caption_form(sentences[0]).complete is False

    def grads(batch):
        model.zero_grad()
        step_loss(model, backend.tokenizer, batch, tag_id, torch.device("cpu")).backward()
        return model.predicate.weight.grad, model.tagger.weight.grad

    predicate, tags = grads(sentences)
    assert (predicate is None or not predicate.any()) and tags.abs().sum() > 0
    conll = GoldSentence(["a", "dog", "runs"], ["DT", "NN", "VBZ"], [GoldPredicate(2, "VBZ", "run", [(0, 1, "ARG0")])])
    predicate, _ = grads([conll])
    assert predicate.abs().sum() > 0
