"""CoNLL-2012 gold semantic roles: read sentences, their verbal predicates and argument spans.

Columns: doc, part, word index, word, POS, parse bit, lemma, frameset id, then one bracketed argument column per
predicate (`(ARG0*`, `*`, `*)`, `(V*)`), in the order of the predicates (rows whose frameset id is not `-`).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

from hgr.errors import ParseError


@dataclass
class GoldPredicate:
    """One annotated predicate: its token index, POS and argument spans (start, end inclusive, role)."""

    index: int
    pos: str
    lemma: str
    arguments: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def is_verbal(self) -> bool:
        return self.pos.startswith("VB")


@dataclass
class GoldSentence:
    words: list[str]
    pos: list[str]
    predicates: list[GoldPredicate]
    complete: bool = True       # every predicate annotated (CoNLL); False: only some (frame-file examples)


def _spans_from_brackets(column: list[str]) -> list[tuple[int, int, str]]:
    """`(ARG0*`, `*`, `*)` -> [(start, end, 'ARG0')]; nested brackets do not occur in SRL columns."""
    spans, open_role, start = [], None, 0
    for i, cell in enumerate(column):
        if cell.startswith("("):
            open_role, start = cell[1:].split("*")[0], i
        if cell.endswith(")"):
            if open_role is None:
                raise ParseError(f"unbalanced SRL bracket at token {i}: {column}")
            spans.append((start, i, open_role))
            open_role = None
    return spans


def read_conll(path: str | Path) -> list[GoldSentence]:
    """Read a `.gold_conll` (or `.gold_conll.gz`) file into sentences with all their predicates."""
    path = Path(path)
    if not path.exists():
        raise ParseError(f"gold file not found: {path} (expected CoNLL-2012 columns; gunzip .gz copies to /tmp)")
    opener = gzip.open if path.suffix == ".gz" else open
    sentences, rows = [], []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                continue
            if not line:
                if rows:
                    sentences.append(_sentence(rows, path))
                rows = []
                continue
            rows.append(line.split())
    if rows:
        sentences.append(_sentence(rows, path))
    return sentences


def _sentence(rows: list[list[str]], path: Path) -> GoldSentence:
    words = [r[3] for r in rows]
    pos = [r[4] for r in rows]
    pred_rows = [i for i, r in enumerate(rows) if len(r) > 7 and r[7] != "-"]
    n_cols = len(rows[0]) - 8
    if n_cols != len(pred_rows) or any(len(r) != len(rows[0]) for r in rows):
        raise ParseError(f"{path}: sentence {' '.join(words[:8])}... has {len(pred_rows)} predicates "
                         f"but {n_cols} argument columns")
    predicates = []
    for k, i in enumerate(pred_rows):
        spans = _spans_from_brackets([r[8 + k] for r in rows])
        args = [s for s in spans if s[2] != "V"]
        predicates.append(GoldPredicate(index=i, pos=pos[i], lemma=rows[i][6], arguments=args))
    return GoldSentence(words=words, pos=pos, predicates=predicates)
