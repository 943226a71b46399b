"""Callbacks of the web app: service JSON -> what each component shows. No layout here (that is ui.py).

Every callback turns an `hgr.errors.HGRError` into `gr.Error` (a message box in the browser, an error string for
API clients) and a service warning into `gr.Warning`; any other failure is reported the same way, so the app
keeps serving.
"""
from __future__ import annotations

import functools
import html
import json

import gradio as gr

from hgr.app import viz
from hgr.app.compare import CAPTIONS
from hgr.app.service import DemoService
from hgr.errors import HGRError
from hgr.graph import RoleGraph
from hgr.model import LEVELS, ROLES


def user_errors(fn):
    """Run a callback; HGRError -> gr.Error with its message (HTML-escaped: the page shows it as HTML)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except HGRError as err:
            raise gr.Error(html.escape(str(err), quote=False), print_exception=False) from None
        except Exception as err:  # the app keeps serving; the message says what failed
            raise gr.Error(html.escape(f"internal error ({type(err).__name__}: {str(err)[:300]}); the app is still "
                                       "running, try again or report this", quote=False)) from err
    return run


def _warn(result: dict) -> None:
    for message in result.get("warnings", []):          # escaped: the toast is HTML, and '<UNK>' is not a tag
        gr.Warning(html.escape(message, quote=False))


def score_chips(scores: dict[str, float]) -> str:
    """The four scores as coloured chips (HTML; numbers only, nothing user-typed)."""
    return " ".join(f"<span class='chip' style='background:{viz.LEVEL_COLOURS[level]}'>{level} "
                    f"{scores[level]:.3f}</span>" for level in LEVELS)


def describe_result(result: dict, title: str) -> str:
    return f"<div class='clip-info'><b>{html.escape(title)}</b><br>{score_chips(result['scores'])}</div>"


def _layer_update(result: dict) -> dict:
    layers = len(result.get("attention") or [])
    return gr.update(choices=[f"layer {i + 1}" for i in range(layers)], value="layer 1" if layers else None,
                     visible=layers > 1)


def layer_index(choice: str | None) -> int:
    try:
        return int(str(choice).split()[-1]) - 1
    except (ValueError, IndexError):
        return 0


class Views:
    """Callbacks bound to one DemoService."""

    def __init__(self, service: DemoService) -> None:
        self.service = service

    # ---------------------------------------------------------------------------------------------- text -> video
    def search(self, query: str, top_k: float) -> tuple:
        """Query -> (state, gallery, scores chart, alignment of result #1, its caption, graph, attention, layers,
        the selected clip)."""
        result = user_errors(self.service.search)(query, int(top_k))
        _warn(result)
        result["base"] = {"query": result["query"], "role_graph": result["role_graph"]}   # what edits start from
        result["edits"] = []
        return self._show(result)

    def _show(self, result: dict) -> tuple:
        """A text-to-video answer as the tab shows it; a re-ranked answer's gallery says how each clip moved."""
        gallery, shown = [], []
        for i, r in enumerate(result["results"]):
            path = self.service.video_path(r["video_id"])
            if path is not None:
                moved = f"{move_label(r['previous'])} " if "previous" in r else ""      # first: captions get cut
                gallery.append((str(path), f"{moved}#{r['rank']} {r['video_id']}"))
                shown.append(i)
        result["gallery"] = shown
        first = self._alignment(result, 0) if result["results"] else (viz.empty_figure("No video matched."), "")
        note = "" if gallery or not result["results"] else \
            "<p class='note'>This collection has no video files to play; the scores and alignments are below.</p>"
        title = "Edited query graph" if result.get("edits") else "Query graph"
        selected = result["results"][0]["video_id"] if result["results"] else None
        return (result, gallery, viz.scores_figure(result["results"]), first[0], note + first[1],
                viz.graph_figure(result, 0, title=title), viz.attention_figure(result), _layer_update(result),
                selected)

    def _alignment(self, result: dict, i: int) -> tuple:
        r = result["results"][i]
        title = f"#{r['rank']} {r['video_id']}: which frames each node of the query attended to (φ, Eq. 12)"
        thumbs = self.service.thumbnails(r["video_id"])
        return (viz.alignment_figure(r["alignment"], result["graph"], thumbs, title),
                describe_result(r, f"#{r['rank']} {r['video_id']}"))

    def select_video(self, result: dict | None, evt: gr.SelectData) -> tuple:
        """A clicked result -> (its alignment, its description, its video id for 'similar clips')."""
        if not result or not result.get("results"):
            return viz.empty_figure("Search first."), "", None
        i = result["gallery"][evt.index] if evt.index < len(result.get("gallery", [])) else 0
        return (*user_errors(self._alignment)(result, i), result["results"][i]["video_id"])

    def redraw_graph(self, result: dict | None, layer: str | None):
        if not result or not result.get("graph"):
            return viz.empty_figure("No graph yet: type a sentence.")
        title = "Edited query graph" if result.get("edits") else "Query graph"
        return viz.graph_figure(result, layer_index(layer), title=title)

    # ---------------------------------------------------------------------------------------------- edit, re-rank
    def edit_targets(self, result: dict | None, op: str | None) -> tuple:
        """The nodes or edges an edit can apply to in the shown query graph, and the value box it needs."""
        choices = edit_targets(result["role_graph"], op) if result and op else []
        value = {"role": ("New role", "e.g. ARG1, ARG2, ARGM-LOC"), "words": ("New words", "e.g. a small cat")}
        label, hint = value.get(op, ("", ""))
        return (gr.update(choices=choices, value=choices[0][1] if choices else None),
                gr.update(visible=op in value, label=label, placeholder=hint, value=""))

    def rerank(self, result: dict | None, op: str | None, target: str | None, value: str, top_k: float) -> tuple:
        """Apply one edit to the shown query graph and search with it (no re-parse): the tab's outputs, then the
        edit history and the rank changes against the typed query."""
        return user_errors(self._rerank)(result, op, target, value, top_k)

    def _rerank(self, result, op, target, value, top_k) -> tuple:
        from hgr.graph_edit import apply_edit, describe_edit

        if not result or "base" not in result:
            raise gr.Error("Search first: edits apply to the query graph of a search.")
        if not target:
            raise gr.Error("Pick what to edit: this graph has no node or edge for that edit.")
        graph = RoleGraph.from_json(result["role_graph"])
        edit = edit_request(op, target, value)
        if op == "role" and edit["role"] and edit["role"] not in ROLES:
            known = ", ".join(r for r in ROLES if r not in ("V", "NOUN"))
            gr.Warning(html.escape(f"{edit['role']} is not a role the model was trained with ({known}): it reads "
                                   "the entity as a plain noun phrase (NOUN)", quote=False))
        history = [*result["edits"], describe_edit(graph, edit)]
        edited = apply_edit(graph, edit)
        base = result["base"]
        new = self.service.search("", int(top_k), graph=edited.to_json(), previous=base["role_graph"])
        _warn(new)
        new.update(base=base, edits=history)
        return (*self._show(new), edits_html(new), changes_html(new), *self.edit_targets(new, op))

    # ---------------------------------------------------------------------------------------------- similar clips
    def similar(self, upload: str | None, pick: str | None, top_k: float) -> tuple:
        """A clip -> (gallery of the most similar clips, their per-level scores, a description)."""
        return user_errors(self._similar)(upload, pick, top_k)

    def _similar(self, upload, pick, top_k) -> tuple:
        if not upload and not pick:
            raise gr.Error("Upload a clip or pick one of the collection's videos first.")
        service = self.service
        out = service.similar(video=service.check_upload(upload) if upload else None,
                              video_id=None if upload else pick, top_k=int(top_k))
        gallery = [(str(path), f"#{r['rank']} {r['video_id']}")
                   for r in out["results"] if (path := service.video_path(r["video_id"])) is not None]
        info = (f"<div class='clip-info'>The {len(out['results'])} clips most like <b>{html.escape(out['clip'])}</b> "
                f"({out['frames']} frames). Event: cosine of the two clips' event vectors; action and entity: each "
                "frame's best match in the other clip, averaged both ways, in that level's space; fused: their "
                "mean.</div>")
        title = f"Similarity to {out['clip']} per level (fused = mean of the three)"
        return gallery, viz.scores_figure(out["results"], title=title), info

    def similar_to_selected(self, selected: str | None, top_k: float) -> tuple:
        """'Similar clips' from a text search: the Similar tab, with the clicked result (#1 until one is clicked)."""
        if not selected:
            raise gr.Error("Search first, then click a result to find the clips most like it.")
        return (gr.Tabs(selected="similar"), gr.update(value=None), gr.update(value=selected),
                *self.similar(None, selected, top_k))

    # ---------------------------------------------------------------------------------------------- compare
    def compare_choices(self, pick: str | None) -> tuple:
        """A picked clip -> the perturbation picker (a demo-world clip's Table 6 false captions) and caption A."""
        if not pick:
            return gr.update(visible=False, choices=[], value=None), gr.update()
        try:
            out = self.service.perturbations(pick)
        except HGRError:                                        # not a demo-world clip: the user types both
            return gr.update(visible=False, choices=[], value=None), gr.update()
        choices = [(f"{kind.replace('_', ' ')}: {caption}", caption) for kind, caption in out["perturbations"].items()]
        return gr.update(visible=bool(choices), choices=choices, value=None), gr.update(value=out["true"])

    def compare(self, upload: str | None, pick: str | None, caption_a: str, caption_b: str) -> tuple:
        """Two captions on one clip -> (verdict, graph A, graph B, alignment A, alignment B)."""
        return user_errors(self._compare)(upload, pick, caption_a, caption_b)

    def _compare(self, upload, pick, caption_a, caption_b) -> tuple:
        if not upload and not pick:
            raise gr.Error("Upload a clip or pick one of the collection's videos first.")
        service = self.service
        path = service.check_upload(upload) if upload else None
        out = service.compare(caption_a, caption_b, video=path, video_id=None if upload else pick)
        for side in CAPTIONS:
            _warn(out[side])
        thumbs = service.upload_thumbnails(path) if path else service.thumbnails(pick)
        graphs, alignments = [], []
        for side, other in zip(CAPTIONS, reversed(CAPTIONS)):
            name = side.upper()
            graphs.append(viz.graph_figure(out[side], 0, height=360, highlight=out[side]["differs"],
                                           title=f"Caption {name} · red ring: not in {other.upper()}"))
            title = f"Caption {name} on {html.escape(out['clip'])}: frames each node attended to"
            alignments.append(viz.alignment_figure(out[side]["alignment"], out[side]["graph"], thumbs, title))
        return (verdict_html(out), *graphs, *alignments)

        # ---------------------------------------------------------------------------------------------- video -> text
    def captions(self, upload: str | None, pick: str | None, top_k: float,
                 progress=gr.Progress()) -> tuple:  # noqa: B008 (gradio's way to ask for a progress bar)
        """Clip -> (state, table, scores chart, alignment of the top caption, its description)."""
        return user_errors(self._captions)(upload, pick, top_k, progress)

    def _captions(self, upload, pick, top_k, progress) -> tuple:
        service = self.service
        if upload:
            progress(0.05, desc="checking the file")
            path = service.check_upload(upload)            # left in place: gradio's cache sweep deletes uploads
            progress(0.15, desc=f"decoding frames and extracting {service.collection.dim}-d features")
            features = service.clip_features(path)
            progress(0.7, desc="thumbnails of the sampled frames")
            thumbs = service.upload_thumbnails(path)
            name = path.name
        elif pick:
            progress(0.1, desc="reading the collection's features")
            features, thumbs, name = service.frame_features(pick), service.thumbnails(pick), pick
        else:
            raise gr.Error("Upload a clip or pick one of the collection's videos first.")
        progress(0.8, desc=f"ranking {len(service.sentences):,} captions")
        _, result = service.captions_for_features(features, int(top_k))
        result.update(clip=name, thumbnails=thumbs)
        rows = [[r["rank"], r["caption"], r["video_id"] or "", *(round(r["scores"][lv], 3) for lv in LEVELS)]
                for r in result["results"]]
        align, info = self._caption_alignment(result, 0)
        return result, rows, viz.scores_figure(result["results"], label_key="caption"), align, info

    def _caption_alignment(self, result: dict, i: int) -> tuple:
        if not result["results"]:
            return viz.empty_figure("No caption matched."), ""
        r = result["results"][i]
        graph = self.service.caption_graph(r["caption"])
        title = f"{result['clip']} against caption #{r['rank']}: frames each node attended to (φ, Eq. 12)"
        info = describe_result(r, f"#{r['rank']} “{r['caption']}” (from {r['video_id']})")
        return viz.alignment_figure(r["alignment"], graph, result["thumbnails"], title), info

    def select_caption(self, result: dict | None, evt: gr.SelectData) -> tuple:
        if not result or not result.get("results"):
            return viz.empty_figure("Find captions first."), ""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return user_errors(self._caption_alignment)(result, min(int(row), len(result["results"]) - 1))

    # ---------------------------------------------------------------------------------------------- explorer
    def explore(self, sentence: str) -> tuple:
        """Sentence -> (state, graph, attention, the graph as a text tree, layer selector)."""
        result = user_errors(self.service.parse)(sentence)
        _warn(result)
        tree = str(RoleGraph.from_json(result["role_graph"]))
        return result, viz.graph_figure(result, 0), viz.attention_figure(result), tree, _layer_update(result)


