"""RoleGraph: official JSON and networkx round trips, levels in the paper's words."""
import json
from pathlib import Path

import pytest

from hgr.errors import ParseError
from hgr.graph import RoleGraph, graph_json_equal

GRAPHS = Path(__file__).parent / "data" / "parity" / "root" / "annotation" / "RET" / "sent2rolegraph.augment.json"


@pytest.fixture(scope="module")
def official() -> dict:
    return json.loads(GRAPHS.read_text())


def test_json_round_trip_keeps_node_order(official):
    for value in official.values():
        graph = RoleGraph.from_json(value)
        assert graph_json_equal(graph.to_json(), value)
        assert json.loads(json.dumps(graph.to_json())) == value


def test_levels_actions_entities(official):
    graph = RoleGraph.from_json(official["a woman is cutting vegetables and talking to the camera"])
    assert graph.event.level == "event" and graph.event.spans == list(range(10))
    assert [a.words for a in graph.actions] == [["cutting"], ["talking"]]
    assert [(e.role, e.words) for e in graph.entities] == [
        ("ARG0", ["a", "woman"]), ("ARG1", ["vegetables"]), ("ARG2", ["to", "the", "camera"])]
    assert [(e.name, r) for e, r in graph.arguments("4")] == [("2", "ARG0"), ("5", "ARG2")]


def test_networkx_round_trip(official):
    for value in official.values():
        graph = RoleGraph.from_json(value)
        g = graph.to_networkx()
        assert g.nodes["ROOT"]["level"] == "event"
        for a in graph.actions:
            assert g.nodes[a.name]["level"] == "action" and g.has_edge("ROOT", a.name)
        for e in graph.entities:
            assert g.nodes[e.name]["level"] == "entity" and g.nodes[e.name]["span"] == e.spans
        for v, a, role in graph.edges:
            assert g.edges[v, a]["role"] == role
        assert graph_json_equal(RoleGraph.from_networkx(g).to_json(), value)


def test_malformed_json_is_a_parse_error():
    with pytest.raises(ParseError):
        RoleGraph.from_json({"ROOT": {}})
    with pytest.raises(ParseError):
        RoleGraph.from_json([{"ROOT": {"role": "ROOT", "spans": [0], "words": ["a"]}}, [["1", "2", "ARG0"]]])


def test_readable_tree(official):
    text = str(RoleGraph.from_json(official["a man is playing a guitar"]))
    assert "action 1: playing" in text and "ARG0" in text and "a guitar" in text


def _graph(words: list[str], args: dict[str, list[int]], verb: int) -> list:
    nodes = {"ROOT": {"role": "ROOT", "spans": list(range(len(words))), "words": words},
             "1": {"role": "V", "spans": [verb], "words": [words[verb]]}}
    edges = []
    for k, (role, spans) in enumerate(args.items(), start=2):
        nodes[str(k)] = {"role": role, "spans": spans, "words": [words[i] for i in spans]}
        edges.append(["1", str(k), role])
    return [nodes, edges]


def test_role_swapped_exchanges_agent_and_patient():
    from hgr.graph import role_swapped

    words = "the big dog chases a cat in the park".split()
    sentence, graph = role_swapped(" ".join(words), _graph(words, {"ARG0": [0, 1, 2], "ARG1": [4, 5],
                                                                   "ARGM-LOC": [6, 7, 8]}, 3))
    assert sentence == "a cat chases the big dog in the park"
    roles = {n["role"]: " ".join(n["words"]) for n in graph[0].values()}
    assert roles == {"ROOT": sentence, "V": "chases", "ARG0": "a cat", "ARG1": "the big dog", "ARGM-LOC": "in the park"}
    assert graph[0]["3"]["spans"] == [3, 4, 5] and graph[1] == [["1", "2", "ARG0"], ["1", "3", "ARG1"],
                                                                  ["1", "4", "ARGM-LOC"]]
    words = "a bunny is hopping over a pony".split()                    # the preposition stays with the verb
    sentence, graph = role_swapped(" ".join(words), _graph(words, {"ARG0": [0, 1], "ARG1": [4, 5, 6]}, 3))
    assert sentence == "a pony is hopping over a bunny" and graph[0]["3"]["words"] == ["over", "a", "bunny"]


def test_role_swapped_trades_arg1_and_arg2_of_a_verb_without_an_agent():
    """follow.01 has no ARG0 (the follower is ARG1, the followed ARG2): its participants are swapped, by the same
    pair rule as the app's graph edit (hgr.graph.swap_pair); ARG0 and ARG1 come first when a verb has both."""
    from hgr.graph import role_swapped, swap_pair

    words = "a child follows a duck on the grass".split()
    sentence, graph = role_swapped(" ".join(words), _graph(words, {"ARG1": [0, 1], "ARG2": [3, 4],
                                                                   "ARGM-LOC": [5, 6, 7]}, 2))
    assert sentence == "a duck follows a child on the grass"
    roles = {n["role"]: " ".join(n["words"]) for n in graph[0].values()}
    assert roles["ARG1"] == "a duck" and roles["ARG2"] == "a child" and roles["ARGM-LOC"] == "on the grass"
    assert swap_pair({"ARG0", "ARG1", "ARG2"}) == ("ARG0", "ARG1") and swap_pair({"ARG0", "ARG2"}) is None


def test_role_swapped_leaves_what_it_cannot_swap():
    from hgr.graph import role_swapped

    words = "a cat is chased by a dog".split()                           # passive: ARG1 first
    assert role_swapped(" ".join(words), _graph(words, {"ARG1": [0, 1], "ARG0": [4, 5, 6]}, 3)) is None
    words = "a dog is sleeping".split()                                  # no patient
    assert role_swapped(" ".join(words), _graph(words, {"ARG0": [0, 1]}, 3)) is None
    words = "we see a dog chasing a cat".split()                         # the patient is a clause
    graph = _graph(words, {"ARG0": [0], "ARG1": [2, 3, 4, 5, 6]}, 1)
    graph[0]["9"] = {"role": "V", "spans": [4], "words": ["chasing"]}
    assert role_swapped(" ".join(words), graph) is None
    assert role_swapped("a dog", None) is None
