"""The Gradio page: layout and wiring only (callbacks in views.py, logic in service.py, figures in viz.py, the
ask-why tables in why.py).

Tabs: Text → video (with the query graph editor), Video → text, Compare captions, Similar clips, Graph explorer,
About. JSON endpoints (hgr/app/api.py, docs/api.md): /search, /captions, /parse, /compare, /similar,
/perturbations; the tabs' own events are callable too but undocumented.
"""
from __future__ import annotations

import html

import gradio as gr

from hgr.app import api, viz
from hgr.app.service import UPLOAD_EXTENSIONS, DemoService
from hgr.app.views import Views, about_markdown, kept_on_error
from hgr.app.why import EDITS
from hgr.model import LEVELS

CSS = """
.gradio-container {max-width: 1320px !important; margin: auto}
#hgr-header h1 {margin: 0 0 2px 0; font-size: 1.6em}
#hgr-header p {margin: 0; color: #4b5563}
.legend-chip, .chip {display: inline-block; padding: 1px 9px; border-radius: 999px; color: white;
  font-size: 0.85em; margin-right: 4px}
.clip-info {padding: 6px 2px; line-height: 1.9}
.note {color: #6b7280; font-style: italic}
#results .grid-wrap, #similar-results .grid-wrap {min-height: 0 !important}  /* end where their rows do */
/* result cards: the clip's frame, then its caption under it (gradio lays it over the frame, with a play icon) */
.cards .thumbnail-lg {aspect-ratio: auto; height: auto; display: flex; flex-direction: column}
.cards .thumbnail-lg > svg {display: none}
.cards .thumbnail-lg video {aspect-ratio: 4 / 3; height: auto; object-fit: contain; flex: none}
#clip-row {flex-wrap: wrap}  /* on a phone the 'similar clips' button goes under the clip's description */
#clip-info {flex: 1 1 300px !important; min-width: min(300px, 100%) !important}
.cards .grid-container {grid-auto-rows: auto !important; height: auto !important; padding-top: 36px}
.cards .grid-wrap {height: auto !important; max-height: none !important}  /* every card, no inner scroll box */
.cards .thumbnail-lg .caption-label {position: static; max-width: none; border: none; border-radius: 0;
  white-space: pre-line; font-size: 0.8em; line-height: 1.3; padding: 0; margin: 4px 6px; background: none;
  display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden}
.cards .thumbnail-lg:hover .caption-label {opacity: 1}
.moves table, .verdict table {border-collapse: collapse; font-size: 0.92em; margin: 4px 0}
.moves th, .moves td, .verdict th, .verdict td {padding: 3px 10px; border-bottom: 1px solid #e5e7eb; text-align: left}
.moves, .verdict {overflow-x: auto; max-width: calc(100vw - 96px)}  /* a wide table scrolls, not the page */
.verdict p {margin: 4px 0}
.editor-note p {margin: 6px 8px 0 8px}
#tabs .tab-wrapper, #tabs .tab-container {flex-wrap: wrap; height: auto}  /* six tabs wrap on a phone */
@media (max-width: 640px) {  /* five 100 px gallery columns made a phone's page 612 px wide */
  #results .grid-container, #similar-results .grid-container {--grid-cols: 2 !important}
}
"""



def close_preview(gallery: str) -> str:
    """Browser code run as a new answer is asked for: closes the gallery's open clip (the Escape key its preview
    listens to), since gradio's gallery keeps the slot clicked in the last answer open across new values (a stale
    player beside #1's alignment). The inputs go on to the server unchanged."""
    escape = "new KeyboardEvent('keydown', {key: 'Escape', code: 'Escape', bubbles: true})"
    return ("(...inputs) => {document.querySelectorAll('#" + gallery + " .preview').forEach(preview => "
            f"preview.dispatchEvent({escape})); return inputs;}}")


def header_html(service: DemoService) -> str:
    c, card = service.collection, service.checkpoint.card
    extractor = (c.manifest.get("extractor") or {}).get("name", "?")
    model = card.get("name") or (service.checkpoint.path.name if service.checkpoint.path else "checkpoint")
    legend = "".join(f"<span class='legend-chip' style='background:{viz.LEVEL_COLOURS[lv]}'>{lv}</span>"
                     for lv in LEVELS)
    return (f"<div id='hgr-header'><h1>Why does this video match this sentence?</h1>"
            f"<p>Hierarchical Graph Reasoning (Chen et al., CVPR 2020) on <b>{html.escape(c.name)}</b>: "
            f"{len(service.video_ids):,} videos, {len(service.sentences):,} captions, {html.escape(extractor)} "
            f"features, model {html.escape(str(model))}.</p><p>Levels: {legend}</p></div>")


