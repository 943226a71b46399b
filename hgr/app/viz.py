"""Figures of the app, drawn from the API's JSON: the query graph and frame alignment as plotly figures, graph
attention and scores as HTML (each plotly figure the page receives costs the browser script time to draw).

Colours follow the paper's three levels everywhere: event (purple), action (orange), entity (teal); fused is ink.
Figures are plain plotly JSON (`Figure`), serialised without plotly's per-property validation, which cost more than
the search itself; tests/test_app.py validates every figure the page receives with `plotly.graph_objects.Figure`.
"""
from __future__ import annotations

import functools
import html
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from hgr.model import LEVELS

LEVEL_COLOURS = {"event": "#7c3aed", "action": "#ea580c", "entity": "#0d9488", "fused": "#1f2937"}
LEVEL_Y = {"event": 2.0, "action": 1.0, "entity": 0.0}
FONT = dict(family="Inter, system-ui, sans-serif", size=13, color="#1f2937")


@dataclass
class Figure:
    """A plotly figure as plain JSON data; `gr.Plot` shows it (it calls `to_json`, as for a plotly Figure)."""
    data: list[dict]
    layout: dict

    def to_dict(self) -> dict:
        """The figure as plotly.js reads it, with the layout template a `plotly.graph_objects.Figure` adds."""
        return {"data": self.data, "layout": {"template": _default_template(), **self.layout}}

    def to_json(self) -> str:
        import plotly.io as pio

        return pio.to_json(self.to_dict(), validate=False)


@functools.cache
def _default_template() -> dict:
    """Plotly's default layout template (the one every `go.Figure` carries), computed once."""
    import plotly.graph_objects as go

    return go.Figure().to_dict()["layout"]["template"]


def title_px(title: str) -> int:
    """A figure's top margin: its title's lines."""
    return (62 if "<br>" in title else 44) if title else 10


def figure(data: list[dict], layout: dict, height: int, title: str = "") -> Figure:
    """One figure from plain trace and layout dicts, with the app's common layout (None values left out)."""
    top = title_px(title)
    base = dict(height=height, margin=dict(l=10, r=10, t=top, b=10), font=FONT,
                paper_bgcolor="white", plot_bgcolor="white", title=dict(text=title, x=0.01, font=dict(size=15)))
    return Figure(data=data, layout={k: v for k, v in {**base, **layout}.items() if v is not None})


def empty_figure(message: str, height: int = 260) -> Figure:
    """A blank figure that says why it is blank (instead of an empty frame)."""
    note = dict(text=html.escape(message), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                font=dict(size=14, color="#6b7280"))
    return figure([], dict(annotations=[note], xaxis=dict(visible=False), yaxis=dict(visible=False)), height)


def node_label(node: dict, width: int = 22) -> str:
    """Short label of a graph node: its words (the event shows the sentence, shortened)."""
    text = " ".join(node["words"])
    return text if len(text) <= width else text[:width - 1] + "…"


# ------------------------------------------------------------------------------------------------------ graph
def layout_positions(graph: dict) -> dict[str, tuple[float, float]]:
    """Three rows, top to bottom: event, actions, entities; each entity under the first action it belongs to."""
    g = nx.DiGraph()
    for n in graph["nodes"]:
        g.add_node(n["id"], level=n["level"])
    for e in graph["edges"]:
        g.add_edge(e["source"], e["target"])
    actions = [n["id"] for n in graph["nodes"] if n["level"] == "action"]
    entities = [n["id"] for n in graph["nodes"] if n["level"] == "entity"]
    owner = {e: next((a for a in actions if g.has_edge(a, e)), None) for e in entities}
    entities.sort(key=lambda e: (actions.index(owner[e]) if owner[e] in actions else len(actions)))
    width = max(len(actions), len(entities), 1)

    def spread(names: Sequence[str]) -> list[float]:
        if len(names) == 1:
            return [(width - 1) / 2]
        return list(np.linspace(0, width - 1, len(names))) if len(names) else []

    pos = {n["id"]: ((width - 1) / 2, LEVEL_Y["event"]) for n in graph["nodes"] if n["level"] == "event"}
    pos.update({a: (x, LEVEL_Y["action"]) for a, x in zip(actions, spread(actions))})
    pos.update({e: (x, LEVEL_Y["entity"]) for e, x in zip(entities, spread(entities))})
    return pos


