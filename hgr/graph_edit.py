"""Editing a query's role graph by hand (the app's graph editor and `/search` with a graph): remove a node, swap the
two participants of an action (ARG0 and ARG1, or ARG1 and ARG2), relabel an edge, rewrite a node's words; and
checking a graph a client sends.

The model reads the sentence (the event node's words) and each node's spans into it (`hgr.inputs.caption_inputs`);
an entity's role embedding (Eq. 6) comes from the node's role. So relabelling an edge relabels its entity node too,
and an edit that changes words changes the sentence, every node's spans following its words. No edit re-parses:
the edited graph is what the text encoder reads.

    graph = RoleGraph.from_json(parsed)
    graph = apply_edit(graph, {"op": "swap", "action": "1"})       # 'a dog chases a cat' -> 'a cat chases a dog'
    graph = apply_edit(graph, {"op": "remove", "node": "3"})
"""
from __future__ import annotations

import copy
import json
from collections.abc import Sequence

from hgr.errors import ParseError
from hgr.graph import RoleGraph, RoleNode, exchange_phrases, swap_pair

OPS = ("remove", "swap", "role", "words")    # the edits `apply_edit` knows


def sentence_of(graph: RoleGraph) -> str:
    """The sentence the model reads for `graph`: its event node's words."""
    return " ".join(graph.words)


def _node(graph: RoleGraph, name: str, level: str | None = None) -> RoleNode:
    try:
        node = graph.node(str(name))
    except KeyError:
        raise ParseError(f"the graph has no node {name!r}; its nodes are {', '.join(n.name for n in graph.nodes)}"
                         ) from None
    if level is not None and node.level != level:
        raise ParseError(f"node {name!r} ({' '.join(node.words)!r}) is an {node.level} node, not an {level} node")
    return node


def remove_node(graph: RoleGraph, name: str) -> RoleGraph:
    """`graph` without node `name` and its edges (the sentence, hence the event node, is unchanged)."""
    node = _node(graph, name)
    if node.level == "event":
        raise ParseError("the event node is the sentence itself and cannot be removed; remove an action or entity")
    return RoleGraph([copy.deepcopy(n) for n in graph.nodes if n.name != node.name],
                     [e for e in graph.edges if node.name not in e[:2]])


def set_role(graph: RoleGraph, action: str, entity: str, role: str) -> RoleGraph:
    """The edge `action` -> `entity` labelled `role`, and the entity node given that role (the model reads it)."""
    _node(graph, action, "action")
    _node(graph, entity, "entity")
    role = str(role).strip()
    if not role or role in ("ROOT", "V"):
        raise ParseError(f"{role!r} is not an argument role: use one such as ARG0, ARG1, ARG2 or ARGM-LOC")
    if not any(v == action and a == entity for v, a, _ in graph.edges):
        raise ParseError(f"there is no edge from action {action!r} to entity {entity!r}")
    out = copy.deepcopy(graph)
    out.edges = [(v, a, role if (v, a) == (action, entity) else r) for v, a, r in out.edges]
    out.node(entity).role = role
    return out


def _contiguous(node: RoleNode) -> list[int]:
    spans = sorted(node.spans)
    if not spans or spans != list(range(spans[0], spans[-1] + 1)):
        raise ParseError(f"node {node.name!r} ({' '.join(node.words)!r}) is not one run of words, so its words "
                         "cannot be moved or rewritten; edit the sentence instead")
    return spans


def swap_roles(graph: RoleGraph, action: str) -> tuple[str, str] | None:
    """The two roles of `action` that a swap exchanges: ARG0 and ARG1, else ARG1 and ARG2; None if neither pair."""
    return swap_pair({r for v, _, r in graph.edges if v == action})


def swap_arguments(graph: RoleGraph, action: str) -> RoleGraph:
    """The two participants of `action` exchanged in the sentence ('a dog chases a cat' -> 'a cat chases a dog';
    ARG0 and ARG1, or ARG1 and ARG2 where there is no ARG0, as in 'a child follows a duck'): each node keeps its
    role and takes the other's words (a leading preposition stays in place, as in the binary-selection 'switch
    roles' of `hgr.graph.role_swapped`)."""
    _node(graph, action, "action")
    args = {r: a for v, a, r in graph.edges if v == action}
    pair = swap_roles(graph, action)
    if pair is None:
        raise ParseError(f"action {action!r} ({' '.join(graph.node(action).words)!r}) needs two participants to "
                         f"swap (an ARG0 and an ARG1, or an ARG1 and an ARG2); it has "
                         f"{', '.join(sorted(args)) or 'no arguments'}")
    first, second = sorted((args[pair[0]], args[pair[1]]), key=lambda n: min(graph.node(n).spans))
    a, b = _contiguous(graph.node(first)), _contiguous(graph.node(second))
    if a[-1] >= b[0]:
        raise ParseError(f"the {pair[0]} and {pair[1]} of action {action!r} overlap, so they cannot trade places")
    value = graph.to_json()
    _, nodes = exchange_phrases(graph.words, value[0], first, second)     # the event node's words follow
    return RoleGraph.from_json([nodes, value[1]])


