"""Filler swaps for SRL training: a participant's words replaced by another noun phrase of the training data.

    pool = filler_pool(sentences)                  # simple noun phrases that are some verb's ARG0, ARG1 or ARG2
    seen = swap_filler(sentence, pool, rng)        # a copy with one such argument replaced, labels kept

Why: EWT's agents are mostly people, and the tagger learned who fills a role as much as where it stands: "a young
bike rider bumps into a ginger kitten" got ARG0 for the rider, "a ginger kitten bumps into a young bike rider" ARG1
for the kitten. PropBank numbers a verb's roles by the verb and the clause, not by the filler (bump.01: "[ARG0 You]
bump [ARG1 into the same people]"), so a sentence with one plain noun phrase argument exchanged for another keeps
every label, and training on such copies weakens the tie between a role and the kind of thing that usually fills it.
Only plain noun phrases are exchanged (no clause, preposition or pronoun inside), and only where no other verb or
argument sits inside them, so every other span of the sentence stays well formed. Measured: it did not give the
demo world's role swaps more different agents (README, "Three more tries"); it stays an option of `hgr srl-train`
(`--filler-swap P`), off by default.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from hgr.parsing.conll import GoldPredicate, GoldSentence

SWAPPED_ROLES = ("ARG0", "ARG1", "ARG2")
MAX_WORDS = 4                      # longer noun phrases are rarely plain (a relative clause, a coordination)
NOUN_TAGS = ("NN", "NNS", "NNP", "NNPS")
DETERMINERS = {"a", "an", "the", "his", "her", "their", "its", "my", "our", "your", "this", "that", "these", "those",
               "some", "every", "each", "another"}
# words a plain noun phrase does not hold (frame-file examples have no POS tags to tell)
FUNCTION_WORDS = {"and", "or", "but", "of", "to", "in", "on", "at", "with", "by", "for", "from", "who", "which",
                  "that", "whom", "whose", "as", "than", "not", "n't", "be", "is", "are", "was", "were"}


def is_plain_noun_phrase(sent: GoldSentence, start: int, end: int) -> bool:
    """The words start..end are a short noun phrase: by POS tags when the sentence has them (EWT), otherwise a
    determiner followed by one to three content words (frame-file examples)."""
    words = sent.words[start:end + 1]
    if not 1 <= len(words) <= MAX_WORDS or not all(w.isalpha() for w in words):
        return False
    if sent.pos:
        tags = sent.pos[start:end + 1]
        return tags[-1] in NOUN_TAGS and all(t in NOUN_TAGS or t in ("DT", "JJ", "PRP$", "CD") for t in tags)
    lower = [w.lower() for w in words]
    return len(lower) >= 2 and lower[0] in DETERMINERS and not set(lower[1:]) & (FUNCTION_WORDS | DETERMINERS)


def filler_pool(sentences: Sequence[GoldSentence]) -> list[tuple[str, ...]]:
    """Every distinct plain noun phrase that is an ARG0, ARG1 or ARG2 of a verbal predicate, in first-seen order."""
    seen: dict[tuple[str, ...], None] = {}
    for sent in sentences:
        for start, end in _swappable(sent):
            seen.setdefault(tuple(sent.words[start:end + 1]), None)
    return list(seen)


def swap_filler(sent: GoldSentence, pool: Sequence[tuple[str, ...]], rng: random.Random) -> GoldSentence:
    """A copy of `sent` with one of its swappable arguments (chosen at random) replaced by a phrase of `pool`,
    every index moved to match; `sent` itself when it has none."""
    spans = _swappable(sent)
    if not spans or not pool:
        return sent
    start, end = rng.choice(spans)
    filler = list(rng.choice(pool))
    shift = len(filler) - (end - start + 1)

    def first(i: int) -> int:              # a span's first word (no index falls inside start..end)
        return i if i <= start else i + shift

    def last(i: int) -> int:               # a span's last word, or a predicate
        return i if i < start else i + shift

    predicates = [GoldPredicate(last(p.index), p.pos, p.lemma,
                                [(first(a), last(b), role) for a, b, role in p.arguments]) for p in sent.predicates]
    words = sent.words[:start] + filler + sent.words[end + 1:]
    pos = sent.pos[:start] + ["NN"] * len(filler) + sent.pos[end + 1:] if sent.pos else []
    return GoldSentence(words=words, pos=pos, predicates=predicates, complete=sent.complete)


def _swappable(sent: GoldSentence) -> list[tuple[int, int]]:
    """(start, end) of the plain noun phrase ARG0-2 spans that no predicate or other argument cuts into."""
    out = []
    for p in sent.predicates:
        for start, end, role in p.arguments:
            if (role in SWAPPED_ROLES and p.is_verbal and (start, end) not in out
                    and is_plain_noun_phrase(sent, start, end) and _whole(sent, start, end)):
                out.append((start, end))
    return out


def _whole(sent: GoldSentence, start: int, end: int) -> bool:
    """No predicate inside start..end, and every argument span either misses it or holds all of it."""
    for p in sent.predicates:
        if start <= p.index <= end:
            return False
        for a, b, _ in p.arguments:
            overlaps = a <= end and b >= start
            if overlaps and not (a <= start and b >= end):
                return False
    return True
