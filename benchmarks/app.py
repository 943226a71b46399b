"""Latency of the web app through gradio_client, against `python app.py` started in a subprocess.

    .venv/bin/python benchmarks/app.py                                   # the embedded demo
    .venv/bin/python benchmarks/app.py --collection DIR --checkpoint FILE
    .venv/bin/python benchmarks/app.py --tiny                            # the tests' six-clip collection

Measures, per request: a text query through the page's own endpoint (/ui_search: ranking plus every figure the
page draws, and the download of every clip its gallery shows), through /search (JSON) and through /search over
plain HTTP (gradio's /gradio_api/call/search: one POST, then one GET of the result, as docs/api.md's curl example
does; gradio_client instead checks for a result every 50 ms); an uploaded 10 s clip
through /captions (decode, CNN features, ranking) and /ui_captions. The baseline, in the same run, is the same work
called in-process (DemoService, no web server).

Asking the model why (issue 17; targets: 100 ms in-process, 300 ms over plain HTTP, on the demo): /compare of a
clip's true caption against its switch-roles perturbation (a demo-world clip; elsewhere a caption of another
clip), /search with an edited graph (the query's last entity removed) and the typed query as `previous` (the
ranking plus the rank changes), and /similar of a collection clip; each in-process and over plain HTTP.
`--only why` times these alone.

The client is gradio_client with ssl_verify=False: the app is plain HTTP on loopback, so no TLS is ever negotiated,
but with its default gradio_client builds a TLS context (loading the CA bundle) for each
HTTP request it makes: two per call plus one per downloaded file. That client cost is printed separately, on the
page endpoint and /search ("gradio_client defaults"), for comparison with figures taken that way.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_clip(path: Path, seconds: float = 10.0, fps: int = 30, size: tuple[int, int] = (640, 360)) -> Path:
    """A 10 s 640x360 H.264 clip: a ball crossing a gradient, the kind of file a user uploads."""
    from moviepy import VideoClip

    w, h = size
    ramp = np.linspace(40, 200, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)

    def frame(t: float) -> np.ndarray:
        img = ramp.copy()
        x = int(t / seconds * (w - 60))
        yy, xx = np.mgrid[:h, :w]
        img[(yy - h // 2) ** 2 + (xx - x - 30) ** 2 < 900] = (230, 60, 40)
        return img.astype(np.uint8)

    VideoClip(frame, duration=seconds).with_fps(fps).write_videofile(str(path), codec="libx264", audio=False,
                                                                     logger=None)
    return path


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return f"{name:<44} median {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms   n={len(ms)}"


def plain_http(http, name: str, data: list) -> dict:
    """An endpoint without gradio_client: POST the call with every input, then GET its result (server-sent events,
    one 'complete')."""
    event = http.post(f"/gradio_api/call/{name}", json={"data": data}).json()["event_id"]
    body = http.get(f"/gradio_api/call/{name}/{event}").text
    assert body.startswith("event: complete"), body[:200]
    return json.loads(body.split("data: ", 1)[1])[0]


def plain_http_search(http, query: str, top_k: int) -> dict:
    return plain_http(http, "search", [query, top_k, None, None])


@dataclass
class WhyRequests:
    """The issue-17 requests timed, made once from the collection: each a list of API inputs in endpoint order."""
    compare: list[list]        # [caption_a, caption_b, video_id, video]
    rerank: list[list]         # [query, top_k, graph, previous]
    similar: list[list]        # [video_id, video, top_k]


def why_requests(service, queries: list[str], top_k: int = 10) -> WhyRequests:
    from hgr.errors import HGRError
    from hgr.graph_edit import remove_node

    videos = [v for v in service.video_ids if service.collection.captions.get(v)]
    videos = videos[:: max(1, len(videos) // len(queries))][:len(queries)]
    compare = []
    for i, video in enumerate(videos):
        try:
            p = service.perturbations(video)
            true, false = p["true"], p["perturbations"].get("switch_roles")
        except HGRError:                                            # not a demo world
            true, false = service.collection.captions[video][0], None
        if false is None:
            false = service.collection.captions[videos[(i + 1) % len(videos)]][0]
        compare.append([true, false, video, None])
    rerank = []
    for query in queries:
        graph = service.prepare(query).graph
        if graph.entities:
            rerank.append(["", top_k, remove_node(graph, graph.entities[-1].name).to_json(), query])
    similar = [[video, None, top_k] for video in videos]
    return WhyRequests(compare, rerank, similar)


def time_why(service, http, requests: WhyRequests) -> list[str]:
    """Each issue-17 request in-process and over plain HTTP (after one warm-up of each); the summary lines."""
    kinds = (("compare", "compare", requests.compare, lambda a, b, v, f: service.compare(a, b, f, v)),
             ("edited-graph re-rank", "search", requests.rerank,
              lambda q, k, g, p: service.search(q, k, graph=g, previous=p)),
             ("similar clips", "similar", requests.similar, lambda v, f, k: service.similar(f, v, k)))
    lines = ["asking why (targets: 100 ms in-process, 300 ms over plain HTTP)"]
    for name, endpoint, data, local in kinds:
        if not data:
            lines.append(f"{name}: nothing to time on this collection")
            continue
        local(*data[0])
        plain_http(http, endpoint, data[0])
        lines.append(summary(f"{name}, in-process", [timed(local, *d) for d in data]))
        lines.append(summary(f"{name}, /{endpoint} over plain HTTP", [timed(plain_http, http, endpoint, d)
                                                                       for d in data]))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=Path)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--tiny", action="store_true", help="use the tests' six-clip collection (built here)")
    parser.add_argument("--queries", type=int, default=30, help="text queries timed (the collection's captions)")
    parser.add_argument("--uploads", type=int, default=3, help="uploads of the 10 s clip timed")
    parser.add_argument("--only", choices=("all", "why"), default="all",
                        help="'why': only compare, re-rank of an edited graph and similar clips")
    args = parser.parse_args()

    import httpx
    import torch
    from gradio_client import Client, handle_file

    import hgr
    from hgr.app.service import DemoService
    from hgr.collection import Collection
    from tests.appfixture import AppProcess, benchmark_data

    collection, checkpoint = benchmark_data(args.tiny, args.collection, args.checkpoint)
    torch.set_num_threads(1)                                  # as the app does (`hgr serve --threads`, default 1)
    print(f"collection {collection}\ncheckpoint {checkpoint}\ntorch threads 1 (app and baseline)")

    service = DemoService(Collection.open(collection), hgr.load(checkpoint, device="cpu"))
    queries = service.sentences[:: max(1, len(service.sentences) // args.queries)][:args.queries]
    why = why_requests(service, queries)

    app = AppProcess("--collection", str(collection), "--checkpoint", str(checkpoint))
    if args.only == "why":
        try:
            with httpx.Client(base_url=app.url, timeout=60) as http:
                lines = time_why(service, http, why)
        finally:
            app.close()
        print(f"{len(service.video_ids)} videos; {len(why.compare)} compares, {len(why.rerank)} edited graphs, "
              f"{len(why.similar)} similar-clips queries, top-10")
        print("\n".join(lines))
        return 0
    clip = write_clip(Path(tempfile.mkdtemp()) / "ten-seconds.mp4")
    try:
        client = Client(app.url, verbose=False, ssl_verify=False)              # plain HTTP: see the docstring
        for q in queries[:3]:                                              # warm-up: caches, lazy imports
            client.predict(q, 10, api_name="/ui_search")
            service.search(q, 10)
        ui = [timed(client.predict, q, 10, api_name="/ui_search") for q in queries]
        api = [timed(client.predict, q, 10, api_name="/search") for q in queries]
        with httpx.Client(base_url=app.url, timeout=60) as http:
            plain_http_search(http, queries[0], 10)                              # warm-up
            plain = [timed(plain_http_search, http, q, 10) for q in queries]
            why_lines = time_why(service, http, why)
        local = [timed(service.search, q, 10) for q in queries]
        default = Client(app.url, verbose=False)                                # a TLS context per HTTP request
        ui_default = [timed(default.predict, q, 10, api_name="/ui_search") for q in queries]
        api_default = [timed(default.predict, q, 10, api_name="/search") for q in queries]
        timed(client.predict, handle_file(str(clip)), 10, api_name="/captions")          # warm-up
        up_api = [timed(client.predict, handle_file(str(clip)), 10, api_name="/captions")
                  for _ in range(args.uploads)]
        up_ui = [timed(client.predict, handle_file(str(clip)), None, 10, api_name="/ui_captions")
                 for _ in range(args.uploads)]
        up_local = [timed(service.captions, clip, 10) for _ in range(args.uploads)]
    finally:
        app.close()

    print(f"{len(service.video_ids)} videos, {len(service.sentences)} captions; "
          f"{len(queries)} text queries, top-10")
    print(summary("text query, page endpoint /ui_search", ui))
    print(summary("text query, JSON /search", api))
    print(summary("text query, /search over plain HTTP", plain))
    print(summary("text query, in-process baseline", local))
    print(f"  /ui_search vs in-process: {statistics.median(ui) / statistics.median(local):.2f}x")
    print(summary("/ui_search, gradio_client defaults", ui_default))
    print(summary("/search, gradio_client defaults", api_default))
    print(summary("10 s 640x360 upload, JSON /captions", up_api))
    print(summary("10 s 640x360 upload, page endpoint", up_ui))
    print(summary("10 s 640x360 upload, in-process baseline", up_local))
    print(f"  /captions vs in-process: {statistics.median(up_api) / statistics.median(up_local):.2f}x")
    print("\n".join(why_lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
