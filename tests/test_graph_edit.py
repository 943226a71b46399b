"""Graph edits (hgr/graph_edit.py): each changes what it says, keeps every node's spans on its own words, and a
graph a client sends is refused, with the reason, when the model would read something else than it says."""
from __future__ import annotations

import pytest

from hgr.errors import ParseError
from hgr.graph import RoleGraph
from hgr.graph_edit import (
    apply_edit,
    check_graph,
    describe_edit,
    differing_nodes,
    remove_node,
    sentence_of,
    set_role,
    set_words,
    swap_arguments,
)
from tests.test_graph import _graph as official_graph


def _graph(sentence: str, args: dict[str, list[int]], verb: int, extra: dict | None = None) -> RoleGraph:
    """One verb with its arguments (tests/test_graph.py's graph), and argument-less NOUN nodes `extra`."""
    words = sentence.split()
    nodes, edges = official_graph(words, args, verb)
    for name, spans in (extra or {}).items():
        nodes[name] = {"role": "NOUN", "spans": spans, "words": [words[i] for i in spans]}
    return RoleGraph.from_json([nodes, edges])


def _consistent(graph: RoleGraph) -> None:
    """Every node's words are the sentence's words at its spans (what check_graph demands)."""
    check_graph(graph.to_json())


def test_swap_exchanges_the_words_of_arg0_and_arg1_active_and_passive():
    g = _graph("a dog chases a cat in the park", {"ARG0": [0, 1], "ARG1": [3, 4], "ARGM-LOC": [5, 6, 7]}, 2)
    s = swap_arguments(g, "1")
    assert sentence_of(s) == "a cat chases a dog in the park"
    assert {n.role: " ".join(n.words) for n in s.nodes if n.level == "entity"} == {
        "ARG0": "a cat", "ARG1": "a dog", "ARGM-LOC": "in the park"}
    assert s.edges == g.edges
    _consistent(s)
    p = _graph("a cat is chased by a dog", {"ARG1": [0, 1], "ARG0": [4, 5, 6]}, 3)   # passive: 'by' stays
    s = swap_arguments(p, "1")
    assert sentence_of(s) == "a dog is chased by a cat"
    assert {n.role: " ".join(n.words) for n in s.nodes if n.level == "entity"} == {"ARG1": "a dog", "ARG0": "by a cat"}
    _consistent(s)
    assert sentence_of(swap_arguments(s, "1")) == "a cat is chased by a dog"              # its own inverse


def test_swap_exchanges_arg1_and_arg2_where_propbank_gives_no_arg0():
    """follow.01 labels the follower ARG1 and the one followed ARG2; a leading preposition stays with its place."""
    g = _graph("a child is following a duck", {"ARG1": [0, 1], "ARG2": [4, 5]}, 3)
    s = swap_arguments(g, "1")
    assert sentence_of(s) == "a duck is following a child"
    assert {n.role: " ".join(n.words) for n in s.nodes if n.level == "entity"} == {"ARG1": "a duck", "ARG2": "a child"}
    _consistent(s)
    c = _graph("a pedestrian circles around a jogger", {"ARG1": [0, 1], "ARG2": [3, 4, 5]}, 2)
    assert sentence_of(swap_arguments(c, "1")) == "a jogger circles around a pedestrian"
    assert describe_edit(c, {"op": "swap", "action": "1"}) == "swapped ARG1 and ARG2 of 'circles'"
    both = _graph("a dog pushes a ball to a cat", {"ARG0": [0, 1], "ARG1": [3, 4], "ARG2": [5, 6, 7]}, 2)
    assert sentence_of(swap_arguments(both, "1")) == "a ball pushes a dog to a cat"        # ARG0 and ARG1 first


