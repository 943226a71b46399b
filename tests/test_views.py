"""The page's new callbacks without a browser, on the embedded demo: the Compare tab's perturbation picker and
verdict, the graph editor's choices and re-ranking. What they show is checked against the service's own answers,
not against figures of the current demo model (the demo is regenerated with other parsers)."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import gradio as gr
import numpy as np
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
    graphs, alignments = figures[:2], figures[2:]
    assert all(f.data for f in graphs) and all("class='alignment'" in a for a in alignments)


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


# ---------------------------------------------------------------------------------------------------- issue 16
class _Table(HTMLParser):
    """The attention table's header titles and texts, and each body row's cells (class, title, text lines)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.head, self.rows, self._cell, self._where = [], [], None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("thead", "tbody"):
            self._where = tag
        elif tag == "tr" and self._where == "tbody":
            self.rows.append([])
        elif tag in ("th", "td") and self._where:
            self._cell = {"tag": tag, "class": attrs.get("class") or "", "title": attrs.get("title"), "text": []}
            (self.head if self._where == "thead" else self.rows[-1]).append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._cell = None
        elif tag == "table":
            self._where = None

    def handle_data(self, data):
        if self._cell is not None and data.strip():
            self._cell["text"].append(data.strip())


def _twelve_node_result() -> dict:
    """An event, 3 actions and 8 entities with long words, the official edges (event -> action, action <->
    entity) and two layers of row-normalised attention; layer 2 moves weight onto each row's last neighbour."""
    rng = np.random.default_rng(0)
    nodes = [{"id": "e", "level": "event", "role": "ROOT", "words": "a man in a bright red jacket is slowly "
              "chasing a small white dog across a wide green park".split()}]
    nodes += [{"id": f"a{i}", "level": "action", "role": "V", "words": [w]}
              for i, w in enumerate(["chasing", "barking", "running"])]
    nodes += [{"id": f"o{i}", "level": "entity", "role": "ARG1" if i % 2 else "ARG0",
               "words": f"the number {i} entity with a very long noun phrase".split()} for i in range(8)]
    edges = np.zeros((12, 12))
    edges[1:4, 0] = 1
    for k in range(8):
        action = 1 + k % 3
        edges[action, 4 + k] = edges[4 + k, action] = 1
    layers = []
    for shift in (0.0, 2.0):
        logits = rng.normal(size=(12, 12)) + shift * (np.arange(12) == 11)
        weights = np.where(edges > 0, np.exp(logits), 0)
        layers.append((weights / np.maximum(weights.sum(1, keepdims=True), 1e-9)).round(4).tolist())
    return {"graph": {"nodes": nodes, "edges": []}, "attention_nodes": [n["id"] for n in nodes],
            "attention": layers}


def test_the_attention_table_is_legible_at_twelve_nodes_and_shows_what_changed():
    """Issue 16 item 5: labels of at most 18 characters with every word on hover, one shaded line per layer in each
    cell of an edge, cells that moved by 0.10 or more outlined, the biggest change named, the event row explained."""
    from hgr.app.viz import ATTENTION_CHANGE, LABEL_WIDTH, attention_html

    result = _twelve_node_result()
    out = attention_html(result)
    table = _Table(out)
    words = [" ".join(n["words"]) for n in result["graph"]["nodes"]]
    columns = [c for c in table.head if "att-col" in c["class"]]
    assert len(columns) == 12 and len(table.rows) == 12
    for column, full in zip(columns, words):
        assert len(column["text"][0]) <= LABEL_WIDTH and full in html.unescape(column["title"])
    beta = np.asarray(result["attention"])
    for i, row in enumerate(table.rows):
        assert words[i] in html.unescape(row[1]["title"])
        assert len(row[1]["text"][0]) <= LABEL_WIDTH
        cells = row[2:]
        for j, cell in enumerate(cells):
            if beta[:, i, j].any():
                assert [float(v) for v in cell["text"]] == pytest.approx(beta[:, i, j], abs=0.006)
                moved = abs(beta[1, i, j] - beta[0, i, j]) >= ATTENTION_CHANGE
                assert ("att-moved" in cell["class"]) == moved, (i, j)
            else:
                assert cell["class"] == "att-none" and not cell["text"]
    assert sum("att-moved" in c["class"] for row in table.rows for c in row) >= 3      # layer 2 moved weight
    change = beta[1] - beta[0]
    i, j = np.unravel_index(np.abs(change).argmax(), change.shape)
    top = re.search(r"Biggest changes from layer 1 to layer 2: ([^;<]+)", out)[1]
    assert f"{abs(change[i, j]):.2f}" in top and table.rows[i][1]["text"][0] in html.unescape(top)
    assert "The event row is empty" in out and "never back" in out
    assert "font-size: 12px" in _css_rule(".attention table, .alignment table")


