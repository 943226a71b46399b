"""The app's JSON endpoints (docs/api.md): /search (text, or a role graph, and an optional previous query), /captions,
/parse, /compare, /similar and /perturbations, mounted by `hgr.app.ui.build` on a hidden group of the page.

Parameter names here are the API's (gradio_client takes them as keywords, and fills a parameter whose default is
None when it is left out; a plain HTTP call sends every input, null for one not used). Errors reach the client as
`AppError` with the service's message (`views.user_errors`).
"""
from __future__ import annotations

import gradio as gr

from hgr.app.service import DemoService
from hgr.app.views import user_errors


def _given(value):
    """gradio sends '' for an empty text box and None for no file: both mean 'not given'."""
    return None if value in ("", None) else value


class Api:
    """Endpoint functions bound to one DemoService."""

    def __init__(self, service: DemoService) -> None:
        self.service = service

    def search(self, query: str, top_k: float, graph=None, previous=None) -> dict:
        """/search: the ranked videos with per-level scores, the query graph and its attention; `graph` (official
        JSON) replaces the text, `previous` (text or graph) adds each result's rank change and per-level deltas."""
        return user_errors(self.service.search)(query, top_k, _given(graph), _given(previous))

    def captions(self, video: str | None, top_k: float) -> dict:
        """/captions: the collection's captions ranked for an uploaded clip."""
        if not video:
            raise gr.Error("no video file was sent: pass handle_file('clip.mp4')")
        return user_errors(self.service.captions)(video, top_k)

    def parse(self, sentence: str) -> dict:
        """/parse: a sentence's graph and per-layer graph attention."""
        return user_errors(self.service.parse)(sentence)

    def compare(self, caption_a: str, caption_b: str, video_id: str | None = None, video: str | None = None) -> dict:
        """/compare: two captions against one clip, the winner and margin at each level."""
        return user_errors(self.service.compare)(caption_a, caption_b, _given(video), _given(video_id))

    def similar(self, video_id: str | None = None, video: str | None = None, top_k: float | None = None) -> dict:
        """/similar: the collection's clips most like one clip, with per-level scores."""
        return user_errors(self.service.similar)(_given(video), _given(video_id), _given(top_k))

    def perturbations(self, video_id: str, caption: str | None = None) -> dict:
        """/perturbations: a demo-world clip's true caption and one false caption per Table 6 perturbation."""
        return user_errors(self.service.perturbations)(video_id, _given(caption))


def mount(service: DemoService, k_default: int) -> None:
    """Register the endpoints inside the current Blocks, on hidden components that only the API uses."""
    api = Api(service)
    with gr.Group(visible=False):
        query = gr.Textbox()            # a query, a sentence, or caption A
        other = gr.Textbox()            # caption B, or the caption to perturb
        video_id = gr.Textbox()
        top_k = gr.Number(value=k_default, precision=0)
        graph = gr.JSON()
        previous = gr.JSON()            # text or a graph
        video = gr.File(type="filepath")
        out = gr.JSON()
        trigger = gr.Button()
    trigger.click(api.search, [query, top_k, graph, previous], out, api_name="search")
    trigger.click(api.captions, [video, top_k], out, api_name="captions")
    trigger.click(api.parse, [query], out, api_name="parse")
    trigger.click(api.compare, [query, other, video_id, video], out, api_name="compare")
    trigger.click(api.similar, [video_id, video, top_k], out, api_name="similar")
    trigger.click(api.perturbations, [video_id, other], out, api_name="perturbations")