def test_swap_refuses_what_it_cannot_do():
    with pytest.raises(ParseError, match="needs two participants to swap"):
        swap_arguments(_graph("a dog is sleeping", {"ARG0": [0, 1]}, 3), "1")
    with pytest.raises(ParseError, match="not an action node"):
        swap_arguments(_graph("a dog chases a cat", {"ARG0": [0, 1], "ARG1": [3, 4]}, 2), "2")
    with pytest.raises(ParseError, match="not one run of words"):
        swap_arguments(_graph("a dog chases a cat", {"ARG0": [0, 1], "ARG1": [1, 4]}, 2), "1")


def test_remove_role_and_words():
    g = _graph("a dog chases a cat", {"ARG0": [0, 1], "ARG1": [3, 4]}, 2, extra={"9": [3, 4]})
    r = remove_node(g, "3")
    assert [n.name for n in r.nodes] == ["ROOT", "1", "2", "9"] and r.edges == [("1", "2", "ARG0")]
    assert sentence_of(r) == sentence_of(g)
    with pytest.raises(ParseError, match="cannot be removed"):
        remove_node(g, "ROOT")
    relabelled = set_role(g, "1", "3", "ARG2")
    assert relabelled.node("3").role == "ARG2" and ("1", "3", "ARG2") in relabelled.edges
    assert g.node("3").role == "ARG1"                                                     # the input is untouched
    with pytest.raises(ParseError, match="no edge"):
        set_role(g, "1", "9", "ARG2")
    w = set_words(g, "2", "The BIG brown dog")
    assert sentence_of(w) == "the big brown dog chases a cat"
    assert w.node("3").spans == [5, 6] and w.node("3").words == ["a", "cat"] and w.node("1").spans == [4]
    _consistent(w)
    w = set_words(g, "3", "mice")                                    # node 9 covers the same words: it follows
    assert sentence_of(w) == "a dog chases mice" and w.node("9").words == ["mice"]
    _consistent(w)


def test_apply_edit_and_differences():
    g = _graph("a dog chases a cat", {"ARG0": [0, 1], "ARG1": [3, 4]}, 2)
    assert sentence_of(apply_edit(g, {"op": "swap", "action": "1"})) == "a cat chases a dog"
    assert differing_nodes(g, apply_edit(g, {"op": "swap", "action": "1"})) == (["2", "3"], ["2", "3"])
    assert differing_nodes(g, apply_edit(g, {"op": "role", "action": "1", "entity": "3", "role": "ARG2"})) == (
        ["3"], ["3"])
    with pytest.raises(ParseError, match="unknown graph edit"):
        apply_edit(g, {"op": "explode"})
    with pytest.raises(ParseError, match="needs 'node'"):
        apply_edit(g, {"op": "remove"})


def test_check_graph_refuses_graphs_the_model_would_read_otherwise():
    good = _graph("a dog chases a cat", {"ARG0": [0, 1], "ARG1": [3, 4]}, 2).to_json()
    assert check_graph(good)[1] == []
    wrong_words = [dict(good[0], **{"3": {"role": "ARG1", "spans": [3, 4], "words": ["a", "cow"]}}), good[1]]
    with pytest.raises(ParseError, match="its spans"):
        check_graph(wrong_words)
    with pytest.raises(ParseError, match="not normalised"):
        check_graph([dict(good[0], ROOT={"role": "ROOT", "spans": [0, 1, 2, 3, 4],
                                         "words": ["A", "dog", "chases", "a", "cat"]}), good[1]])
    with pytest.raises(ParseError, match="outside the sentence"):
        check_graph([dict(good[0], **{"3": {"role": "ARG1", "spans": [7], "words": ["x"]}}), good[1]])
    with pytest.raises(ParseError, match="exactly one event node"):
        check_graph([{k: v for k, v in good[0].items() if k != "ROOT"}, good[1]])
    edge_says_other = [good[0], [["1", "2", "ARG0"], ["1", "3", "ARG2"]]]
    assert "the model reads the node's" in check_graph(edge_says_other)[1][0]
