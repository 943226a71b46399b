"""`hgr srl-eval GOLD.gold_conll`: score the parser on CoNLL-2012 gold, verbal predicates only.

Like the standard srl-eval script: an argument counts when its span and role match exactly; V is not scored.
The parser gets the gold tokens as given (no normalisation). A predicted frame is matched to a gold predicate by
the verb's token index; a gold predicate without a predicted frame counts all its arguments as missed.
"""
from __future__ import annotations

import argparse
import collections
from dataclasses import dataclass, field
from pathlib import Path

from hgr.parsing.backend import BACKENDS, DEFAULT_BACKEND
from hgr.parsing.conll import GoldSentence, read_conll
from hgr.parsing.frames import frame_arguments


@dataclass
class SRLScores:
    """Per-role counts of correct, predicted and gold arguments."""

    correct: collections.Counter = field(default_factory=collections.Counter)
    predicted: collections.Counter = field(default_factory=collections.Counter)
    gold: collections.Counter = field(default_factory=collections.Counter)
    predicates: int = 0
    missed_predicates: int = 0

    @staticmethod
    def prf(c: int, p: int, g: int) -> tuple[float, float, float]:
        prec = c / p if p else 0.0
        rec = c / g if g else 0.0
        return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)

    @property
    def overall(self) -> tuple[float, float, float]:
        return self.prf(sum(self.correct.values()), sum(self.predicted.values()), sum(self.gold.values()))


def frame_spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """BIO tags -> {(start, end inclusive, role)} without V."""
    out = set()
    for name, idx in frame_arguments(tags).items():
        role = name.rsplit(":", 1)[0]
        if role != "V":
            out.add((idx[0], idx[-1], role))
    return out


def evaluate(gold_path: str | Path, backend=None, limit: int | None = None) -> SRLScores:
    """Run `backend` (an SRLBackend; default: the default parser's) on the gold tokens; per-role matches."""
    if backend is None:
        from hgr.parsing.backend import make_backend
        backend = make_backend()
    return score_sentences(read_conll(gold_path)[:limit], backend)


def score_sentences(sentences: list[GoldSentence], backend) -> SRLScores:
    """Per-role matches of `backend`'s frames against the gold sentences' verbal predicates."""
    outputs = backend.predict([s.words for s in sentences])
    scores = SRLScores()
    for sent, out in zip(sentences, outputs):
        by_verb = {}
        for frame in out["verbs"]:
            if "B-V" in frame["tags"]:
                by_verb[frame["tags"].index("B-V")] = frame_spans(frame["tags"])
        for gp in sent.predicates:
            if not gp.is_verbal:
                continue
            scores.predicates += 1
            gold = {(a, b, r) for a, b, r in gp.arguments if r != "V"}
            pred = by_verb.get(gp.index)
            if pred is None:
                scores.missed_predicates += 1
                pred = set()
            scores.gold.update(r for _, _, r in gold)
            scores.predicted.update(r for _, _, r in pred)
            scores.correct.update(r for _, _, r in gold & pred)
    return scores


def format_report(scores: SRLScores) -> str:
    lines = [f"{'role':<14}{'corr':>7}{'pred':>7}{'gold':>7}{'P':>8}{'R':>8}{'F1':>8}"]
    for role in sorted(set(scores.gold) | set(scores.predicted), key=lambda r: -scores.gold[r]):
        c, p, g = scores.correct[role], scores.predicted[role], scores.gold[role]
        prec, rec, f1 = scores.prf(c, p, g)
        lines.append(f"{role:<14}{c:>7}{p:>7}{g:>7}{100 * prec:>8.2f}{100 * rec:>8.2f}{100 * f1:>8.2f}")
    prec, rec, f1 = scores.overall
    c, p, g = (sum(x.values()) for x in (scores.correct, scores.predicted, scores.gold))
    lines.append(f"{'overall':<14}{c:>7}{p:>7}{g:>7}{100 * prec:>8.2f}{100 * rec:>8.2f}{100 * f1:>8.2f}")
    lines.append(f"verbal predicates {scores.predicates}, without a predicted frame {scores.missed_predicates}")
    lines.append(f"F1 {100 * f1:.2f}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gold", help="CoNLL-2012 gold file (.gold_conll or .gz); tokens are used as given")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help=f"which parser to score (default {DEFAULT_BACKEND})")
    parser.add_argument("--weights", default=None, help="the backend's weights file (default: the shipped one)")
    parser.add_argument("--rules", action="store_true", help="spaCy backend with the hand-written role rules")
    parser.add_argument("--caption-form", action="store_true",
                        help="score the gold sentences as captions reach the parser (normalize_caption per token)")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences only")
    from hgr.parsing.backend import PRECISIONS
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="transformer: float32 (as shipped graphs are parsed) or bfloat16 autocast")


def main(args: argparse.Namespace) -> int:
    from hgr.parsing.backend import make_backend
    backend = make_backend("spacy" if args.rules else args.backend, weights=args.weights, rules=args.rules,
                           precision=args.precision)
    sentences = read_conll(args.gold)[:args.limit]
    if args.caption_form:
        from hgr.parsing.transformer_train import caption_form
        sentences = [caption_form(s) for s in sentences]
    print(format_report(score_sentences(sentences, backend)))
    return 0
