"""RoleGraph: a sentence's semantic role graph in the paper's words (section 3.1: event, actions, entities).

The on-disk form is the official one (spec section 1): `[graph_nodes, graph_edges]`, where `graph_nodes` is an
ordered dict `{"ROOT": {...}, "1": {"role": "V", ...}, ...}` and `graph_edges` is `[[verb, argument, role], ...]`.
Node order matters: the model takes actions and entities in that order. `to_networkx()` is what the app draws.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hgr.errors import ParseError

if TYPE_CHECKING:
    import networkx as nx

EVENT_NODE = "ROOT"


@dataclass
class RoleNode:
    """One node: the sentence (event, role ROOT), a verb (action, role V) or an argument phrase (entity)."""

    name: str
    role: str
    spans: list[int]          # token indices into sentence.split()
    words: list[str]

    @property
    def level(self) -> str:
        if self.role == "ROOT":
            return "event"
        return "action" if self.role == "V" else "entity"


@dataclass
class RoleGraph:
    """Ordered nodes (event first) and action -> entity edges labelled with the entity's semantic role."""

    nodes: list[RoleNode] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)   # (action name, entity name, role)

    @property
    def words(self) -> list[str]:
        event = self.event
        return list(event.words) if event else []

    @property
    def event(self) -> RoleNode | None:
        return next((n for n in self.nodes if n.role == "ROOT"), None)

    @property
    def actions(self) -> list[RoleNode]:
        return [n for n in self.nodes if n.role == "V"]

    @property
    def entities(self) -> list[RoleNode]:
        return [n for n in self.nodes if n.role not in ("ROOT", "V")]

    def node(self, name: str) -> RoleNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def arguments(self, action: str) -> list[tuple[RoleNode, str]]:
        """The entities of one action, with their role, in edge order."""
        return [(self.node(a), role) for v, a, role in self.edges if v == action]

    # ---- official JSON -------------------------------------------------------------------------------------
    def to_json(self) -> list:
        """The official `[graph_nodes, graph_edges]` value (JSON-serialisable, node order kept)."""
        nodes = {n.name: {"role": n.role, "spans": list(n.spans), "words": list(n.words)} for n in self.nodes}
        return [nodes, [[v, a, r] for v, a, r in self.edges]]

    @classmethod
    def from_json(cls, value: Sequence) -> RoleGraph:
        """Read the official `[graph_nodes, graph_edges]` value; raises ParseError on a malformed one."""
        try:
            raw_nodes, raw_edges = value
            nodes = [RoleNode(str(name), str(n["role"]), [int(i) for i in n["spans"]], [str(w) for w in n["words"]])
                     for name, n in raw_nodes.items()]
            edges = [(str(v), str(a), str(r)) for v, a, r in raw_edges]
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise ParseError(f"not an official role graph [graph_nodes, graph_edges]: {err!r}") from err
        names = {n.name for n in nodes}
        missing = [e for e in edges if e[0] not in names or e[1] not in names]
        if missing:
            raise ParseError(f"role graph edges refer to unknown nodes: {missing[:3]}")
        return cls(nodes, edges)

    # ---- networkx ------------------------------------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """DiGraph with node attributes level/role/words/span and edge attribute role.

        Besides the official action -> entity edges it links the event to each action (role "V"), so the graph
        is one tree-like drawing; `from_networkx` drops those event edges again.
        """
        import networkx as nx  # only drawings need it; parsing a sentence should not pay for it
        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n.name, level=n.level, role=n.role, words=list(n.words), span=list(n.spans))
        event = self.event
        if event is not None:
            for a in self.actions:
                g.add_edge(event.name, a.name, role="V")
        for v, a, r in self.edges:
            g.add_edge(v, a, role=r)
        return g

    @classmethod
    def from_networkx(cls, g: nx.DiGraph) -> RoleGraph:
        """Inverse of `to_networkx` (node order = the DiGraph's insertion order)."""
        nodes = [RoleNode(str(name), d["role"], list(d["span"]), list(d["words"])) for name, d in g.nodes(data=True)]
        event_names = {n.name for n in nodes if n.role == "ROOT"}
        edges = [(str(v), str(a), d["role"]) for v, a, d in g.edges(data=True) if v not in event_names]
        return cls(nodes, edges)

    def __str__(self) -> str:
        """A readable tree: the event, each action with its entities, then entities without an action."""
        lines = [f"event: {' '.join(self.words)}"]
        linked = set()
        for a in self.actions:
            lines.append(f"  action {a.name}: {' '.join(a.words)}  [{_span_text(a.spans)}]")
            for e, role in self.arguments(a.name):
                linked.add(e.name)
                lines.append(f"    {role:<10} {e.name}: {' '.join(e.words)}  [{_span_text(e.spans)}]")
        for e in self.entities:
            if e.name not in linked:
                lines.append(f"  entity {e.name} ({e.role}): {' '.join(e.words)}  [{_span_text(e.spans)}]")
        return "\n".join(lines)


def _span_text(spans: Sequence[int]) -> str:
    if spans and list(spans) == list(range(spans[0], spans[-1] + 1)):
        return f"{spans[0]}-{spans[-1]}" if len(spans) > 1 else str(spans[0])
    return ",".join(map(str, spans))


def graph_json_equal(a: Any, b: Any) -> bool:
    """Two official graph values are equal, node order included (JSON dicts compare unordered otherwise)."""
    return list(a[0].items()) == list(b[0].items()) and [list(e) for e in a[1]] == [list(e) for e in b[1]]


PREPOSITIONS = frozenset("about across after against along around at behind by for from in into of off on onto "
                         "out over past through to toward towards under with".split())


# who does what to whom, as the two participants a role swap exchanges: ARG0 and ARG1, else ARG1 and ARG2, since
# agentless frames such as follow.01 ("be subsequent", VerbNet 47.8) label the thing following ARG1 and the thing
# followed ARG2 (the app's graph edit and the training negatives below both use this)
SWAP_PAIRS = (("ARG0", "ARG1"), ("ARG1", "ARG2"))


def swap_pair(roles: Iterable[str]) -> tuple[str, str] | None:
    """The two roles of a verb that a role swap exchanges (the first of SWAP_PAIRS it has), or None."""
    return next((pair for pair in SWAP_PAIRS if set(pair) <= set(roles)), None)


def role_swapped(sentence: str, graph: Sequence) -> tuple[str, list] | None:
    """The sentence with its first verb's two participants exchanged, and its role graph, or None.

    'a dog chases a cat' -> 'a cat chases a dog', ARG0 on 'a cat' and ARG1 on 'a dog': the same words and
    structure with the roles reversed (the binary-selection 'switch roles' perturbation of the paper's section
    4.5, made from any parsed caption); a verb without an ARG0 trades its ARG1 and ARG2 ('a child follows a duck',
    follow.01). The first verb that qualifies is used: an active clause (the first role of its SWAP_PAIRS pair
    contiguous before the verb, the second contiguous after it) whose participants hold no verb; `graph` is the
    official [graph_nodes, graph_edges].
    """
    if not graph:
        return None
    nodes, edges = graph[0], graph[1]
    words = sentence.split()
    verb_words = {w for n in nodes.values() if n.get("role") == "V" for w in n.get("spans", [])}
    for verb in dict.fromkeys(e[0] for e in edges):                 # each verb once, in edge order
        args = {e[2]: e[1] for e in edges if e[0] == verb}
        pair = swap_pair(args)
        if pair is None or verb not in nodes:
            continue
        a, b = sorted(nodes[args[pair[0]]]["spans"]), sorted(nodes[args[pair[1]]]["spans"])
        v = nodes[verb]["spans"]
        if not (a and b and v) or a != list(range(a[0], a[-1] + 1)) or b != list(range(b[0], b[-1] + 1)):
            continue
        if not (a[-1] < min(v) and max(v) < b[0] and b[-1] < len(words)):
            continue
        if verb_words & (set(a) | set(b)):                      # a clause ('we see [a dog chasing a cat]')
            continue
        swapped, out = exchange_phrases(words, nodes, args[pair[0]], args[pair[1]], first_head=False)
        return " ".join(swapped), [out, [list(e) for e in edges]]
    return None


def exchange_phrases(words: Sequence[str], nodes: dict, first: str, second: str,
                     first_head: bool = True) -> tuple[list[str], dict]:
    """`words` with the phrases of nodes `first` and `second` exchanged, and every node's spans and words after it.

    Both phrases are contiguous, `first` before `second`. A leading preposition of a phrase stays where it is
    ('hops [over] a pony' keeps 'over'), so `first` takes the words that land in its place and `second` those that
    land in its own: the nodes keep their roles, and their words trade places. `nodes` is the official graph_nodes;
    `first_head=False` moves the first phrase whole (as `role_swapped` always has: an agent before its verb).
    """
    def split(name: str, keep_head: bool) -> tuple[list[int], list[int]]:
        spans = sorted(nodes[name]["spans"])
        head = spans[:1] if keep_head and words[spans[0]] in PREPOSITIONS and len(spans) > 1 else []
        return head, spans[len(head):]

    (head_a, noun_a), (head_b, noun_b) = split(first, first_head), split(second, True)
    order = (list(range(noun_a[0])) + noun_b + list(range(noun_a[-1] + 1, noun_b[0])) + noun_a
             + list(range(noun_b[-1] + 1, len(words))))
    new_pos = {old: new for new, old in enumerate(order)}
    swapped = [words[i] for i in order]
    moved = {first: head_a + noun_b, second: head_b + noun_a}
    out = {}
    for name, node in nodes.items():
        spans = sorted(new_pos[s] for s in moved.get(name, node["spans"]) if s in new_pos)
        out[name] = dict(node, spans=spans, words=[swapped[s] for s in spans])
    return swapped, out


def graph_lookup(cache: dict, recorded_parser: str | None = None):
    """Role graph of a sentence: the collection's cache first, the offline parser otherwise: the backend that made
    the cache when it is recorded (`recorded_parser`, a collection manifest's "parser"), so that a sentence outside
    the cache (a binary-selection perturbation, say) is parsed like the captions; else the default backend."""
    def lookup(sentence: str) -> list:
        graph = cache.get(sentence)
        if graph is None:
            from hgr.parsing import parse, recorded_backend
            graph = parse(sentence, backend=recorded_backend(recorded_parser)).to_json()
        return graph
    return lookup
