"""What the page shows when it asks the model why, as HTML and choices built from the API's JSON: the graph
editor's operations and targets, the rank-change table of a re-ranked search, the Compare tab's verdict.

Everything a user typed or uploaded (captions, node words, roles, file names) is escaped; numbers and the level
colours are the only other content. The callbacks that use these live in views.py.
"""
from __future__ import annotations

import html
import json

from hgr.app import viz
from hgr.app.compare import CAPTIONS
from hgr.errors import ParseError
from hgr.graph import RoleGraph
from hgr.graph_edit import swap_roles
from hgr.model import LEVELS

# ---------------------------------------------------------------------------------------------------- edits
EDIT_HINT = "<p class='note'>Pick an edit and what it applies to, then Apply and re-rank.</p>"
EDITS = {"remove": "remove a node", "swap": "swap the two participants of an action", "role": "change an edge's role",
         "words": "rewrite a node's words"}      # hgr.graph_edit's operations, as the editor names them


def edit_targets(role_graph: list, op: str) -> list[tuple[str, str]]:
    """(label, value) of each node or edge of an official graph that edit `op` applies to."""
    graph = RoleGraph.from_json(role_graph)

    def said(name: str) -> str:
        return "'" + " ".join(graph.node(name).words) + "'"

    if op in ("remove", "words"):
        return [(f"{'action' if n.level == 'action' else n.role} {said(n.name)}", n.name)
                for n in graph.nodes if n.level != "event"]
    if op == "swap":
        out = []
        for action in graph.actions:
            roles = {role: node.name for node, role in graph.arguments(action.name)}
            pair = swap_roles(graph, action.name)
            if pair:
                first, second = pair
                out.append((f"{said(action.name)}: {first} {said(roles[first])} ↔ {second} {said(roles[second])}",
                            action.name))
        return out
    if op == "role":
        return [(f"{said(v)} → {said(a)} ({r})", json.dumps([v, a])) for v, a, r in graph.edges]
    return []


def edit_request(op: str | None, target: str, value: str | None) -> dict:
    """The editor's choices as one `hgr.graph_edit.apply_edit` request."""
    if op == "remove":
        return {"op": "remove", "node": target}
    if op == "swap":
        return {"op": "swap", "action": target}
    if op == "role":
        action, entity = json.loads(target)
        return {"op": "role", "action": action, "entity": entity, "role": (value or "").strip().upper()}
    if op == "words":
        return {"op": "words", "node": target, "words": value or ""}
    raise ParseError("pick an edit first: remove, swap, role or words")


def move_label(previous: dict) -> str:
    """How a result moved against the previous query: '↑3', '↓5', '=' or 'new' (not in the previous top k)."""
    change = previous.get("change")
    if previous.get("new") or change is None:
        return "new"
    return f"↑{change}" if change > 0 else f"↓{-change}" if change < 0 else "="


def _move_colour(previous: dict) -> str:
    change = previous.get("change")
    if previous.get("new") or change is None or change > 0:
        return "#15803d"
    return "#b91c1c" if change < 0 else "#6b7280"


def _signed(x: float) -> str:
    colour = "#15803d" if x > 5e-4 else "#b91c1c" if x < -5e-4 else "#6b7280"
    return f"<span style='color:{colour}'>{x:+.3f}</span>"


def edits_html(result: dict) -> str:
    """The edited query, the edits made and what the ranking is compared with (all user text escaped)."""
    items = "".join(f"<li>{html.escape(e)}</li>" for e in result.get("edits", []))
    return (f"<div class='clip-info'><b>Edited query:</b> “{html.escape(result['query'])}”<ol>{items}</ol>"
            f"Ranks and Δ below are against the typed query “{html.escape(result['base']['query'])}”.</div>")


def changes_html(result: dict) -> str:
    """Each result's rank change and per-level score deltas against the previous query, as a table."""
    head = "".join(f"<th>Δ <span class='chip' style='background:{viz.LEVEL_COLOURS[lv]}'>{lv}</span></th>"
                   for lv in LEVELS)
    rows = []
    for r in result["results"]:
        prev = r["previous"]
        was = "–" if prev["rank"] is None else f"#{prev['rank']}"
        deltas = "".join(f"<td>{_signed(prev['delta'][lv])}</td>" for lv in LEVELS)
        rows.append(f"<tr><td>#{r['rank']}</td><td>{html.escape(r['video_id'])}</td>"
                    f"<td><b style='color:{_move_colour(prev)}'>{move_label(prev)}</b></td><td>{was}</td>"
                    f"<td>{r['scores']['fused']:.3f}</td>{deltas}</tr>")
    left = result.get("previous", {}).get("left") or []
    gone = (f"<p class='note'>Left the top {len(result['results'])}: {html.escape(', '.join(left))}</p>"
            if left else "")
    return (f"<div class='moves'><table><tr><th>rank</th><th>clip</th><th>move</th><th>was</th><th>fused</th>"
            f"{head}</tr>{''.join(rows)}</table>{gone}</div>")


# ---------------------------------------------------------------------------------------------------- compare
def _truth(value: bool | None) -> str:
    if value is None:
        return ""
    return (" <span class='chip' style='background:#15803d'>true of the clip</span>" if value else
            " <span class='chip' style='background:#b91c1c'>false: a perturbation</span>")


def verdict_html(out: dict) -> str:
    """/compare's answer for people: both captions, which one each level prefers and by how much, whether the
    model got it right when the truth is known, and the nodes only one caption has, with their scores."""
    lines = [f"<div class='verdict'><p><b>Clip</b> {html.escape(out['clip'])} ({out['frames']} frames)</p>"]
    for side in CAPTIONS:
        lines.append(f"<p><b>{side.upper()}</b> “{html.escape(out[side]['caption'])}”{_truth(out[side]['true'])}"
                     "</p>")
    truth = next((side for side in CAPTIONS if out[side]["true"]), None)
    rows = []
    for level in LEVELS:
        winner = out["winner"][level]
        margin = abs(out["margin"][level])
        said = "tie" if winner == "tie" else f"<b>{winner.upper()}</b> by {margin:.3f}"
        if truth and winner != "tie":
            said += " ✓" if winner == truth else " ✗ fooled"
        rows.append(f"<tr><td><span class='chip' style='background:{viz.LEVEL_COLOURS[level]}'>{level}</span></td>"
                    f"<td>{out['a']['scores'][level]:.3f}</td><td>{out['b']['scores'][level]:.3f}</td>"
                    f"<td>{said}</td></tr>")
    lines.append("<table><tr><th>level</th><th>A</th><th>B</th><th>preferred</th></tr>" + "".join(rows)
                 + "</table>")
    for side in CAPTIONS:
        nodes = {n["id"]: n for n in out[side]["graph"]["nodes"]}
        only = []
        for node_id in out[side]["differs"]:
            node = nodes[node_id]
            score = out[side]["nodes"].get(node_id, {}).get("score")
            role = "action" if node["level"] == "action" else node["role"]
            only.append(f"{html.escape(role)} ‘{html.escape(' '.join(node['words']))}’"
                        + (f" (r = {score:.3f})" if score is not None else " (not read by the model)"))
        if only:
            lines.append(f"<p>Only in {side.upper()}: {'; '.join(only)}</p>")
    lines.append("<p class='note'>r: a node's own similarity to the frames it attends to (Eq. 12); the action and "
                 "entity scores pool their nodes' r.</p></div>")
    return "".join(lines)
