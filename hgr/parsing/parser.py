"""Sentence -> RoleGraph: normalise, parse (an SRLBackend), build the official graph (spec section 1)."""
from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from hgr.errors import ParseError
from hgr.graph import RoleGraph
from hgr.parsing.backend import DEFAULT_BACKEND, SpacySRL, SRLBackend, make_backend
from hgr.parsing.frames import augment_with_noun_chunks, build_role_graph, check_srl_output
from hgr.parsing.normalize import normalize_caption
from hgr.parsing.spacy_nlp import add_pos, load_spacy, parse_tokens

_SPACY_LOCK = threading.Lock()


@dataclass
class ParserConfig:
    max_words: int = 200       # longer text is truncated with a warning (the model reads only the first 30)
    batch_size: int = 256      # sentences per spaCy batch
    normalize: bool = True     # typed text -> official caption form (normalize.py)


def sentence_words(sentence: str, config: ParserConfig) -> list[str]:
    """The words a sentence's graph indexes: normalised (if `config.normalize`), whitespace-split, truncated to
    `config.max_words`; ParseError when there is no word."""
    if not isinstance(sentence, str):
        raise ParseError(f"a sentence must be text, got {type(sentence).__name__}")
    text = normalize_caption(sentence) if config.normalize else sentence
    words = text.split()
    if not words:
        raise ParseError(f"nothing to parse in {sentence[:60]!r}: type a sentence with words, "
                         "e.g. 'a dog is chasing a cat'")
    if len(words) > config.max_words:
        warnings.warn(f"sentence of {len(words)} words truncated to its first {config.max_words} words "
                      "(the model reads only the first 30)", stacklevel=4)
        words = words[: config.max_words]
    return words


class SentenceParser:
    """Parses typed sentences into role graphs with a backend (default: TransformerSRL, offline)."""

    def __init__(self, backend: SRLBackend | None = None, config: ParserConfig | None = None):
        self.config = config or ParserConfig()
        self.backend = backend or make_backend(DEFAULT_BACKEND)

    def tokens(self, sentence: str) -> list[str]:
        """The words the graph indexes: normalised, whitespace-split, truncated to max_words."""
        return sentence_words(sentence, self.config)

    def parse(self, sentence: str) -> RoleGraph:
        return self.parse_many([sentence])[0]

    def parse_many(self, sentences: Sequence[str], batch_size: int | None = None) -> list[RoleGraph]:
        """Batch parse (spaCy nlp.pipe); raises ParseError for a sentence without any word."""
        return self.parse_words([self.tokens(s) for s in sentences], batch_size)

    def parse_words(self, token_lists: Sequence[Sequence[str]], batch_size: int | None = None) -> list[RoleGraph]:
        """Sentences already split into the words the graph indexes (`tokens`' output) -> role graphs."""
        if isinstance(self.backend, SpacySRL):   # one spaCy pass serves the frames and the augmentation
            docs = list(self.backend.parse(token_lists, batch_size=batch_size or self.config.batch_size))
            return self._graphs([self.backend.frames(doc) for doc in docs], docs)
        return self._graphs(self.backend.predict(token_lists))

    @staticmethod
    def _graphs(outputs: Sequence[dict], docs: Sequence | None = None) -> list[RoleGraph]:
        """AllenNLP SRL outputs -> official graphs. A sentence without a kept frame gets spaCy's noun chunks (as
        the official notebook did), read from `docs` when given, else from one spaCy pass over all such sentences."""
        checked = [check_srl_output(srl) for srl in outputs]
        graphs = [build_role_graph(words, verbs) for words, verbs in checked]
        bare = [i for i, graph in enumerate(graphs) if len(graph.nodes) == 1]
        if bare:
            with _SPACY_LOCK:           # one spaCy pipeline, and bulk.parse_bulk parses in threads
                nlp = load_spacy()
                bare_docs = ([docs[i] for i in bare] if docs is not None
                             else parse_tokens([checked[i][0] for i in bare], nlp=nlp))
                for i, doc in zip(bare, bare_docs):
                    graphs[i] = augment_with_noun_chunks(graphs[i], add_pos(doc, nlp))
        return graphs


@functools.lru_cache(maxsize=2)
def default_parser(backend: str = DEFAULT_BACKEND) -> SentenceParser:
    """The process-wide parser of a backend with its shipped weights (loaded once)."""
    return SentenceParser(make_backend(backend))


@functools.lru_cache(maxsize=4)
def parser_id(backend: str = DEFAULT_BACKEND) -> str:
    """What made a set of role graphs: the backend's name and the first 12 hex digits of the sha256 of its weights
    (for the transformer, followed by its decoding rule, `DECODING`).

    Collections record it in their manifest and checkpoints in their card; graphs of one id are the same for
    the same sentence, so a query is parsed like the captions a model was trained on when the ids agree.
    """
    import hashlib
    from pathlib import Path

    if backend == "transformer":
        from hgr.parsing.transformer_srl import DEFAULT_TRANSFORMER_WEIGHTS as weights
    elif backend == "spacy":
        from hgr.parsing.labeller import DEFAULT_WEIGHTS as weights
    else:
        raise ValueError(f"unknown SRL backend {backend!r}")
    path = Path(weights)
    if not path.exists():
        return f"{backend}:missing"
    digest = hashlib.sha256(path.read_bytes())
    if backend == "transformer":
        from hgr.parsing.transformer_srl import DECODING
        digest.update(DECODING.encode())
    return f"{backend}:{digest.hexdigest()[:12]}"


def recorded_backend(recorded: str | None) -> str:
    """The backend name of a recorded parser id ("transformer:..." -> "transformer"); the default backend when
    nothing (or an unknown backend) is recorded."""
    from hgr.parsing.backend import BACKENDS
    name = (recorded or "").split(":", 1)[0]
    return name if name in BACKENDS else DEFAULT_BACKEND


def parser_mismatch(recorded: str | None, what: str, backend: str = DEFAULT_BACKEND) -> str | None:
    """A warning when `what` (a collection's graphs, a checkpoint's training captions) was parsed by another
    parser than the one queries get now; None when they agree."""
    current = parser_id(backend)
    if recorded == current:
        return None
    made = f"by {recorded}" if recorded else "by a parser it does not record (made before parsers were recorded)"
    return (f"{what}: parsed {made}; queries are parsed by {current}: the two can give different graphs for "
            "the same sentence; re-parse the captions (hgr parse --file) or retrain so both use one parser")


def graph_from_srl(srl: dict) -> RoleGraph:
    """One AllenNLP SRL output (e.g. a value of the official sent2srl.json) -> its official role graph.

    Sentences without a kept frame are augmented with spaCy noun chunks, as the official notebook did.
    """
    return SentenceParser._graphs([srl])[0]