# ---------------------------------------------------------------------------------------------------- edits
EDITS = {"remove": "remove a node", "swap": "swap ARG0 ↔ ARG1 of an action", "role": "change an edge's role",
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
            if "ARG0" in roles and "ARG1" in roles:
                out.append((f"{said(action.name)}: ARG0 {said(roles['ARG0'])} ↔ ARG1 {said(roles['ARG1'])}",
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
    raise gr.Error("Pick an edit first.")


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
        winner, margin = out["winner"][level], abs(out["margin"][level])
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
            node, score = nodes[node_id], out[side]["nodes"].get(node_id, {}).get("score")
            role = "action" if node["level"] == "action" else node["role"]
            only.append(f"{html.escape(role)} ‘{html.escape(' '.join(node['words']))}’"
                        + (f" (r = {score:.3f})" if score is not None else " (not read by the model)"))
        if only:
            lines.append(f"<p>Only in {side.upper()}: {'; '.join(only)}</p>")
    lines.append("<p class='note'>r: a node's own similarity to the frames it attends to (Eq. 12); the action and "
                 "entity scores pool their nodes' r.</p></div>")
    return "".join(lines)


# ---------------------------------------------------------------------------------------------------- About
def _metric_tables(card: dict, path: str = "", depth: int = 0) -> list[tuple[str, dict]]:
    """Every {t2v, v2t, rsum} block in a model card, with where it was found (e.g. 'val', 'test.levels.fused')."""
    found = []
    if isinstance(card, dict):
        if "t2v" in card and "v2t" in card:
            found.append((path or "metrics", card))
        elif depth < 3:
            for key, value in card.items():
                found += _metric_tables(value, f"{path}.{key}" if path else str(key), depth + 1)
    return found


def _md(value) -> str:
    """A value shown inside Markdown code spans (so names and paths are never read as markup)."""
    return "`" + str(value).replace("`", "'")[:200] + "`"


def about_markdown(service: DemoService) -> str:
    """The About tab: the collection, the model card and the evaluation tables the card holds."""
    c, ckpt = service.collection, service.checkpoint
    m = c.manifest
    ext = m.get("extractor") or {}
    lines = ["## The collection",
             f"- name {_md(c.name)}: {len(service.video_ids):,} videos searched ({len(c):,} in the collection), "
             f"{len(service.sentences):,} unique captions",
             f"- frame features: {_md(ext.get('name', '?'))}, {c.dim}-d"
             + (f", weights {_md(ext['version'])}" if ext.get("version") else ""),
             f"- frame sampling: {_md(m.get('sampling'))}; the model reads at most {service.cfg.max_frames} frames "
             "per video (the official 'select' rule)",
             "- splits: " + ", ".join(f"{_md(k)} ({len(v):,})" for k, v in c.splits.items()),
             f"- text-to-video search: {service.plan.describe()}; frame embeddings kept in "
             f"{str(service.searcher.storage).replace('torch.', '')}",
             "", "## The model card", f"- checkpoint {_md(ckpt.path)}"]
    cfg = ckpt.config
    lines.append(f"- architecture: {cfg.rnn_type.upper()} text encoder, {cfg.gcn_layers} graph reasoning layer(s)"
                 f"{' with attention' if cfg.gcn_attention else ''}, joint space {cfg.dim_embed}-d, "
                 f"{cfg.num_words:,} words, {cfg.dim_fts}-d frames, video encoder {_md(cfg.video_encoder)}")
    tables = _metric_tables(ckpt.card)
    for key, value in ckpt.card.items():
        if not any(path == key or path.startswith(key + ".") for path, _ in tables):
            lines.append(f"- {key}: {_md(value)}")
    if tables:
        lines += ["", "## Evaluation (from the model card)", "",
                  "| where | t2v R@1 | R@5 | R@10 | MedR | v2t R@1 | R@5 | R@10 | MedR | rsum |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for path, t in tables:
            cells = [f"{t[d].get(k, float('nan')):.1f}" for d in ("t2v", "v2t") for k in ("r1", "r5", "r10", "medr")]
            lines.append(f"| {_md(path)} | " + " | ".join(cells) + f" | {t.get('rsum', float('nan')):.1f} |")
    else:
        lines += ["", "_The model card holds no evaluation metrics._"]
    lines += ["", "## How to read the app",
              "The fused score is the mean of the event, action and entity similarities (Eq. 13). The frame "
              "alignment shows φ of Eq. 12: for each action and entity node of the sentence, the softmax over the "
              "video's frames that weights their local similarities. The graph attention is β of Eq. 8: how much "
              "each node gathers from each neighbour in a graph reasoning layer."]
    return "\n".join(lines)
