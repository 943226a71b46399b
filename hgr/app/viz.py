"""Plotly figures of the app, drawn from the API's JSON: the query graph, graph attention, scores, frame alignment.

Colours follow the paper's three levels everywhere: event (purple), action (orange), entity (teal); fused is ink.
Figures are plain plotly JSON (`Figure`), serialised without plotly's per-property validation, which cost more than
the search itself; tests/test_app.py validates every figure the page receives with `plotly.graph_objects.Figure`.
"""
from __future__ import annotations

import functools
import html
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

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


@functools.cache
def colorscale(name: str) -> list[list]:
    """A named plotly (Python) colour scale as explicit stops: plotly.js's own scale of that name differs."""
    import plotly.graph_objects as go

    return go.Heatmap(colorscale=name).to_plotly_json()["colorscale"]


def figure(data: list[dict], layout: dict, height: int, title: str = "") -> Figure:
    """One figure from plain trace and layout dicts, with the app's common layout (None values left out)."""
    base = dict(height=height, margin=dict(l=10, r=10, t=44 if title else 10, b=10), font=FONT,
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


def row_label(node: dict) -> str:
    if node["level"] == "event":
        return "event"
    role = "action" if node["level"] == "action" else node["role"]
    return html.escape(f"{role}: {node_label(node, 28)}")


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
            notes.append(dict(x=mid_x[-1], y=mid_y[-1], text=html.escape(e["role"]), showarrow=False,
                              font=dict(size=11, color="#334155"), bgcolor="rgba(255,255,255,0.9)",
                              bordercolor="#cbd5e1", borderwidth=1, borderpad=2))
    data.append(dict(type="scatter", x=mid_x, y=mid_y, mode="markers", marker=dict(size=14, opacity=0),
                     showlegend=False, hovertext=mid_text, hoverinfo="text"))
    for level in ("event", "action", "entity"):
        nodes = [n for n in graph["nodes"] if n["level"] == level]
        if not nodes:
            continue
        hover = [f"<b>{level}</b> ({html.escape(n['role'])})<br>{html.escape(' '.join(n['words']))}"
                 f"<br>words {', '.join(map(str, n['spans']))}"
                 f"<br>{'model slot ' + str(n['slot']) if n['slot'] is not None else 'not read by the model'}"
                 for n in nodes]
        data.append(dict(
            type="scatter", x=[pos[n["id"]][0] for n in nodes], y=[pos[n["id"]][1] for n in nodes],
            mode="markers+text", name=level, text=[html.escape(node_label(n)) for n in nodes],
            textposition="bottom center", hovertext=hover, hoverinfo="text", textfont=dict(size=13),
            marker=dict(size=30 if level == "event" else 24, color=LEVEL_COLOURS[level],
                        line=dict(width=2, color="white"),
                        opacity=[1.0 if n["slot"] is not None else 0.35 for n in nodes])))
    ringed = [n["id"] for n in graph["nodes"] if n["id"] in highlight]
    if ringed:                                          # a trace of its own, so the legend keeps plain markers
        data.append(dict(type="scatter", x=[pos[i][0] for i in ringed], y=[pos[i][1] for i in ringed],
                         mode="markers", hoverinfo="skip", showlegend=False,
                         marker=dict(symbol="circle-open", size=36, color=HIGHLIGHT, line=dict(width=3))))
    xs = [p[0] for p in pos.values()]
    layers = len(result.get("attention") or [])
    if layers:
        title += f" · edge width = attention in layer {min(layer, max(layers - 1, 0)) + 1} of {layers}"
    layout = dict(annotations=notes or None, hoverlabel=dict(bgcolor="white"),
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                  xaxis=dict(visible=False, range=[min(xs) - 0.7, max(xs) + 0.7]),
                  yaxis=dict(visible=False, range=[-0.55, 2.35]))
    return figure(data, layout, height, title)


def attention_figure(result: dict, height: int = 380) -> Figure:
    """One heatmap per graph-reasoning layer: row node gathers context from column node (Eq. 8, Figure 3)."""
    att = result.get("attention") or []
    if not att:
        return empty_figure("This model has no graph attention layers.", 200)
    names = {n["id"]: n for n in result["graph"]["nodes"]}
    labels = [row_label(names[i]) for i in result["attention_nodes"]]
    gap, n = 0.05, len(att)
    width = (1 - gap * (n - 1)) / n
    data, layout, notes = [], {}, []
    for i, layer in enumerate(att):
        m = np.asarray(layer)
        axis = "" if i == 0 else str(i + 1)
        data.append(dict(type="heatmap", z=m.tolist(), x=labels, y=labels, zmin=0, zmax=1,
                         colorscale=colorscale("Blues"), xaxis=f"x{axis}", yaxis=f"y{axis}", showscale=i == n - 1,
                         text=[[f"{v:.2f}" if v > 0 else "" for v in row] for row in m], texttemplate="%{text}",
                         colorbar=dict(title=dict(text="β"), thickness=12),
                         hovertemplate="%{y} ← %{x}: %{z:.3f}<extra></extra>"))
        lo = i * (width + gap)
        layout[f"xaxis{axis}"] = dict(domain=[lo, lo + width], tickangle=-35, tickfont=dict(size=11))
        layout[f"yaxis{axis}"] = dict(autorange="reversed", tickfont=dict(size=11), showticklabels=i == 0,
                                      **({"matches": "y"} if i else {}))
        notes.append(dict(text=f"layer {i + 1}", x=lo + width / 2, y=1.0, xref="paper", yref="paper",
                          showarrow=False, yanchor="bottom", font=dict(size=13)))
    layout["annotations"] = notes
    return figure(data, layout, height, "Graph attention β (Eq. 8): each row gathers context from the columns")


# ------------------------------------------------------------------------------------------------------ scores
def scores_figure(results: list[dict], label_key: str = "video_id", height: int | None = None,
                  title: str = "Scores per level (fused = mean, Eq. 13)") -> Figure:
    """Grouped horizontal bars: event, action, entity and fused score of each result, best at the top."""
    if not results:
        return empty_figure("No results yet.")
    labels = [f"#{r['rank']} {_short(str(r[label_key]), 34)}" for r in results]
    data = [dict(type="bar", y=labels, x=[r["scores"][level] for r in results], name=level, orientation="h",
                 marker=dict(color=LEVEL_COLOURS[level]), hovertemplate=f"%{{y}}<br>{level}: %{{x:.3f}}<extra></extra>")
            for level in ("event", "action", "entity", "fused")]
    layout = dict(barmode="group", bargap=0.25, bargroupgap=0.05,
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                  yaxis=dict(autorange="reversed", tickfont=dict(size=11)),
                  xaxis=dict(title=dict(text="cosine similarity"), gridcolor="#e5e7eb", zerolinecolor="#9ca3af"))
    return figure(data, layout, height or 100 + 56 * len(results), html.escape(title))


def _short(text: str, width: int) -> str:
    return html.escape(text if len(text) <= width else text[:width - 1] + "…")


# ------------------------------------------------------------------------------------------------------ frames
def alignment_figure(alignment: dict[str, list[float]], graph: dict, thumbnails: list[tuple[str, float]],
                     title: str) -> Figure:
    """Heatmap of which frames each action and entity node attended to (phi of Eq. 12), under the frame strip.

    Colours span the weights' own range (uniform attention is 1/F everywhere); the colour bar gives the values.
    """
    names = {n["id"]: n for n in (graph or {}).get("nodes", [])}
    rows = [k for k in alignment if k in names]
    if not rows:
        return empty_figure("The sentence has no action or entity node, so there is no frame alignment to show.")
    z = np.asarray([alignment[k] for k in rows])                       # [nodes, F]
    frames = z.shape[1]
    have_thumbs = len(thumbnails) == frames
    ticks = [f"{i + 1}<br>{thumbnails[i][1]:.1f}s" if have_thumbs else str(i + 1) for i in range(frames)]
    strip = 0.36 if have_thumbs else 0.0
    data = [dict(type="heatmap", z=z.tolist(), x=list(range(1, frames + 1)), y=[row_label(names[k]) for k in rows],
                 zmin=float(z.min()), zmax=max(float(z.max()), float(z.min()) + 1e-6), colorscale=colorscale("YlOrRd"),
                 colorbar=dict(title=dict(text="φ"), thickness=12, len=1 - strip, y=0, yanchor="bottom"),
                 hovertemplate="%{y}<br>frame %{x}: weight %{z:.3f}<extra></extra>")]
    layout = dict(xaxis=dict(tickmode="array", tickvals=list(range(1, frames + 1)), ticktext=ticks,
                             tickfont=dict(size=10), range=[0.5, frames + 0.5]),
                  yaxis=dict(autorange="reversed", tickfont=dict(size=11), domain=[0, 1 - strip]))
    if have_thumbs:
        layout["images"] = [dict(source=uri, x=i + 1, y=1.0, xref="x", yref="paper", sizex=0.96,
                                 sizey=strip - 0.03, xanchor="center", yanchor="top", sizing="contain",
                                 layer="above") for i, (uri, _) in enumerate(thumbnails)]
    else:
        layout["annotations"] = [dict(text="(no video file to show frames from)", x=1, y=1.02, xref="paper",
                                      yref="paper", showarrow=False, xanchor="right", yanchor="bottom",
                                      font=dict(size=11, color="#6b7280"))]
    return figure(data, layout, 130 + 34 * len(rows) + (150 if have_thumbs else 0), title)
