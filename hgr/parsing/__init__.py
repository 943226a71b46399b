"""Semantic role graphs from typed sentences, offline (replaces the official AllenNLP SRL + notebook step).

    from hgr.parsing import parse
    graph = parse("A dog is chasing a cat in the park.")   # RoleGraph; graph.to_json() is the official format

Pipeline: normalize.py (typed text -> caption form) -> backend.py (SRLBackend; default SpacySRL: spaCy
dependency parse -> candidates.py -> labeller.py) -> frames.py (AllenNLP frames -> official graph, spec section 1).
"""
from __future__ import annotations

from collections.abc import Sequence

from hgr.graph import RoleGraph
from hgr.parsing.backend import SpacySRL, SRLBackend
from hgr.parsing.normalize import normalize_caption
from hgr.parsing.parser import ParserConfig, SentenceParser, default_parser, graph_from_srl

__all__ = ["parse", "parse_many", "graph_from_srl", "normalize_caption", "SRLBackend", "SpacySRL",
           "SentenceParser", "ParserConfig", "RoleGraph"]


def parse(sentence: str) -> RoleGraph:
    """Typed sentence -> its role graph (word indices refer to normalize_caption(sentence).split())."""
    return default_parser().parse(sentence)


def parse_many(sentences: Sequence[str], batch_size: int = 256) -> list[RoleGraph]:
    """Many sentences at once (spaCy nlp.pipe in batches of `batch_size`)."""
    return default_parser().parse_many(sentences, batch_size=batch_size)