def _css_rule(selector: str) -> str:
    from hgr.app.ui import CSS

    return re.search(re.escape(selector) + r" \{([^}]*)\}", CSS)[1]


def test_the_search_tab_draws_the_models_attention_and_scores(views):
    """On the demo model: the Search tab's attention table holds the service's own weights, one line per layer, and
    its score bars are each result's scores in the levels' colours (the chips' colours), best first."""
    from hgr.app.viz import LEVEL_COLOURS

    caption, _ = _swappable(views.service)
    state, _, scores, _, _, _, attention, *_ = views.search(caption, 5)
    table = _Table(attention)
    beta = np.asarray(state["attention"])
    assert len(table.rows) == len(state["attention_nodes"]) == beta.shape[1] and beta.shape[0] >= 2
    for i, row in enumerate(table.rows):
        for j, cell in enumerate(row[2:]):
            if beta[:, i, j].any():
                assert [float(v) for v in cell["text"]] == pytest.approx(beta[:, i, j], abs=0.006)
    assert "event row is empty" in attention                  # the official graph's event node receives nothing
    bars = re.findall(r"<div class='bar' title='(\w+) ([-\d.]+)'><i><span style='width:([\d.]+)%;"
                      r"background:(#\w+)'>", scores)
    assert len(bars) == 4 * len(state["results"])
    for k, (level, value, width, colour) in enumerate(bars):
        r = state["results"][k // 4]
        assert level == LEVELS[k % 4] and colour == LEVEL_COLOURS[level]
        assert float(value) == pytest.approx(r["scores"][level], abs=1e-4)
        assert float(width) == pytest.approx(100 * min(max(r["scores"][level], 0), 1), abs=0.06)
    labels = re.findall(r"class='score-label' title='#(\d+) ", scores)
    assert labels == [str(r["rank"]) for r in state["results"]]


def test_the_parser_warning_falls_back_to_the_collections_parser(views):
    """A model card that names no parser: the warning follows the collection's recorded parser (the same parser as
    queries: none; another: a warning naming it); a card that names one is used first."""
    import copy
    from types import SimpleNamespace

    from hgr.parsing import parser_id

    def warning(card: dict, manifest: dict) -> str | None:
        service = copy.copy(views.service)
        service.__dict__.pop("parser_warning", None)
        service.checkpoint = SimpleNamespace(card=card)
        service.collection = SimpleNamespace(manifest=manifest)
        return service.parser_warning

    assert warning({}, {"parser": parser_id()}) is None
    assert warning({"data": {"parser": None}}, {"parser": parser_id()}) is None
    other = warning({"data": {}}, {"parser": "spacy-rules-0"})
    assert other and "spacy-rules-0" in other and "the collection's captions" in other
    assert warning({"data": {"parser": parser_id()}}, {"parser": "spacy-rules-0"}) is None
    assert "the model's training captions" in warning({"data": {"parser": "spacy-rules-0"}}, {})


def _one_action(words: list[str], arguments: list[str]) -> dict:
    """A graph of one action over `arguments` (each an argument's words)."""
    nodes = [{"id": "e", "level": "event", "role": "ROOT", "words": words, "spans": [0], "slot": 0},
             {"id": "a", "level": "action", "role": "V", "words": [words[2]], "spans": [2], "slot": 0}]
    nodes += [{"id": f"o{i}", "level": "entity", "role": f"ARG{i}", "slot": i, "spans": [3 + i],
               "words": text.split()} for i, text in enumerate(arguments)]
    edges = [{"source": "e", "target": "a", "role": "V"}]
    edges += [{"source": "a", "target": f"o{i}", "role": f"ARG{i}"} for i in range(len(arguments))]
    return {"nodes": nodes, "edges": edges}


def test_a_crowded_graph_row_alternates_its_labels_between_lines_and_wraps_them_to_fit_a_phone():
    """Seven arguments under one action once wrote their 22-character labels over each other, and on a phone any row
    of long labels did: each label is at most two lines that fit its slot on a 390 px phone, past three nodes every
    other one starts two lines lower, and every word stays in the hover. Short labels stay on one line."""
    from hgr.app.viz import graph_figure, line_width, row_labels

    graph = _one_action("a man throws things".split(), [f"the very long argument number {i} of the verb"
                                                        for i in range(7)])
    entity = [t for t in graph_figure({"graph": graph}).data if t.get("name") == "entity"][0]
    width = line_width(7, 7, 2)
    assert 8 <= width < 22
    assert [t.startswith("<br><br>") for t in entity["text"]] == [i % 2 == 1 for i in range(7)]
    for text in entity["text"]:
        lines = text.removeprefix("<br><br>").split("<br>")
        assert len(lines) == 2 and all(len(line) <= width for line in lines) and lines[-1].endswith("…"), lines
    assert all(" ".join(n["words"]) in h for n, h in zip(graph["nodes"][2:], entity["hovertext"]))
    short = [{"words": [w]} for w in ("runs", "jumps", "watches", "laughs")]
    assert row_labels(short) == ["runs", "jumps", "watches", "laughs"]                  # fits: no second line
    assert row_labels([{"words": "a woman in a red dress".split()}]) == ["a woman in a red dress"]


@pytest.mark.parametrize("graph", ["shared", "seven", "two actions"])
def test_role_labels_never_overlap_on_a_phone(graph):
    """Roles side by side once overlapped: two actions sharing an argument ("a man runs and jumps a fence") wrote
    both roles at one place, and on a phone the roles of neighbouring arguments ran into each other. Each role is
    written nearest its argument unless that overlaps a role already there; none overlap at a phone's scale (the
    label boxes measured in Chromium; tests/test_browser.py checks the drawn boxes)."""
    from hgr.app.viz import LEGEND_PX, PLOT_WIDTH, ROLE_ATS, graph_figure, layout_positions, overlap, role_box, title_px

    if graph == "shared":
        nodes = [{"id": "e", "level": "event", "role": "ROOT", "words": "a man runs and jumps a fence".split(),
                  "spans": [0], "slot": 0},
                 {"id": "a1", "level": "action", "role": "V", "words": ["runs"], "spans": [2], "slot": 0},
                 {"id": "a2", "level": "action", "role": "V", "words": ["jumps"], "spans": [4], "slot": 1},
                 {"id": "m", "level": "entity", "role": "ARG0", "words": ["a", "man"], "spans": [0, 1], "slot": 0},
                 {"id": "f", "level": "entity", "role": "ARG1", "words": ["a", "fence"], "spans": [5, 6], "slot": 1}]
        edges = [{"source": "e", "target": a, "role": "V"} for a in ("a1", "a2")]
        edges += [{"source": "a1", "target": "m", "role": "ARG0"}, {"source": "a2", "target": "m", "role": "ARG0"},
                  {"source": "a2", "target": "f", "role": "ARGM-LOC"}]
        graph = {"nodes": nodes, "edges": edges}
    elif graph == "seven":
        graph = _one_action("a man throws things".split(), ["x"] * 7)
    else:                                               # "a man throws a b c and a dog catches d e f"
        graph = _one_action("a man throws it".split(), ["a", "b", "c"])
        graph["nodes"].append({"id": "a2", "level": "action", "role": "V", "words": ["catches"], "spans": [9],
                               "slot": 1})
        graph["nodes"] += [{"id": f"p{i}", "level": "entity", "role": f"ARG{i}", "slot": 3 + i, "spans": [10 + i],
                            "words": [w]} for i, w in enumerate("def")]
        graph["edges"].append({"source": "e", "target": "a2", "role": "V"})
        graph["edges"] += [{"source": "a2", "target": f"p{i}", "role": f"ARG{i}"} for i in range(3)]
    layout = graph_figure({"graph": graph}).layout
    notes = layout["annotations"]
    xs, ys = layout["xaxis"]["range"], layout["yaxis"]["range"]
    plot = 420 - title_px(layout["title"]["text"]) - LEGEND_PX
    scale = (PLOT_WIDTH / (xs[1] - xs[0]), plot / (ys[1] - ys[0]))
    boxes = [role_box(n["text"], n["x"], n["y"], scale, pad=0) for n in notes]
    assert len(notes) == sum(e["role"] != "V" for e in graph["edges"])
    assert all(overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:]), notes
    pos = layout_positions(graph)
    first = next(e for e in graph["edges"] if e["role"] != "V")
    top, bottom = pos[first["source"]][1], pos[first["target"]][1]
    assert notes[0]["y"] == pytest.approx(top + ROLE_ATS[0] * (bottom - top))   # the first: nearest its argument


def test_the_page_header_shows_the_parser_warning(views):
    """The warning `hgr serve` prints at start-up is on the page too, under the header, escaped; none when the
    model's captions and queries share a parser."""
    import copy

    from hgr.app.ui import header_html

    service = copy.copy(views.service)
    service.__dict__["parser_warning"] = "the model's training captions: parsed by <spacy-rules-0>"
    page = header_html(service)
    assert "class='caveat'" in page and "parsed by &lt;spacy-rules-0&gt;" in page
    assert "⚠ The model's training captions" in page                     # a sentence, capitalised
    service.__dict__["parser_warning"] = None
    assert "caveat" not in header_html(service)