def _edge_weights(result: dict, layer: int) -> dict[tuple[str, str], tuple[float, float]]:
    """(u, v) -> (attention v gives u, attention u gives v) in one layer (rows receive, Eq. 8)."""
    ids, att = result.get("attention_nodes") or [], result.get("attention") or []
    if not att:
        return {}
    m = np.asarray(att[min(layer, len(att) - 1)])
    index = {n: i for i, n in enumerate(ids)}
    out = {}
    for e in result["graph"]["edges"]:
        u, v = e["source"], e["target"]
        if u in index and v in index:
            out[(u, v)] = (float(m[index[v], index[u]]), float(m[index[u], index[v]]))
    return out


HIGHLIGHT = "#dc2626"      # the ring around a node that the other caption of a comparison lacks
# Where along an action -> argument edge its role is written (0: the action, 1: the argument): nearest the argument,
# where edges are spread widest, or the next of these places that overlaps no role written already (else the one
# that overlaps least), among those clear of the action's name and the argument's marker at the figure's scale.
ROLE_ATS = (0.72, 0.585, 0.45, 0.65, 0.52, 0.675, 0.63, 0.54, 0.495, 0.76, 0.8)
PLOT_WIDTH = 306           # px of a graph's plot area on a 390 px phone (measured in Chromium), where labels are most
PLOT_CHARACTERS = 45       # crowded; about 48 characters of 13 px text span it
LEGEND_PX = 48             # what the legend and bottom margin take of a graph's height (420 px: a 310 px plot)
MARGIN_SLOTS = 2.0         # the x range's margins, in slots: one each side, half a crowded row's label (graph_figure)
LINE_PX = 16               # one line of a node's 13 px label
MARKER_PX = 24             # an action's or entity's marker
ROLE_HALF_PX = 9.0         # half a role label's height ("ARG0" measured 36x18 px in Chromium)


def role_box(text: str, x: float, y: float, scale: tuple[float, float],
             pad: float = 2.0) -> tuple[float, float, float, float]:
    """The box (left, bottom, right, top, in px on a phone) of a role's label written at (x, y), `pad` px wider
    each way to keep neighbours clear, `scale` px a unit of x and of y: 11 px text in a bordered box ("ARG0" measured
    36x18 px in Chromium)."""
    half_w, half_h = (6.5 * len(text) + 10) / 2 + pad, ROLE_HALF_PX + pad
    cx, cy = x * scale[0], y * scale[1]
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The area two boxes (left, bottom, right, top) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def role_places(roles: Sequence[tuple[str, Sequence[tuple[float, float]]]], scale: tuple[float, float],
                rounds: int = 4) -> list[tuple[float, float]]:
    """Where to write each (role, its places in order of preference): the first place that overlaps no role placed
    before it, then, a few rounds over all, each moved to the place that overlaps the others least (a label that
    took an early role's only free place frees it)."""
    def cost(i: int, place: tuple[float, float], chosen: list) -> float:
        box = role_box(roles[i][0], *place, scale)
        return sum(overlap(box, role_box(roles[j][0], *p, scale)) for j, p in enumerate(chosen)
                   if j != i and p is not None)

    chosen: list = [None] * len(roles)
    for i, (_, places) in enumerate(roles):
        costs = [cost(i, p, chosen) for p in places]
        chosen[i] = places[costs.index(min(costs))]
    for _ in range(rounds):
        moved = False
        for i, (_, places) in enumerate(roles):
            now = cost(i, chosen[i], chosen)
            if now > 0:
                costs = [cost(i, p, chosen) for p in places]
                if min(costs) < now:
                    chosen[i], moved = places[costs.index(min(costs))], True
        if not moved:
            break
    return chosen


def label_lines(labels: Sequence[str]) -> int:
    """How many lines the longest of a row's labels takes (its leading blank lines included); 1 for no labels."""
    return max([label.count("<br>") + 1 for label in labels] or [1])


def line_width(row: int, width: int, slots: int = 1) -> int:
    """Characters in one line of a node's label in a row of `row` nodes spread across the x range of a widest row of
    `width`, given `slots` of it: what that holds on a phone (a desktop's plot is twice as wide)."""
    slot = (width - 1) / (row - 1) if row > 1 else width - 1 + MARGIN_SLOTS
    per_slot = PLOT_CHARACTERS / (width - 1 + MARGIN_SLOTS)
    return max(8, min(22, int(per_slot * slot * slots) - 1))


