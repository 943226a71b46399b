"""Callbacks of the web app: service JSON -> what each component shows. No layout here (that is ui.py).

Every callback turns an `hgr.errors.HGRError` into `gr.Error` (a message box in the browser, an error string for
API clients) and a service warning into `gr.Warning`; any other failure is reported the same way, so the app
keeps serving.
"""
from __future__ import annotations

import functools
import html

import gradio as gr

from hgr.app import viz
from hgr.app.compare import CAPTIONS
from hgr.app.service import DemoService
from hgr.app.why import EDIT_HINT, changes_html, edit_request, edit_targets, edits_html, move_label, verdict_html
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


def kept_on_error(fn, outputs: int, title: str):
    """A page callback that, when it rejects its input, leaves its `outputs` components as they were and says why in
    one message. Raising gr.Error from a page event marks every output with a red 'Error' badge (the previous
    answer's panels kept it beside their old content) and hid the layer selector; API endpoints still raise."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as err:
            gr.Warning(f"{title}: {err.message}", title=title)      # gradio 6 shows 'Warning' over any title
            return tuple(gr.skip() for _ in range(outputs)) if outputs > 1 else gr.skip()
    return run


def _warn(result: dict) -> None:
    for message in result.get("warnings", []):          # escaped: the toast is HTML, and '<UNK>' is not a tag
        gr.Warning(html.escape(message, quote=False))


def score_chips(scores: dict[str, float]) -> str:
    """The four scores as coloured chips (HTML; numbers only, nothing user-typed)."""
    return " ".join(f"<span class='chip' style='background:{viz.LEVEL_COLOURS[level]}'>{level} "
                    f"{scores[level]:.3f}</span>" for level in LEVELS)


def card_caption(result: dict, moved: str = "") -> str:
    """A result card's caption: (how it moved), rank, clip id and fused score, then what the clip is (its first
    caption or file name) on a second line."""
    return f"{moved}#{result['rank']} {result['video_id']} · {result['scores']['fused']:.3f}\n{result['description']}"


def caveat_html(familiarity: dict | None) -> str:
    """The model's caveat about an input it is out of its depth with (the answer's `familiarity`, see
    `hgr.app.familiarity`) as a line of HTML, escaped (it quotes the user's words); '' when there is none."""
    if not familiarity or not familiarity.get("caveat"):
        return ""
    return ("<p class='caveat' style='background:#fef3c7;color:#78350f;padding:4px 8px;border-radius:4px;"
            f"margin:4px 0'>⚠ {html.escape(familiarity['caveat'], quote=False)}</p>")


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

    def new_search(self, query: str, top_k: float) -> tuple:
        """A typed query from the page: `search`'s outputs, then the editor's history and rank changes emptied (a
        new query starts a new history)."""
        return (*self.search(query, top_k), EDIT_HINT, "")

    def _show(self, result: dict) -> tuple:
        """A text-to-video answer as the tab shows it; a re-ranked answer's gallery says how each clip moved."""
        gallery, shown = [], []
        for i, r in enumerate(result["results"]):
            path = self.service.video_path(r["video_id"])
            if path is not None:
                moved = f"{move_label(r['previous'])} " if "previous" in r else ""
                gallery.append((str(path), card_caption(r, moved)))
                shown.append(i)
        result["gallery"] = shown
        first = self._alignment(result, 0) if result["results"] else (viz.note_html("No video matched."), "")
        note = "" if gallery or not result["results"] else \
            "<p class='note'>This collection has no video files to play; the scores and alignments are below.</p>"
        title = "Edited query graph" if result.get("edits") else "Query graph"
        selected = result["results"][0]["video_id"] if result["results"] else None
        return (result, gallery, viz.scores_html(result["results"]), first[0], note + first[1],
                viz.graph_figure(result, 0, title=title), viz.attention_html(result), _layer_update(result),
                selected)

    def _alignment(self, result: dict, i: int) -> tuple:
        r = result["results"][i]
        title = f"#{r['rank']} {r['video_id']}: which frames each node of the query attended to (φ, Eq. 12)"
        thumbs = self.service.thumbnails(r["video_id"])
        return (viz.alignment_html(r["alignment"], result["graph"], thumbs, title),
                caveat_html(result.get("familiarity"))
                + describe_result(r, f"#{r['rank']} {r['video_id']}: {r['description']}"))

    def select_video(self, result: dict | None, evt: gr.SelectData) -> tuple:
        """A clicked result -> (its alignment, its description, its video id for 'similar clips')."""
        if not result or not result.get("results"):
            return viz.note_html("Search first."), "", None
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
        gallery = [(str(path), card_caption(r))
                   for r in out["results"] if (path := service.video_path(r["video_id"])) is not None]
        info = caveat_html(out.get("familiarity")) + (
                f"<div class='clip-info'>The {len(out['results'])} clips most like <b>{html.escape(out['clip'])}</b> "
                f"({out['frames']} frames). Event: cosine of the two clips' event vectors; action and entity: each "
                "frame's best match in the other clip, averaged both ways, in that level's space; fused: their "
                "mean.</div>")
        title = f"Similarity to {out['clip']} per level (fused = mean of the three)"
        return gallery, viz.scores_html(out["results"], title=title), info

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
        graphs = []
        alignments = []
        for side, other in zip(CAPTIONS, reversed(CAPTIONS)):
            name = side.upper()
            graphs.append(viz.graph_figure(out[side], 0, highlight=out[side]["differs"],
                                           title=f"Caption {name} · red ring: not in {other.upper()}"))
            title = f"Caption {name} on {html.escape(out['clip'])}: frames each node attended to"
            alignments.append(viz.alignment_html(out[side]["alignment"], out[side]["graph"], thumbs, title))
        return (caveat_html(out.get("familiarity")) + verdict_html(out), *graphs, *alignments)

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
        _, result = service.captions_for_features(features, int(top_k), video_id=None if upload else pick)
        result.update(clip=name, thumbnails=thumbs)
        rows = [[r["rank"], r["caption"], r["video_id"] or "", *(round(r["scores"][lv], 3) for lv in LEVELS)]
                for r in result["results"]]
        align, info = self._caption_alignment(result, 0)
        return result, rows, viz.scores_html(result["results"], label_key="caption"), align, info

    def _caption_alignment(self, result: dict, i: int) -> tuple:
        if not result["results"]:
            return viz.note_html("No caption matched."), ""
        r = result["results"][i]
        graph = self.service.caption_graph(r["caption"])
        title = f"{result['clip']} against caption #{r['rank']}: frames each node attended to (φ, Eq. 12)"
        info = caveat_html(result.get("familiarity")) + describe_result(r, f"#{r['rank']} “{r['caption']}” (from "
                                                                        f"{r['video_id']})")
        return viz.alignment_html(r["alignment"], graph, result["thumbnails"], title), info

    def select_caption(self, result: dict | None, evt: gr.SelectData) -> tuple:
        if not result or not result.get("results"):
            return viz.note_html("Find captions first."), ""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return user_errors(self._caption_alignment)(result, min(int(row), len(result["results"]) - 1))

    # ---------------------------------------------------------------------------------------------- explorer
    def explore(self, sentence: str) -> tuple:
        """Sentence -> (state, graph, attention, the graph as a text tree, layer selector)."""
        result = user_errors(self.service.parse)(sentence)
        _warn(result)
        tree = str(RoleGraph.from_json(result["role_graph"]))
        return result, viz.graph_figure(result, 0), viz.attention_html(result), tree, _layer_update(result)


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


def _readable(value) -> str:
    """A model card or manifest value as a person reads it: a dict as 'key value, key value' (nested in
    brackets), a list comma-separated, a float without trailing digits; in a code span, so never markup."""
    def plain(v) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {'(' + plain(x) + ')' if isinstance(x, dict) else plain(x)}" for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return ", ".join(plain(x) for x in v)
        return f"{v:g}" if isinstance(v, float) else str(v)
    return "`" + plain(value).replace("`", "'") + "`"


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
             f"- frame sampling: {_readable(m.get('sampling'))}; the model reads at most {service.cfg.max_frames} "
             "frames per video (the official 'select' rule)",
             "- splits: " + ", ".join(f"{_md(k)} ({len(v):,})" for k, v in c.splits.items()),
             f"- text-to-video search: {service.plan.describe()}; frame embeddings kept in "
             f"{str(service.searcher.storage).replace('torch.', '')}",
             "", "## The model card", f"- checkpoint {_md(ckpt.path.name if ckpt.path else '(in memory)')}"]
    cfg = ckpt.config
    lines.append(f"- architecture: {cfg.rnn_type.upper()} text encoder, {cfg.gcn_layers} graph reasoning layer(s)"
                 f"{' with attention' if cfg.gcn_attention else ''}, joint space {cfg.dim_embed}-d, "
                 f"{cfg.num_words:,} words, {cfg.dim_fts}-d frames, video encoder {_md(cfg.video_encoder)}")
    tables = _metric_tables(ckpt.card)
    for key, value in ckpt.card.items():
        if not any(path == key or path.startswith(key + ".") for path, _ in tables):
            lines.append(f"- {key}: {_readable(value)}")
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
              "each node gathers from each neighbour in a graph reasoning layer.",
              "", "## Asking the model why",
              "- **Edit the query graph and re-rank** (Text → video, under the graph): remove a node, swap an "
              "action's two participants (ARG0 and ARG1, or ARG1 and ARG2), change an edge's role or rewrite a "
              "node's words; the edited graph goes to the text encoder as it is, and each clip's move and score "
              "changes are against the typed query.",
              "- **Compare captions**: two captions on one clip, which one each level prefers and by how much, the "
              "nodes only one of them has (ringed red) and where each looks in the clip. On a demo-world clip, "
              "the paper's Table 6 perturbations of its true caption (binary selection, section 4.5).",
              "- **Similar clips**: clips ranked by the video side alone: the event vectors' cosine, and at the "
              "action and entity levels each frame's best match in the other clip, averaged both ways."]
    return "\n".join(lines)