def clip_picker(service: DemoService, name: str) -> tuple[gr.Dropdown, gr.File]:
    """A collection video to pick, or a clip to upload instead (the Compare and Similar tabs' clip)."""
    pick = gr.Dropdown(service.video_ids[:2000], value=None, label="Pick a collection video", elem_id=f"{name}-video")
    upload = gr.File(label="…or upload a clip (used instead when there is one)", file_types=list(UPLOAD_EXTENSIONS),
                     type="filepath", elem_id=f"{name}-upload")
    return pick, upload


def build(service: DemoService) -> gr.Blocks:
    """The whole page for one service."""
    views = Views(service)
    k_default, k_max = service.config.top_k, service.config.max_top_k
    layers = [f"layer {i + 1}" for i in range(service.cfg.gcn_layers)]
    empty = viz.empty_figure
    # analytics off: gradio would otherwise phone home (version check, usage) from a local, offline demo
    with gr.Blocks(title="HGR: video-text retrieval, explained", delete_cache=(3600, 3600),
                   analytics_enabled=False) as demo:
        gr.HTML(header_html(service))
        with gr.Tabs(elem_id="tabs") as tabs:
            # ------------------------------------------------------------------------------ text -> video
            with gr.Tab("Text → video", id="t2v"):
                t2v_state = gr.State(None)          # the shown search's JSON (edits start from its role_graph)
                t2v_selected = gr.State(None)       # the video id of the clicked result, #1 until one is clicked
                with gr.Row(equal_height=False):
                    query = gr.Textbox(label="Describe a video", placeholder="e.g. a dog is chasing a cat",
                                       scale=5, max_lines=2, elem_id="query")
                    top_k = gr.Slider(1, k_max, value=k_default, step=1, label="top-k", scale=1)
                    search = gr.Button("Search", variant="primary", scale=1, elem_id="search-btn")
                examples = gr.Examples([[q] for q in service.examples()], inputs=[query],
                                       label="Example queries") if service.examples() else None
                with gr.Row():
                    with gr.Column(scale=3):
                        gallery = gr.Gallery(label="Ranked clips (click one to play it)",
                                             columns=5, object_fit="contain", allow_preview=True,
                                             elem_id="results", elem_classes="cards")
                    with gr.Column(scale=2):
                        scores = gr.Plot(empty("Scores appear here after a search."), label="Scores",
                                         elem_id="scores")
                with gr.Row(equal_height=False, elem_id="clip-row"):
                    clip_info = gr.HTML(elem_id="clip-info")
                    similar_here = gr.Button("Similar clips to this one →", size="sm", scale=0, min_width=220,
                                             elem_id="similar-selected-btn")
                alignment = gr.Plot(empty("Frame alignment of the selected clip appears here."),
                                    label="Frame alignment", elem_id="alignment")
                with gr.Row(elem_id="graph-row"):
                    with gr.Column(scale=1):
                        layer = gr.Radio(layers, value=layers[0] if layers else None, visible=len(layers) > 1,
                                         label="Graph attention layer drawn as edge widths")
                        graph = gr.Plot(empty("The query's graph appears here."), label="Query graph",
                                        elem_id="graph")
                    with gr.Column(scale=1):
                        attention = gr.Plot(empty("Graph attention appears here."), label="Graph attention")
                with gr.Group(elem_id="editor"):
                    gr.Markdown("**Edit the query graph and re-rank**: the edited graph goes to the text encoder "
                                "as it is (no re-parse); ranks and score changes are against the typed query.",
                                elem_classes="editor-note")
                    with gr.Row(equal_height=True):
                        edit_op = gr.Dropdown([(label, op) for op, label in EDITS.items()], value="remove",
                                              label="Edit", scale=2, elem_id="edit-op")
                        edit_target = gr.Dropdown([], label="Node or edge", scale=3, elem_id="edit-target")
                        edit_value = gr.Textbox(label="New words", visible=False, scale=2, max_lines=1,
                                                elem_id="edit-value")
                        rerank = gr.Button("Apply and re-rank", variant="primary", scale=1, elem_id="rerank-btn")
                    edits = gr.HTML(elem_id="edits")
                    changes = gr.HTML(elem_id="changes")
                outputs = [t2v_state, gallery, scores, alignment, clip_info, graph, attention, layer, t2v_selected]
                outputs += [edits, changes]                                  # the editor's history, rank changes
                new_search = kept_on_error(views.new_search, len(outputs), "Not searched")
                gr.on([search.click, query.submit], new_search, [query, top_k], outputs, js=close_preview("results"),
                      api_name="ui_search", api_visibility="undocumented"
                      ).then(views.edit_targets, [t2v_state, edit_op], [edit_target, edit_value],
                             api_visibility="private")
                if examples is not None:                                  # an example runs when clicked
                    examples.load_input_event.then(new_search, [query, top_k], outputs, js=close_preview("results"),
                                                   api_visibility="private"
                                                   ).then(views.edit_targets, [t2v_state, edit_op],
                                                          [edit_target, edit_value], api_visibility="private")
                edit_op.change(views.edit_targets, [t2v_state, edit_op], [edit_target, edit_value],
                               api_visibility="private")
                rerank_outputs = [*outputs, edit_target, edit_value]
                rerank.click(kept_on_error(views.rerank, len(rerank_outputs), "Not re-ranked"),
                             [t2v_state, edit_op, edit_target, edit_value, top_k], rerank_outputs,
                             js=close_preview("results"), api_name="ui_rerank", api_visibility="undocumented")
                gallery.select(views.select_video, [t2v_state], [alignment, clip_info, t2v_selected],
                               api_visibility="private")
                layer.change(views.redraw_graph, [t2v_state, layer], [graph], api_visibility="private")

            # ------------------------------------------------------------------------------ video -> text
            with gr.Tab("Video → text", id="v2t"):
                v2t_state = gr.State(None)
                with gr.Row():
                    with gr.Column(scale=2):
                        upload = gr.File(label="Upload a clip", file_types=list(UPLOAD_EXTENSIONS), type="filepath",
                                         elem_id="upload")
                        pick = gr.Dropdown(service.video_ids[:2000], value=None, label="…or pick a collection video",
                                           allow_custom_value=False)
                        with gr.Row():
                            v2t_k = gr.Slider(1, k_max, value=k_default, step=1, label="top-k")
                            find = gr.Button("Find captions", variant="primary", elem_id="captions-btn")
                        limits = service.config
                        gr.Markdown(f"{', '.join(e[1:] for e in UPLOAD_EXTENSIONS)}; up to "
                                    f"{_duration(limits.max_duration_s)} and {limits.max_upload_mb:g} MB. The clip is "
                                    "sampled and its features extracted exactly as the collection was indexed; "
                                    "uploads are deleted from the server within two hours.", elem_classes="note")
                    with gr.Column(scale=3):
                        table = gr.Dataframe(headers=["#", "caption", "video", *views_levels()],
                                             label="Captions ranked for the clip (click a row for its alignment)",
                                             interactive=False, wrap=True, elem_id="captions",
                                             column_widths=["6%", "40%", "14%", "10%", "10%", "10%", "10%"])
                v2t_info = gr.HTML()
                v2t_alignment = gr.Plot(empty("The clip's frame alignment appears here."), label="Frame alignment",
                                        elem_id="v2t-alignment")
                v2t_scores = gr.Plot(empty("Caption scores appear here."), label="Scores")
                find.click(kept_on_error(views.captions, 5, "No captions found"), [upload, pick, v2t_k],
                           [v2t_state, table, v2t_scores, v2t_alignment, v2t_info],
                           api_name="ui_captions", api_visibility="undocumented")
                table.select(views.select_caption, [v2t_state], [v2t_alignment, v2t_info], api_visibility="private")

            # ------------------------------------------------------------------------------ compare
            with gr.Tab("Compare captions", id="compare"):
                gr.Markdown("Which of two captions fits a clip, and why: the score of each at every level, the "
                            "nodes only one of them has, and where each looks in the clip. For a clip of the demo "
                            "world, pick one of the paper's Table 6 perturbations of its true caption.",
                            elem_classes="note")
                with gr.Row():
                    with gr.Column(scale=2):
                        cmp_pick, cmp_upload = clip_picker(service, "compare")
                        perturbation = gr.Dropdown([], label="A false caption (Table 6 perturbation of the true one)",
                                                   visible=False, elem_id="perturbation")
                        caption_a = gr.Textbox(label="Caption A", max_lines=2, elem_id="caption-a",
                                               placeholder="e.g. a dog is chasing a cat")
                        caption_b = gr.Textbox(label="Caption B", max_lines=2, elem_id="caption-b",
                                               placeholder="e.g. a cat is chasing a dog")
                        compare = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                    with gr.Column(scale=3):
                        verdict = gr.HTML("<p class='note'>The verdict per level appears here.</p>",
                                          elem_id="verdict")
                with gr.Row():
                    graph_a = gr.Plot(empty("Caption A's graph appears here."), label="Caption A",
                                      elem_id="compare-graph-a")
                    graph_b = gr.Plot(empty("Caption B's graph appears here."), label="Caption B",
                                      elem_id="compare-graph-b")
                align_a = gr.Plot(empty("Caption A's frame alignment appears here."), label="Frame alignment, A",
                                  elem_id="compare-align-a")
                align_b = gr.Plot(empty("Caption B's frame alignment appears here."), label="Frame alignment, B",
                                  elem_id="compare-align-b")
                cmp_pick.change(views.compare_choices, [cmp_pick], [perturbation, caption_a],
                                api_visibility="private")
                perturbation.change(lambda caption: gr.update(value=caption) if caption else gr.update(),
                                    [perturbation], [caption_b], api_visibility="private")
                compare.click(kept_on_error(views.compare, 5, "Not compared"),
                              [cmp_upload, cmp_pick, caption_a, caption_b],
                              [verdict, graph_a, graph_b, align_a, align_b],
                              api_name="ui_compare", api_visibility="undocumented")

            # ------------------------------------------------------------------------------ similar clips
            with gr.Tab("Similar clips", id="similar"):
                with gr.Row():
                    with gr.Column(scale=2):
                        sim_pick, sim_upload = clip_picker(service, "similar")
                        with gr.Row():
                            sim_k = gr.Slider(1, k_max, value=k_default, step=1, label="top-k")
                            find_similar = gr.Button("Find similar clips", variant="primary", elem_id="similar-btn")
                        sim_info = gr.HTML(elem_id="similar-info")
                    with gr.Column(scale=3):
                        sim_gallery = gr.Gallery(label="The most similar clips (fused score)", columns=5,
                                                 object_fit="contain", allow_preview=True, elem_id="similar-results",
                                                 elem_classes="cards")
                sim_scores = gr.Plot(empty("Per-level similarities appear here."), label="Similarity per level",
                                     elem_id="similar-scores")
                sim_outputs = [sim_gallery, sim_scores, sim_info]
                find_similar.click(kept_on_error(views.similar, len(sim_outputs), "No similar clips"),
                                   [sim_upload, sim_pick, sim_k], sim_outputs, js=close_preview("similar-results"),
                                   api_name="ui_similar", api_visibility="undocumented")
            to_similar = [tabs, sim_upload, sim_pick, *sim_outputs]
            similar_here.click(kept_on_error(views.similar_to_selected, len(to_similar), "No similar clips"),
                               [t2v_selected, sim_k], to_similar, js=close_preview("similar-results"),
                               api_visibility="private")

            # ------------------------------------------------------------------------------ graph explorer
            with gr.Tab("Graph explorer", id="explorer"):
                ex_state = gr.State(None)
                with gr.Row(equal_height=True):
                    sentence = gr.Textbox(label="Any sentence", placeholder="e.g. a man is slicing a tomato in a "
                                          "kitchen", scale=5, max_lines=2)
                    show = gr.Button("Show graph", variant="primary", scale=1)
                with gr.Row():
                    with gr.Column():
                        ex_layer = gr.Radio(layers, value=layers[0] if layers else None, visible=len(layers) > 1,
                                            label="Graph attention layer drawn as edge widths")
                        ex_graph = gr.Plot(empty("Type a sentence to see its graph."), label="Graph",
                                           elem_id="explorer-graph")
                    with gr.Column():
                        ex_attention = gr.Plot(empty("Graph attention appears here."), label="Graph attention")
                ex_tree = gr.Code(label="The graph as text (word indices in brackets)", language=None)
                gr.on([show.click, sentence.submit], kept_on_error(views.explore, 5, "No graph"), [sentence],
                      [ex_state, ex_graph, ex_attention, ex_tree, ex_layer],
                      api_name="ui_parse", api_visibility="undocumented")
                ex_layer.change(views.redraw_graph, [ex_state, ex_layer], [ex_graph], api_visibility="private")

            with gr.Tab("About", id="about"):
                gr.Markdown(about_markdown(service))

        api.mount(service, k_default)          # the JSON endpoints (docs/api.md), on hidden components
    return demo


def views_levels() -> list[str]:
    return list(LEVELS)


def _duration(seconds: float) -> str:
    """'5 min', '90 s': the upload cap as a person reads it."""
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:.0f} s"