def set_words(graph: RoleGraph, name: str, words: str | Sequence[str]) -> RoleGraph:
    """Node `name`'s words replaced by `words` in the sentence; nodes after it move, nodes holding it take the new
    words. Words are normalised as typed queries are (`hgr.parsing.normalize_caption`)."""
    from hgr.parsing import normalize_caption

    node = _node(graph, name)
    if node.level == "event":
        raise ParseError("the event node's words are the whole sentence: type a new sentence instead")
    new = normalize_caption(words if isinstance(words, str) else " ".join(words)).split()
    if not new:
        raise ParseError(f"no words given for node {name!r}: type the new words, or remove the node")
    span = _contiguous(node)
    start, stop, shift = span[0], span[-1] + 1, len(new) - len(span)
    sentence = graph.words[:start] + new + graph.words[stop:]
    out = copy.deepcopy(graph)
    for n in out.nodes:
        kept = [s if s < start else s + shift for s in n.spans if not start <= s < stop]
        touched = n.name == node.name or any(start <= s < stop for s in n.spans)
        n.spans = sorted(kept + (list(range(start, start + len(new))) if touched else []))
        n.words = [sentence[s] for s in n.spans]
    return out


def apply_edit(graph: RoleGraph, edit: dict) -> RoleGraph:
    """One edit as JSON: {"op": "remove", "node"}, {"op": "swap", "action"}, {"op": "role", "action", "entity",
    "role"} or {"op": "words", "node", "words"}."""
    op = edit.get("op") if isinstance(edit, dict) else None
    try:
        if op == "remove":
            return remove_node(graph, edit["node"])
        if op == "swap":
            return swap_arguments(graph, edit["action"])
        if op == "role":
            return set_role(graph, edit["action"], edit["entity"], edit["role"])
        if op == "words":
            return set_words(graph, edit["node"], edit["words"])
    except KeyError as err:
        raise ParseError(f"the {op!r} edit needs {err.args[0]!r}") from None
    raise ParseError(f"unknown graph edit {op!r}: use one of {', '.join(OPS)}")


def describe_edit(graph: RoleGraph, edit: dict) -> str:
    """A short line saying what `edit` does to `graph` (before it is applied), for the editor's history."""
    def words(name: str) -> str:
        return " ".join(graph.node(name).words)
    op = edit["op"]
    if op == "remove":
        return f"removed {graph.node(edit['node']).level} '{words(edit['node'])}'"
    if op == "swap":
        first, second = swap_roles(graph, edit["action"]) or ("ARG0", "ARG1")
        return f"swapped {first} and {second} of '{words(edit['action'])}'"
    if op == "role":
        return f"'{words(edit['action'])}' → '{words(edit['entity'])}' relabelled {edit['role']}"
    return f"'{words(edit['node'])}' rewritten as '{edit['words']}'"


def check_graph(value) -> tuple[RoleGraph, list[str]]:
    """A graph a client sent (official `[graph_nodes, graph_edges]`, or that as a JSON string), checked so that the
    model reads what it says: an event node holding the sentence, spans inside it, each node's words the
    sentence's words at its spans. Returns the graph and warnings; ParseError says what is wrong."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ParseError(f"the graph is not valid JSON ({err}); send [graph_nodes, graph_edges] as /parse "
                             "gives them in the official form") from None
    graph = RoleGraph.from_json(value)
    events = [n for n in graph.nodes if n.level == "event"]
    if len(events) != 1 or not events[0].words:
        raise ParseError("the graph needs exactly one event node (role ROOT) whose words are the sentence")
    words = graph.words
    if events[0].spans != list(range(len(words))):
        raise ParseError(f"the event node's spans must be 0..{len(words) - 1}, one per word of the sentence")
    from hgr.parsing import normalize_caption

    if normalize_caption(" ".join(words)) != " ".join(words):
        raise ParseError(f"the sentence {' '.join(words)!r} is not normalised (lower case, no punctuation): take "
                         "the graph from /parse, or normalise its words")
    for n in graph.nodes:
        if any(not 0 <= s < len(words) for s in n.spans):
            raise ParseError(f"node {n.name!r} has spans {n.spans} outside the sentence's {len(words)} words")
        if n.level != "event" and [words[s] for s in n.spans] != list(n.words):
            raise ParseError(f"node {n.name!r} says {' '.join(n.words)!r} but its spans {n.spans} hold "
                             f"{' '.join(words[s] for s in n.spans)!r}: the model reads the words at a node's "
                             "spans, so make them agree")
    warnings = [f"edge {v} → {a} says {r} but node {a} has role {graph.node(a).role}: the model reads the node's"
                for v, a, r in graph.edges if graph.node(a).role != r]
    return graph, warnings


def differing_nodes(a: RoleGraph, b: RoleGraph) -> tuple[list[str], list[str]]:
    """Nodes of `a` with no counterpart in `b`, and of `b` with none in `a`: a node's counterpart has the same level,
    role and words, and (for an entity) hangs off an action with the same words."""
    def keys(g: RoleGraph) -> dict[str, tuple]:
        owner = {e: " ".join(g.node(v).words) for v, e, _ in g.edges}
        return {n.name: (n.level, n.role, tuple(n.words), owner.get(n.name)) for n in g.nodes if n.level != "event"}
    ka, kb = keys(a), keys(b)
    return ([n for n, k in ka.items() if k not in set(kb.values())],
            [n for n, k in kb.items() if k not in set(ka.values())])
