"""Semantic role graphs from typed sentences, offline (replaces the official AllenNLP SRL + notebook step).

    from hgr.parsing import parse
    graph = parse("A dog is chasing a cat in the park.")   # RoleGraph; graph.to_json() is the official format

Pipeline: normalize.py (typed text -> caption form) -> backend.py (SRLBackend; default TransformerSRL: a
fine-tuned MiniLM tagger, transformer_srl.py; or SpacySRL: spaCy dependency parse -> candidates.py ->
labeller.py) -> frames.py (AllenNLP frames -> official graph, spec section 1).
"""
from __future__ import annotations

from collections.abc import Sequence

from hgr.graph import RoleGraph
from hgr.parsing.backend import BACKENDS, DEFAULT_BACKEND, SpacySRL, SRLBackend, make_backend
from hgr.parsing.normalize import normalize_caption
from hgr.parsing.parser import (
    ParserConfig,
    SentenceParser,
    default_parser,
    graph_from_srl,
    parser_id,
    parser_mismatch,
    recorded_backend,
)

__all__ = ["parse", "parse_many", "graph_from_srl", "normalize_caption", "SRLBackend", "SpacySRL", "make_backend",
           "BACKENDS", "DEFAULT_BACKEND", "SentenceParser", "ParserConfig", "RoleGraph", "parser_id",
           "recorded_backend", "parser_mismatch"]


def parse(sentence: str, backend: str = DEFAULT_BACKEND) -> RoleGraph:
    """Typed sentence -> its role graph (word indices refer to normalize_caption(sentence).split())."""
    return default_parser(backend).parse(sentence)


def parse_many(sentences: Sequence[str], batch_size: int | None = None, backend: str = DEFAULT_BACKEND,
               workers: int | None = None, progress: bool = False) -> list[RoleGraph]:
    """Many sentences at once: bulk.parse_bulk (each distinct sentence once, over `workers` threads; None: one
    per core for large jobs). `batch_size`: spaCy's batch (None: the backend's own)."""
    from hgr.parsing.bulk import parse_bulk
    return parse_bulk(sentences, backend, workers=workers, batch_size=batch_size, progress=progress)
