"""Typed text -> caption text as in the official data: lowercase, no punctuation, whitespace-tokenised.

MSR-VTT captions write "man's" as "man s" and "don't" as "don t" (the apostrophe became a space), keep
hyphenated words ("low-budget") and have no other punctuation; `normalize_caption` produces the same form, so the
graph's word indices are indices into `normalize_caption(text).split()`, which is how the model tokenises.
"""
from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^>]{0,200}>")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u02bc": "'", "\u00b4": "'"})
_CONTRACTION = re.compile(r"(?<=[^\W_])'(?=[^\W_])")            # it's -> it s, don't -> don t (as in MSR-VTT)
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")                      # letters/digits, hyphens inside a word


def normalize_caption(text: str) -> str:
    """Lowercase, strip HTML and punctuation, split contractions at the apostrophe, collapse spaces."""
    text = unicodedata.normalize("NFKC", html.unescape(_TAG.sub(" ", str(text))))
    text = _CONTRACTION.sub(" ", text.lower().translate(_APOSTROPHES))
    return " ".join(_WORD.findall(text))