def wrapped(text: str, width: int, lines: int = 2) -> list[str]:
    """`text` in at most `lines` lines of at most `width` characters, broken between words; what does not fit is
    cut with an ellipsis (a word longer than a line is cut too)."""
    out, words = [], text.split()
    while words and len(out) < lines:
        line = words.pop(0)
        while words and len(line) + 1 + len(words[0]) <= width:
            line += " " + words.pop(0)
        out.append(line if len(line) <= width else line[:width - 1] + "…")
    if words:
        last = out[-1]
        out[-1] = (last if len(last) < width else last[:width - 1]) + "…"
    return out


def row_labels(nodes: Sequence[dict], width: int | None = None) -> list[str]:
    """The labels of one row of the graph, in a graph whose widest row holds `width` nodes (default: this row):
    each in at most two lines that fit its slot on a phone (all the words stay in the hover). Past three nodes, when
    a label does not fit one slot, every other label starts two lines lower and each gets two slots' width, so that
    neighbours never share a line."""
    width = max(width or 0, len(nodes))
    texts = [" ".join(node["words"]) for node in nodes]
    alternate = len(nodes) > 3 and any(len(t) > line_width(len(nodes), width) for t in texts)
    chars = line_width(len(nodes), width, 2 if alternate else 1)
    return [("<br><br>" if alternate and i % 2 else "") + "<br>".join(html.escape(line) for line in wrapped(t, chars))
            for i, t in enumerate(texts)]


