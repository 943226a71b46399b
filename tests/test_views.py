"""The page's new callbacks without a browser, on the embedded demo: the Compare tab's perturbation picker and
verdict, the graph editor's choices and re-ranking. What they show is checked against the service's own answers,
not against figures of the current demo model (the demo is regenerated with other parsers)."""
from __future__ import annotations

import re

import gradio as gr
import pytest

from hgr.demo_assets import DEMO_CHECKPOINT, DEMO_COLLECTION
from hgr.model import LEVELS

pytestmark = pytest.mark.skipif(not (DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()),
                                reason="the embedded demo is not built (hgr demo-world ship)")


@pytest.fixture(scope="module")
def views():
    import hgr
    from hgr.app.service import DemoService
    from hgr.app.views import Views
    from hgr.collection import Collection

    return Views(DemoService.open(Collection.open(DEMO_COLLECTION), hgr.load(DEMO_CHECKPOINT, device="cpu")))


def _swappable(service) -> tuple[str, str]:
    """A test caption whose graph has an action with both an ARG0 and an ARG1, and that action's id."""
    for video in service.collection.split("test"):
        for caption in service.collection.captions[video]:
            graph = service.prepare(caption).graph
            for action in graph.actions:
                roles = {role for _, role in graph.arguments(action.name)}
                if {"ARG0", "ARG1"} <= roles:
                    return caption, action.name
    pytest.fail("no test caption with an ARG0 and an ARG1 on one action")


def test_the_perturbation_picker_offers_the_clips_table6_captions(views):
    video = views.service.collection.split("test")[0]
    picker, caption_a = views.compare_choices(video)
    expected = views.service.perturbations(video)
    assert picker["visible"] and caption_a["value"] == expected["true"]
    assert [value for _, value in picker["choices"]] == list(expected["perturbations"].values())
    assert all(label.startswith(kind.replace("_", " ") + ": ")
               for (label, _), kind in zip(picker["choices"], expected["perturbations"]))


def test_the_verdict_says_which_caption_is_true_and_where_the_model_was_fooled(views):
    video = views.service.collection.split("test")[0]
    perturbed = views.service.perturbations(video)
    true, false = perturbed["true"], perturbed["perturbations"]["switch_roles"]
    verdict, *figures = views.compare(None, video, true, false)
    out = views.service.compare(true, false, video_id=video)
    assert "true of the clip" in verdict and "false: a perturbation" in verdict
    for level in LEVELS:
        row = re.search(rf">{level}</span></td><td>([-\d.]+)</td><td>([-\d.]+)</td><td>(.*?)</td>", verdict)
        assert row, (level, verdict)
        assert float(row[1]) == pytest.approx(out["a"]["scores"][level], abs=6e-4)
        assert float(row[2]) == pytest.approx(out["b"]["scores"][level], abs=6e-4)
        winner = out["winner"][level]
        if winner != "tie":
            assert f"<b>{winner.upper()}</b> by {abs(out['margin'][level]):.3f}" in row[3]
            assert ("✓" in row[3]) == (winner == "a") and ("fooled" in row[3]) == (winner == "b")
    assert len(figures) == 4 and all(f.data for f in figures)


def test_the_editor_offers_what_each_edit_applies_to(views):
    from hgr.app.why import edit_targets

    caption, action = _swappable(views.service)
    graph = views.service.prepare(caption).graph
    official = graph.to_json()
    assert action in [value for _, value in edit_targets(official, "swap")]
    assert len(edit_targets(official, "role")) == len(graph.edges)
    assert [value for _, value in edit_targets(official, "remove")] == [n.name for n in graph.nodes
                                                                         if n.level != "event"]


def test_rerank_shows_the_edited_search_and_each_clips_move(views):
    from hgr.app.why import move_label
    from hgr.graph_edit import sentence_of, swap_arguments

    caption, action = _swappable(views.service)
    state, *_ = views.search(caption, 10)
    (new, gallery, _, _, _, graph_figure, _, _, selected, edits, changes, *_) = views.rerank(
        state, "swap", action, "", 10)
    swapped = swap_arguments(views.service.prepare(caption).graph, action)
    expected = views.service.search("", 10, graph=swapped.to_json(), previous=caption)
    assert new["query"] == sentence_of(swapped) and new["base"]["query"] == caption
    assert [r["video_id"] for r in new["results"]] == [r["video_id"] for r in expected["results"]]
    assert selected == new["results"][0]["video_id"] and "Edited query graph" in str(graph_figure.layout)
    assert "swapped ARG0 and ARG1" in edits and caption in edits
    moves = re.findall(r"<td><b style='color:[^']+'>([^<]+)</b></td>", changes)
    assert moves == [move_label(r["previous"]) for r in expected["results"]]
    assert [caption_ for _, caption_ in gallery][0].startswith(f"{moves[0]} #1 ")
    again, *_ = views.rerank(new, "remove", next(n.name for n in swapped.entities), "", 10)
    assert len(again["edits"]) == 2 and again["base"] == state["base"]          # edits chain on the typed query


def test_editor_errors_say_what_to_do(views):
    from hgr.app.why import edit_targets

    caption, action = _swappable(views.service)
    state, *_ = views.search(caption, 5)
    with pytest.raises(gr.Error, match="Search first"):
        views.rerank(None, "remove", "1", "", 5)
    edge = edit_targets(state["role_graph"], "role")[0][1]
    with pytest.raises(gr.Error, match="not an argument role"):
        views.rerank(state, "role", edge, "", 5)
    with pytest.raises(gr.Error, match="no words given"):
        views.rerank(state, "words", action, "  ", 5)


def test_a_typed_role_is_shown_as_text(views):
    """The role box takes any label (one the model does not know reads as NOUN): it reaches the page as text."""
    from hgr.app.why import edit_targets

    caption, _ = _swappable(views.service)
    state, *_ = views.search(caption, 5)
    edge = edit_targets(state["role_graph"], "role")[0][1]
    new, *_, edits, changes, _, _ = views.rerank(state, "role", edge, "<i>x</i>", 5)
    assert "&lt;I&gt;X&lt;/I&gt;" in edits and "<I>" not in edits
    notes = [a["text"] for a in views.redraw_graph(new, "layer 1").layout.get("annotations") or []]
    assert "&lt;I&gt;X&lt;/I&gt;" in notes
