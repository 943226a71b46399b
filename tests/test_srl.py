"""CoNLL-2012 reading and srl-eval scoring (exact span match, verbal predicates, V not scored)."""
import re

import pytest

from hgr.parsing.backend import SpacySRL, SRLBackend, frame_tags
from hgr.parsing.conll import read_conll
from hgr.parsing.srl_eval import evaluate, format_report

# "The dog chased the cat in the garden ." with chased (VBD) and a nominal predicate garden (NN, not scored)
CONLL = """\
d 0 0 The DT (TOP(S(NP* - - (ARG0* *
d 0 1 dog NN *) - - *) *
d 0 2 chased VBD (VP* chase chase.01 (V*) *
d 0 3 the DT (NP* - - (ARG1* *
d 0 4 cat NN *) - - *) *
d 0 5 in IN (PP* - - (ARGM-LOC* *
d 0 6 the DT (NP* - - * *
d 0 7 garden NN *)) garden garden.01 *) (V*)
d 0 8 . . *)) - - * *

d 0 0 Birds NNS (TOP(S(NP*) - - (ARG0*)
d 0 1 sing VBP (VP*) sing sing.01 (V*)
"""


def write_gold(tmp_path):
    path = tmp_path / "tiny.gold_conll"
    path.write_text(CONLL.replace(" ", "  "))
    return path


class FixedBackend:
    """An SRLBackend returning preset frames: one right, one wrong argument, the second sentence missed."""

    def predict(self, sentences):
        words = list(sentences[0])
        first = {"words": words, "verbs": [{"verb": "chased", "description": "",
                                            "tags": frame_tags(len(words), 2, [(0, 1, "ARG0"), (3, 4, "ARG2")])}]}
        return [first, {"words": list(sentences[1]), "verbs": []}]


def test_read_conll(tmp_path):
    sents = read_conll(write_gold(tmp_path))
    assert [len(s.words) for s in sents] == [9, 2]
    chased, garden = sents[0].predicates
    assert chased.is_verbal and not garden.is_verbal
    assert chased.arguments == [(0, 1, "ARG0"), (3, 4, "ARG1"), (5, 7, "ARGM-LOC")]


def test_scores_exact_spans_and_missed_predicates(tmp_path):
    assert isinstance(FixedBackend(), SRLBackend)
    scores = evaluate(write_gold(tmp_path), FixedBackend())
    assert scores.predicates == 2 and scores.missed_predicates == 1
    assert sum(scores.gold.values()) == 4 and sum(scores.predicted.values()) == 2
    assert sum(scores.correct.values()) == 1
    p, r, f1 = scores.overall
    assert (p, r) == (0.5, 0.25) and abs(f1 - 1 / 3) < 1e-9
    assert format_report(scores).splitlines()[-1] == "F1 33.33"


@pytest.mark.parametrize("backend", ["transformer", "spacy"])
def test_cli_srl_eval_runs_the_parser_on_gold_tokens(tmp_path, capsys, backend):
    """Each backend finds both verbal predicates and labels the plain sentences' arguments (4 in all) nearly all
    right: the last line is the F1, and a parser that labelled nothing would print F1 0.00."""
    from hgr.cli import main
    assert main(["srl-eval", str(write_gold(tmp_path)), "--backend", backend]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"F1 \d+\.\d\d", last)
    assert float(last.split()[1]) >= 75, f"{backend}: {last} on two plain sentences"


def test_parser_labels_the_gold_sentence():
    out = SpacySRL().predict([["The", "dog", "chased", "the", "cat", "in", "the", "garden", "."]])[0]
    frame = next(f for f in out["verbs"] if f["verb"] == "chased")
    assert frame["tags"][:5] == ["B-ARG0", "I-ARG0", "B-V", "B-ARG1", "I-ARG1"]
