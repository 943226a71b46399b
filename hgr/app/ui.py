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
from hgr.app.views import Views, about_markdown, caveat_html, kept_on_error
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
#captions table, #captions .header-table, #captions .virtual-row {font-family: var(--font) !important}
/* graph attention and frame alignment (viz.attention_html, viz.alignment_html): tables that scroll inside their
   box, never the page */
.att-box {overflow-x: auto; width: 0; min-width: 100%}   /* the panel's width: wider tables scroll inside it */
.attention table, .alignment table {border-collapse: separate; border-spacing: 2px; font-size: 12px;
  line-height: 1.25}
/* no prose grid lines */
.attention table, .alignment table, .attention th, .attention td, .alignment th, .alignment td {border: none !important}
.attention th, .alignment th {font-weight: 500; white-space: nowrap; text-align: left; padding: 0 4px}
th.att-role {font-size: 11px; padding-right: 2px}
.attention th.att-col {vertical-align: bottom; border-top: 3px solid; padding: 2px 0}
.attention th.att-col span {writing-mode: vertical-rl; transform: rotate(180deg); display: inline-block}
.attention td {min-width: 38px; padding: 0; text-align: center; vertical-align: middle}
.attention td.att-none {background: #f3f4f6}
.attention td div {padding: 1px 3px}
.attention td.att-moved {outline: 2px solid #dc2626; outline-offset: -1px}
.alignment th.al-frame {font-weight: 400; font-size: 11px; text-align: center; padding: 0 1px 2px 1px}
.alignment th.al-frame img {width: 64px; height: auto; display: block; margin: auto}
.alignment td {min-width: 40px; padding: 3px 2px; text-align: center}
.attention p, .alignment p, .score-bars p {margin: 4px 0}
.att-title {font-size: 14px}
/* the explorer's graph as text: its long lines scroll inside the box; they laid a phone's page out 762 px wide */
#explorer-tree .codemirror-wrapper {width: 0; min-width: 100%}
/* the About tab: a long identifier breaks; the evaluation table scrolls inside its box (both widened a phone's page) */
#about li code {overflow-wrap: anywhere}
#about table {display: block; overflow-x: auto; width: 0; min-width: 100%}
#about th, #about td {white-space: nowrap}
/* scores (viz.scores_html): one row of four bars per result */
.score-row {margin: 0 0 5px 0}
.score-label {font-size: 12px; line-height: 1.3; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  width: 0; min-width: 100%}   /* as wide as the panel, never wider: a long caption is cut, not the page */
.score-line {display: flex; gap: 8px}             /* event, action, entity, fused side by side */
.score-bars .bar {flex: 1; min-width: 0; display: flex; align-items: center; gap: 4px; height: 12px; font-size: 11px}
.score-bars .bar i {flex: 1; display: block; background: #f3f4f6}   /* the track: 0 to 1 */
.score-bars .bar span {display: block; height: 9px}
.score-bars .bar b {font-weight: 500; width: 34px; text-align: right}
@media (max-width: 640px) {  /* five 100 px gallery columns made a phone's page 612 px wide */
  #results .grid-container, #similar-results .grid-container {--grid-cols: 2 !important}
  #query {min-width: 100% !important}   /* the query box takes the phone's width; top-k goes under it */
  /* plotly's toolbar lay over the plot's label at a phone's width; a touch screen pans and zooms without it */
  .js-plotly-plot .modebar-container {display: none !important}
  #edit-op, #edit-target {min-width: 100% !important}   /* side by side, a phone cut their text under the arrow */
  /* the ranked captions' seven columns laid the page out 477 px wide: they scroll inside their box instead */
  #captions {width: 0 !important; min-width: 100% !important}
  #captions .table-wrap {overflow-x: auto !important}
  #captions .table-wrap > * {min-width: 660px}
}
"""

# Page-wide style that CSS cannot give: gradio scopes CSS's rules to the page's content (.contain), and its messages
# lie outside it. On a phone the messages (a warning about unknown words, a rejected file) sit at the bottom of the
# screen: at the top they covered the title and the collection's line, which a phone shows there after Search.
HEAD = """<style>
@media (max-width: 640px) {
  .toast-wrap {top: auto !important; bottom: calc(12px + env(safe-area-inset-bottom))}
}
</style>"""



def close_preview(gallery: str) -> str:
    """Browser code run as a new answer is asked for: closes the gallery's open clip (the Escape key its preview
    listens to), since gradio's gallery keeps the slot clicked in the last answer open across new values (a stale
    player beside #1's alignment). The inputs go on to the server unchanged."""
    escape = "new KeyboardEvent('keydown', {key: 'Escape', code: 'Escape', bubbles: true})"
    return ("(...inputs) => {document.querySelectorAll('#" + gallery + " .preview').forEach(preview => "
            f"preview.dispatchEvent({escape})); return inputs;}}")


# Browser code run when another tab opens: closes the open messages (gradio's toasts are page-wide, so a warning
# about one tab's input followed the user to the next tab).
CLOSE_MESSAGES = "() => {document.querySelectorAll('.toast-close').forEach(button => button.click());}"


def header_html(service: DemoService) -> str:
    c, card = service.collection, service.checkpoint.card
    extractor = (c.manifest.get("extractor") or {}).get("name", "?")
    model = card.get("name") or (service.checkpoint.path.name if service.checkpoint.path else "checkpoint")
    legend = "".join(f"<span class='legend-chip' style='background:{viz.LEVEL_COLOURS[lv]}'>{lv}</span>"
                     for lv in LEVELS)
    warning = service.parser_warning                               # a sentence on the page: capitalised
    return (f"<div id='hgr-header'><h1>Why does this video match this sentence?</h1>"
            f"<p>Hierarchical Graph Reasoning (Chen et al., CVPR 2020) on <b>{html.escape(c.name)}</b>: "
            f"{len(service.video_ids):,} videos, {len(service.sentences):,} captions, {html.escape(extractor)} "
            f"features, model {html.escape(str(model))}.</p><p>Levels: {legend}</p>"
            f"{caveat_html({'caveat': warning and warning[0].upper() + warning[1:]})}</div>")


MAX_VIDEO_CHOICES = 2000      # a video dropdown's listed ids: every one travels to the browser with the page


def video_dropdown(service: DemoService, label: str, elem_id: str) -> gr.Dropdown:
    """The collection's videos to pick from; typing filters them. Past MAX_VIDEO_CHOICES the rest are not listed,
    but any video id can be typed (the service checks it)."""
    videos = service.video_ids
    more = len(videos) > MAX_VIDEO_CHOICES
    info = (f"type to search the first {MAX_VIDEO_CHOICES:,} of {len(videos):,} videos, or type any video's id"
            if more else f"type to search all {len(videos):,} videos")
    return gr.Dropdown(list(videos[:MAX_VIDEO_CHOICES]), value=None, label=label, info=info, elem_id=elem_id,
                       allow_custom_value=more)


def clip_picker(service: DemoService, name: str) -> tuple[gr.Dropdown, gr.File]:
    """A collection video to pick, or a clip to upload instead (the Compare and Similar tabs' clip)."""
    pick = video_dropdown(service, "Pick a collection video", f"{name}-video")
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
                        scores = gr.HTML(viz.note_html("Scores appear here after a search."), label="Scores",
                                         elem_id="scores")
                with gr.Row(equal_height=False, elem_id="clip-row"):
                    clip_info = gr.HTML(elem_id="clip-info")
                    similar_here = gr.Button("Similar clips to this one →", size="sm", scale=0, min_width=220,
                                             elem_id="similar-selected-btn")
                alignment = gr.HTML(viz.note_html("Frame alignment of the selected clip appears here."),
                                    label="Frame alignment", elem_id="alignment")
                with gr.Row(elem_id="graph-row"):
                    with gr.Column(scale=1):
                        layer = gr.Radio(layers, value=layers[0] if layers else None, visible=len(layers) > 1,
                                         label="Graph attention layer drawn as edge widths")
                        graph = gr.Plot(empty("The query's graph appears here."), label="Query graph",
                                        elem_id="graph")
                    with gr.Column(scale=1):
                        attention = gr.HTML(viz.note_html("Graph attention appears here."), label="Graph attention",
                                            elem_id="attention")
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
                        pick = video_dropdown(service, "…or pick a collection video", "v2t-video")
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
                                             interactive=False, wrap=True, elem_id="captions", max_height=2400,
                                             column_widths=["6%", "40%", "14%", "10%", "10%", "10%", "10%"])
                v2t_info = gr.HTML()
                v2t_alignment = gr.HTML(viz.note_html("The clip's frame alignment appears here."),
                                        label="Frame alignment", elem_id="v2t-alignment")
                v2t_scores = gr.HTML(viz.note_html("Caption scores appear here."), label="Scores", elem_id="v2t-scores")
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
                align_a = gr.HTML(viz.note_html("Caption A's frame alignment appears here."),
                                  label="Frame alignment, A", elem_id="compare-align-a")
                align_b = gr.HTML(viz.note_html("Caption B's frame alignment appears here."),
                                  label="Frame alignment, B", elem_id="compare-align-b")
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
                sim_scores = gr.HTML(viz.note_html("Per-level similarities appear here."), label="Similarity per level",
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
                        ex_attention = gr.HTML(viz.note_html("Graph attention appears here."), label="Graph attention",
                                               elem_id="explorer-attention")
                ex_tree = gr.Code(label="The graph as text (word indices in brackets)", language=None,
                                  elem_id="explorer-tree")
                gr.on([show.click, sentence.submit], kept_on_error(views.explore, 5, "No graph"), [sentence],
                      [ex_state, ex_graph, ex_attention, ex_tree, ex_layer],
                      api_name="ui_parse", api_visibility="undocumented")
                ex_layer.change(views.redraw_graph, [ex_state, ex_layer], [ex_graph], api_visibility="private")

            with gr.Tab("About", id="about"):
                gr.Markdown(about_markdown(service), elem_id="about")

        tabs.change(None, js=CLOSE_MESSAGES, api_visibility="private")   # a tab's messages stay with it
        api.mount(service, k_default)          # the JSON endpoints (docs/api.md), on hidden components
    return demo


def views_levels() -> list[str]:
    return list(LEVELS)


def _duration(seconds: float) -> str:
    """'5 min', '90 s': the upload cap as a person reads it."""
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:.0f} s"
