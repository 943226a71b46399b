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