def graph_figure(result: dict, layer: int = 0, height: int = 420, highlight: Collection[str] = (),
                 title: str = "Query graph") -> Figure:
    """The query's event/action/entity graph; edge width = graph attention of `layer` (mean of both directions);
    nodes in `highlight` ringed in red (a comparison's differing nodes)."""
    graph = result.get("graph") or {}
    if not graph.get("nodes"):
        return empty_figure("No graph yet: type a sentence.", height)
    highlight = set(highlight)
    pos = layout_positions(graph)
    names = {n["id"]: n for n in graph["nodes"]}
    weights = _edge_weights(result, layer)
    data, notes, mid_x, mid_y, mid_text = [], [], [], [], []
    widest = max(Counter(n["level"] for n in graph["nodes"]).values())
    rows = {level: [n for n in graph["nodes"] if n["level"] == level] for level in ("event", "action", "entity")}
    labels = {level: row_labels(nodes, widest) for level, nodes in rows.items() if nodes}
    lines = label_lines(labels.get("entity", []))      # under the entities, down to the lowest
    xs = [p[0] for p in pos.values()]
    x_lim = [min(xs) - MARGIN_SLOTS / 2, max(xs) + MARGIN_SLOTS / 2]
    layers = len(result.get("attention") or [])
    if layers:
        # a line of its own: after the name it was cut at a phone's width
        title += (f"<br><span style='font-size:12px;color:#64748b'>edge width = attention in layer "
                  f"{min(layer, max(layers - 1, 0)) + 1} of {layers}</span>")
    plot_px = height - title_px(title) - LEGEND_PX
    below = MARKER_PX / 2 + 6 + LINE_PX * lines         # px under the entities' centres: their labels' lines
    y_lim = [-max(0.55, 2.35 * below / max(plot_px - below, 1)), 2.35]
    scale = (PLOT_WIDTH / (x_lim[1] - x_lim[0]), plot_px / (y_lim[1] - y_lim[0]))
    roles = []                                          # (role, the places along its edge it may be written)
    # a role's place along its edge: not over the action's name (its marker's lower half and its label's lines, then
    # half a role's box) ...
    name_px = MARKER_PX / 2 + LINE_PX * label_lines(labels.get("action", [])) + ROLE_HALF_PX + 2
    # nor over the argument's marker (its label is under it)
    marker_px = MARKER_PX / 2 + ROLE_HALF_PX + 1
    highest = [at for at in ROLE_ATS if name_px <= at * scale[1] <= scale[1] - marker_px] or [ROLE_ATS[0]]
    for e in graph["edges"]:
        (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
        w = weights.get((e["source"], e["target"]))
        data.append(dict(type="scatter", x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip", showlegend=False,
                         line=dict(width=1.5 + 9 * (sum(w) / 2) if w else 1.5, color="rgba(100,116,139,0.55)")))
        src, dst = html.escape(node_label(names[e["source"]])), html.escape(node_label(names[e["target"]]))
        hover = f"<b>{html.escape(e['role'])}</b>: {src} → {dst}"
        if w:
            hover += f"<br>{dst} attends to {src}: {w[0]:.2f}<br>{src} attends to {dst}: {w[1]:.2f}"
        mid_x.append((x0 + x1) / 2)
        mid_y.append((y0 + y1) / 2)
        mid_text.append(hover)
        if e["role"] != "V":
            roles.append((e["role"], [(x0 + at * (x1 - x0), y0 + at * (y1 - y0)) for at in highest]))
    for (role, _), (x, y) in zip(roles, role_places(roles, scale)):
        notes.append(dict(x=x, y=y, text=html.escape(role), showarrow=False,
                          font=dict(size=11, color="#334155"), bgcolor="rgba(255,255,255,0.9)",
                          bordercolor="#cbd5e1", borderwidth=1, borderpad=2))
    data.append(dict(type="scatter", x=mid_x, y=mid_y, mode="markers", marker=dict(size=14, opacity=0),
                     showlegend=False, hovertext=mid_text, hoverinfo="text"))
    for level, nodes in rows.items():
        if not nodes:
            continue
        hover = [f"<b>{level}</b> ({html.escape(n['role'])})<br>{html.escape(' '.join(n['words']))}"
                 f"<br>words {', '.join(map(str, n['spans']))}"
                 f"<br>{'model slot ' + str(n['slot']) if n['slot'] is not None else 'not read by the model'}"
                 for n in nodes]
        data.append(dict(
            type="scatter", x=[pos[n["id"]][0] for n in nodes], y=[pos[n["id"]][1] for n in nodes],
            mode="markers+text", name=level, text=labels[level],
            textposition="bottom center", hovertext=hover, hoverinfo="text", textfont=dict(size=13),
            marker=dict(size=30 if level == "event" else MARKER_PX, color=LEVEL_COLOURS[level],
                        line=dict(width=2, color="white"),
                        opacity=[1.0 if n["slot"] is not None else 0.35 for n in nodes])))
    ringed = [n["id"] for n in graph["nodes"] if n["id"] in highlight]
    if ringed:                                          # a trace of its own, so the legend keeps plain markers
        data.append(dict(type="scatter", x=[pos[i][0] for i in ringed], y=[pos[i][1] for i in ringed],
                         mode="markers", hoverinfo="skip", showlegend=False,
                         marker=dict(symbol="circle-open", size=36, color=HIGHLIGHT, line=dict(width=3))))
    layout = dict(annotations=notes or None, hoverlabel=dict(bgcolor="white"),
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                  xaxis=dict(visible=False, range=x_lim), yaxis=dict(visible=False, range=y_lim))
    return figure(data, layout, height, title)


ATTENTION_CHANGE = 0.10   # a cell whose weight moves this much between the first and last layer is outlined
LABEL_WIDTH = 18          # characters of a node's words in the attention table's labels (all of them on hover)


def attention_html(result: dict) -> str:
    """Graph attention beta (Eq. 8) as an HTML table: row node gathers context from column node; each cell holds one
    shaded line per layer, outlined where the layers differ by ATTENTION_CHANGE or more, and the biggest changes are
    named under it. Plain HTML: legible at 12 nodes, and no plotly work in the browser on each search."""
    att = result.get("attention") or []
    if not att:
        return note_html("This model has no graph attention layers.")
    beta = np.asarray(att, dtype=np.float64)                                   # [layers, N, N]
    layers = beta.shape[0]
    names = {n["id"]: n for n in result["graph"]["nodes"]}
    nodes = [names[i] for i in result["attention_nodes"]]
    words = [" ".join(n["words"]) for n in nodes]
    short = [_esc_short(w, LABEL_WIDTH) for w in words]
    kinds = ["event" if n["level"] == "event" else "action" if n["level"] == "action" else n["role"] for n in nodes]
    full = [html.escape(f"{kind} ({n['level']}): {w}") for kind, n, w in zip(kinds, nodes, words)]
    edge = (beta != 0).any(axis=0)                                             # [N, N] the graph's edges
    change = beta[-1] - beta[0]                                                # [N, N] last layer minus first

    head = "".join(f"<th class='att-col' title='{full[j]}' style='border-top-color:{_level_colour(nodes[j])}'>"
                   f"<span>{short[j]}</span></th>" for j in range(len(nodes)))
    rows = []
    for i in range(len(nodes)):
        cells = []
        for j in range(len(nodes)):
            if not edge[i, j]:
                cells.append("<td class='att-none' title='no edge: not a neighbour'></td>")
                continue
            lines = "".join(f"<div style='background:{_blue(v)};color:{'white' if v > 0.55 else '#111827'}'>"
                            f"{v:.2f}</div>" for v in beta[:, i, j])
            values = "; ".join(f"layer {k + 1}: {v:.3f}" for k, v in enumerate(beta[:, i, j]))
            tip = html.escape(f"{words[i]} ← {words[j]}: {values}")
            moved = " att-moved" if layers > 1 and abs(change[i, j]) >= ATTENTION_CHANGE else ""
            cells.append(f"<td class='att-cell{moved}' title='{tip}'>{lines}</td>")
        rows.append(f"<tr><th class='att-role' style='color:{_level_colour(nodes[i])}'>{html.escape(kinds[i])}</th>"
                    f"<th class='att-row' title='{full[i]}'>{short[i]}</th>{''.join(cells)}</tr>")
    lines = ("layer 1 on top, layer 2 under it" if layers == 2 else
             f"layers 1 to {layers} from top to bottom" if layers > 2 else "one layer")
    notes = [f"<p class='note'>Each row gathers context from the columns; a row's weights sum to 1 over its "
             f"neighbours (a node with one neighbour gives it 1.00). Each cell: {lines}"
             + (f"; outlined in red where the last layer differs from the first by {ATTENTION_CHANGE:.2f} or more."
                if layers > 1 else ".") + " Hover a label for all its words, a cell for its values.</p>"]
    if layers > 1:
        notes.append(_biggest_changes(change, edge, short, layers))
    event = [i for i, n in enumerate(nodes) if n["level"] == "event"]
    if event and not edge[event[0]].any():
        notes.append("<p class='note'>The event row is empty: the graph's edges run from the event to each action and "
                     "never back (section 3.1, as in the official code), so the event node has no neighbour to "
                     "gather from in any layer: its vector leaves each layer as it came in, only layer-normalised. "
                     "The actions do read the event (their event column).</p>")
    return (f"<div class='attention'><p class='att-title'><b>Graph attention β (Eq. 8)</b></p>"
            f"<div class='att-box'><table><thead><tr><th></th><th></th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>{''.join(notes)}</div>")


def _biggest_changes(change: np.ndarray, edge: np.ndarray, labels: list[str], layers: int, top: int = 3) -> str:
    """The few cells whose weight moved most from the first to the last layer, as a sentence."""
    cells = sorted(zip(*np.nonzero(edge)), key=lambda ij: -abs(change[ij]))[:top]
    said = [f"{labels[i]} ← {labels[j]} {'+' if change[i, j] >= 0 else '−'}{abs(change[i, j]):.2f}"
            for i, j in cells if abs(change[i, j]) >= 0.005]
    if not said:
        return f"<p class='note'>Layer {layers} attends as layer 1 does (no weight moves by 0.005 or more).</p>"
    return f"<p class='note'>Biggest changes from layer 1 to layer {layers}: {'; '.join(said)}.</p>"


def _blue(value: float) -> str:
    """A cell's shade: white at 0, deep blue at 1."""
    return f"rgba(29, 78, 216, {0.08 + 0.92 * min(max(value, 0.0), 1.0):.2f})"


def _level_colour(node: dict) -> str:
    return LEVEL_COLOURS[node["level"]]


def _esc_short(text: str, width: int) -> str:
    return html.escape(text if len(text) <= width else text[:width - 1] + "…")


# ------------------------------------------------------------------------------------------------------ scores
def scores_html(results: list[dict], label_key: str = "video_id",
                title: str = "Scores per level (fused = mean, Eq. 13)") -> str:
    """Each result's event, action, entity and fused score as bars (cosine, 0 to 1) in the levels' colours, best at
    the top, two lines a result (what it is; its four bars side by side), so ten results stand beside the gallery's
    two rows of cards. HTML, so a search costs the browser no plotly work."""
    if not results:
        return note_html("No results yet.")
    legend = "".join(f"<span class='legend-chip' style='background:{LEVEL_COLOURS[lv]}'>{lv}</span>"
                     for lv in LEVELS)
    rows = []
    for r in results:
        label = f"#{r['rank']} {r[label_key]}"
        if label_key == "video_id" and r.get("description"):
            label += f" · {r['description']}"
        bars = "".join(
            f"<div class='bar' title='{lv} {r['scores'][lv]:.4f}'><i><span style='width:{_bar_width(r['scores'][lv])}%;"
            f"background:{LEVEL_COLOURS[lv]}'></span></i><b>{r['scores'][lv]:.3f}</b></div>" for lv in LEVELS)
        rows.append(f"<div class='score-row'><div class='score-label' title='{html.escape(label)}'>"
                    f"{html.escape(label)}</div><div class='score-line'>{bars}</div></div>")
    return (f"<div class='score-bars'><p class='att-title'><b>{html.escape(title)}</b></p><p>{legend}"
            f"<span class='note'> bars: cosine similarity, 0 to 1</span></p>{''.join(rows)}</div>")


def _bar_width(score: float) -> float:
    return round(100 * min(max(score, 0.0), 1.0), 1)


# ------------------------------------------------------------------------------------------------------ frames
YLORRD = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")


def alignment_html(alignment: dict[str, list[float]], graph: dict, thumbnails: list[tuple[str, float]],
                   title: str) -> str:
    """Which frames each action and entity node attended to (phi of Eq. 12) as an HTML table under the frame strip.

    Shades span the weights' own range (uniform attention is 1/F everywhere); each cell holds its weight.
    """
    names = {n["id"]: n for n in (graph or {}).get("nodes", [])}
    rows = [k for k in alignment if k in names]
    if not rows:
        return note_html("The sentence has no action or entity node, so there is no frame alignment to show.")
    phi = np.asarray([alignment[k] for k in rows], dtype=np.float64)           # [nodes, F]
    frames = phi.shape[1]
    low, high = float(phi.min()), float(phi.max())
    have_thumbs = len(thumbnails) == frames
    if have_thumbs:
        head = "".join(f"<th class='al-frame'><img src='{html.escape(uri)}' alt='frame {i + 1}'>"
                       f"<br>{i + 1} · {seconds:.1f}s</th>" for i, (uri, seconds) in enumerate(thumbnails))
    else:
        head = "".join(f"<th class='al-frame'>{i + 1}</th>" for i in range(frames))
    body = []
    for k, weights in zip(rows, phi):
        node = names[k]
        kind = "action" if node["level"] == "action" else node["role"]
        said = " ".join(node["words"])
        cells = "".join(f"<td style='background:{_ylorrd((v - low) / (high - low) if high > low else 0.0)};"
                        f"color:{'white' if high > low and (v - low) / (high - low) > 0.6 else '#111827'}' "
                        f"title='{html.escape(said)}, frame {i + 1}: {v:.4f}'>{v:.2f}</td>"
                        for i, v in enumerate(weights))
        body.append(f"<tr><th class='att-role' style='color:{_level_colour(node)}'>{html.escape(kind)}</th>"
                    f"<th class='att-row' title='{html.escape(f'{kind}: {said}')}'>{_esc_short(said, LABEL_WIDTH)}"
                    f"</th>{cells}</tr>")
    missing = "" if have_thumbs else " (no video file to show frames from)"
    return (f"<div class='alignment'><p class='att-title'><b>{html.escape(title)}</b></p><div class='att-box'>"
            f"<table><thead><tr><th></th><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
            f"<p class='note'>Each row is a softmax over the clip's {frames} frames{missing}; shades span this "
            f"clip's weights, from {low:.3f} (pale) to {high:.3f} (dark red). Hover a cell for its weight.</p></div>")


def _ylorrd(t: float) -> str:
    """A shade of the yellow-orange-red scale at t in [0, 1]."""
    x = min(max(t, 0.0), 1.0) * (len(YLORRD) - 1)
    i = min(int(x), len(YLORRD) - 2)
    a, b = (np.array([int(c[j:j + 2], 16) for j in (1, 3, 5)]) for c in YLORRD[i:i + 2])
    r, g, bl = (a + (b - a) * (x - i)).round().astype(int)
    return f"rgb({r}, {g}, {bl})"


def note_html(message: str) -> str:
    """A panel's placeholder or empty answer: says why it is empty."""
    return f"<p class='note'>{html.escape(message)}</p>"
