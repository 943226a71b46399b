"""SRL frames (AllenNLP's output format) -> RoleGraph, exactly as the official notebook builds it.

Spec section 1 "Graph construction" (a) and (b), section 8. One AllenNLP output is
`{"words": [...], "verbs": [{"verb": str, "description": str, "tags": [BIO tag per word]}]}`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hgr.errors import ParseError
from hgr.graph import RoleGraph, RoleNode

# PropBank's numbered (core) roles: each fills at most one span of a frame
CORE_ROLES = frozenset(f"ARG{i}" for i in range(6))


def frame_arguments(tags: Sequence[str]) -> dict[str, list[int]]:
    """BIO tags -> {"ROLE:n": token indices} in order of first appearance (repeated roles numbered 1, 2, ...).

    An `I-X` that does not continue an `X` (previous tag of another type, or `O`) starts a new `X`.
    """
    args: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    previous = "O"
    for i, tag in enumerate(tags):
        if tag == "O":
            previous = tag
            continue
        role = tag[2:]
        if tag.startswith("B-") or role != previous[2:]:
            counts[role] = counts.get(role, 0) + 1
        args.setdefault(f"{role}:{counts[role]}", []).append(i)
        previous = tag
    return args


def keep_frame(args: Mapping[str, list[int]]) -> bool:
    """The notebook keeps a frame with more than one tag type and exactly one V span ("is" alone is dropped)."""
    roles = {name.rsplit(":", 1)[0] for name in args}
    return len(roles) > 1 and sum(1 for name in args if name.rsplit(":", 1)[0] == "V") == 1


def build_role_graph(words: Sequence[str], verbs: Sequence[Mapping[str, Any]]) -> RoleGraph:
    """Official create_role_graph_data: ROOT, then per kept frame its V node and its arguments in sentence order.

    Nodes are shared by (spans, role); a frame whose V span was already seen is skipped whole.
    """
    words = list(words)
    nodes = [RoleNode("ROOT", "ROOT", list(range(len(words))), words)]
    edges: list[tuple[str, str, str]] = []
    by_span_role: dict[tuple[tuple[int, ...], str], str] = {}
    for frame in verbs:
        tags = frame.get("tags", [])
        if len(tags) != len(words):
            raise ParseError(f"SRL frame for verb {frame.get('verb')!r} has {len(tags)} tags for {len(words)} words")
        args = frame_arguments(tags)
        if not keep_frame(args):
            continue
        verb_key = (tuple(args["V:1"]), "V")
        if verb_key in by_span_role:
            continue
        verb_name = str(len(nodes))
        nodes.append(RoleNode(verb_name, "V", list(args["V:1"]), [words[i] for i in args["V:1"]]))
        by_span_role[verb_key] = verb_name
        for name, spans in args.items():
            role = name.rsplit(":", 1)[0]
            if role == "V":
                continue
            key = (tuple(spans), role)
            if key not in by_span_role:
                by_span_role[key] = str(len(nodes))
                nodes.append(RoleNode(by_span_role[key], role, list(spans), [words[i] for i in spans]))
            edges.append((verb_name, by_span_role[key], role))
    return RoleGraph(nodes, edges)


def augment_with_noun_chunks(graph: RoleGraph, doc: Any) -> RoleGraph:
    """Spec section 1 (b): a graph with only ROOT gets NOUN nodes (noun chunks, else NN* tokens) and V nodes
    (VB* tokens), no edges. `doc` is a spaCy Doc over exactly the graph's words."""
    if len(graph.nodes) != 1:
        return graph
    if len(doc) != len(graph.words):
        raise ParseError(f"spaCy doc has {len(doc)} tokens for {len(graph.words)} words; build it from the words")
    nodes = list(graph.nodes)

    def add(role: str, spans: list[int]) -> None:
        nodes.append(RoleNode(str(len(nodes)), role, spans, [doc[i].text for i in spans]))

    for chunk in doc.noun_chunks:
        add("NOUN", list(range(chunk.start, chunk.end)))
    if len(nodes) == 1:
        for tok in doc:
            if tok.tag_.startswith("NN"):
                add("NOUN", [tok.i])
    for tok in doc:
        if tok.tag_.startswith("VB"):
            add("V", [tok.i])
    return RoleGraph(nodes, [])


def check_srl_output(srl: Any) -> tuple[list[str], list[Mapping[str, Any]]]:
    """Validate one AllenNLP SRL output; returns (words, verbs) or raises ParseError saying what is wrong."""
    if not isinstance(srl, Mapping) or not isinstance(srl.get("words"), list):
        raise ParseError('an SRL output must be {"words": [...], "verbs": [{"verb", "description", "tags"}]}; '
                         f"got {type(srl).__name__}")
    verbs = srl.get("verbs", [])
    if not isinstance(verbs, list) or not all(isinstance(v, Mapping) for v in verbs):
        raise ParseError('"verbs" must be a list of {"verb", "description", "tags"} objects')
    return [str(w) for w in srl["words"]], verbs


def describe(words: Sequence[str], tags: Sequence[str]) -> str:
    """AllenNLP's "description" string: `[ARG0: a man] is [V: playing] [ARG1: a guitar]`."""
    pieces, j = [], 0
    for name, spans in sorted(frame_arguments(tags).items(), key=lambda kv: kv[1][0]):
        pieces.extend(words[j:spans[0]])
        pieces.append(f"[{name.rsplit(':', 1)[0]}: {' '.join(words[i] for i in spans)}]")
        j = spans[-1] + 1
    pieces.extend(words[j:])
    return " ".join(pieces)
