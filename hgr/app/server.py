"""`hgr serve` / `python app.py`: load a collection and a checkpoint once, then serve the web app.

    python app.py                                    # the embedded demo: assets/demo, checkpoints/demo.pt
    hgr serve --collection runs/mine --checkpoint runs/mine.pt --port 7860
    hgr serve --official-root ROOT --official-checkpoint epoch.N.th --split tst
    hgr serve --official-root ROOT --checkpoint runs/msrvtt.pt               # ours, from hgr train --official-root
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from hgr.demo_assets import DEMO_CHECKPOINT, DEMO_COLLECTION
from hgr.errors import CheckpointError, CollectionError, HGRError

if TYPE_CHECKING:
    from hgr.app.service import DemoService

DEMO_BUILD_HINT = ("rebuild them with `hgr demo-world ship --work runs/demo` (about an hour on 2 cores), "
                   "or serve your own data with "
                   "--collection DIR --checkpoint FILE, or the official release with --official-root ROOT "
                   "--official-checkpoint FILE")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """What to search: our collection and checkpoint (default: the demo), or the official release."""
    ours = parser.add_argument_group("our collection (default: the embedded demo)")
    ours.add_argument("--collection", type=Path, help=f"collection folder (default {DEMO_COLLECTION})")
    ours.add_argument("--checkpoint", type=Path, help=f"hgr checkpoint (default {DEMO_CHECKPOINT}); with "
                      "--official-root too")
    ours.add_argument("--split", help="search only this split of the collection (default: all videos; "
                      "tst for the official root)")
    off = parser.add_argument_group("the official HGR data release")
    off.add_argument("--official-root", type=Path, help="data root with annotation/, public_split/, ordered_feature/")
    off.add_argument("--official-checkpoint", type=Path, help="official checkpoint file")
    off.add_argument("--features-name", default="resnet152.pth", help="folder under ordered_feature/SA/")
    off.add_argument("--model-json", type=Path, help="the official model.json, when you have it")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs")
    parser.add_argument("--top-k", type=int, default=10, help="results shown by default")
    from hgr.search import HALF_FRAMES_FROM, TWO_STAGE_FROM

    how = parser.add_argument_group("how text-to-video search ranks the collection")
    how.add_argument("--search", default="auto", choices=["auto", "exact", "two-stage"],
                     help=f"exact over every video, or two-stage: a pool of candidates by first-stage key, re-ranked "
                     f"exactly (default auto: two-stage from {TWO_STAGE_FROM:,} videos)")
    how.add_argument("--pool", type=int, help="two-stage candidates (default: measured once on the collection's "
                     "captions, twice the smallest pool whose recall@10 against exact ranking reaches 0.99)")
    how.add_argument("--storage", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                     help=f"dtype of the frame embeddings kept in memory (default auto: float16, half the memory, "
                     f"from {HALF_FRAMES_FROM:,} videos)")
    how.add_argument("--vector-db", help="where two-stage search takes its candidates: milvus://HOST:PORT (a Milvus "
                     "server or cluster) or a Milvus Lite path ending in .db, e.g. COLLECTION/cache/first-stage.db "
                     "(default: the key index in this process; see docs/scale.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per request for torch (default 1: a "
                        "one-sentence query is fastest on one thread, and requests run side by side)")
    parser.add_argument("--concurrency", type=int, default=2, help="requests each endpoint runs at once "
                        "(default 2: see docs/security.md for the load figures behind it)")
    parser.add_argument("--max-duration", type=float, default=300.0, help="longest uploaded clip, seconds")
    parser.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload, MB")


def load_service(args: argparse.Namespace):
    """Open the data and the checkpoint named by `args` and encode them (HGRError with a clear message if not)."""
    import hgr
    from hgr.app.service import AppConfig, DemoService
    from hgr.collection import Collection

    config = AppConfig(top_k=args.top_k, max_duration_s=getattr(args, "max_duration", 300.0),
                       max_upload_mb=getattr(args, "max_upload_mb", 200.0), search=getattr(args, "search", "auto"),
                       pool=getattr(args, "pool", None), storage=getattr(args, "storage", "auto"),
                       vector_db=getattr(args, "vector_db", None))
    if args.official_root or args.official_checkpoint:
        if not args.official_root:
            raise HGRError("--official-checkpoint goes with --official-root ROOT: give both")
        if args.collection:
            raise HGRError("give --official-root or --collection, not both")
        from hgr.official import official_checkpoint, open_official

        collection, ckpt = open_official(args.official_root, official_checkpoint(args), args.split or "tst",
                                         args.features_name, args.model_json, args.device)
        return DemoService(collection, ckpt, collection.video_ids, config)
    collection_dir, checkpoint = args.collection, args.checkpoint
    if collection_dir is None and checkpoint is None:
        missing = [str(p) for p in (DEMO_COLLECTION, DEMO_CHECKPOINT) if not p.exists()]
        if missing:
            raise CollectionError(f"the embedded demo is not built yet ({' and '.join(missing)} missing): "
                                  f"{DEMO_BUILD_HINT}")
        collection_dir, checkpoint = DEMO_COLLECTION, DEMO_CHECKPOINT
    if collection_dir is None or checkpoint is None:
        raise HGRError("--collection and --checkpoint go together: give both (or neither, for the demo)")
    if not Path(collection_dir).is_dir():
        raise CollectionError(f"collection folder not found: {collection_dir}")
    if not Path(checkpoint).is_file():
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    collection = Collection.open(collection_dir)
    ckpt = hgr.load(checkpoint, device=args.device)
    return DemoService.open(collection, ckpt, args.split, config)


def first_stage_note(service: DemoService) -> str | None:
    """A line on the Milvus first stage when --vector-db was given: the collection it searches, or that exact
    search does not use it."""
    if not service.config.vector_db:
        return None
    if service.plan.mode != "two-stage":
        return ("note: --vector-db serves two-stage search only, and this collection is searched exactly: give "
                "--search two-stage (and --pool N) to take candidates from it")
    searcher = service.searcher
    return f"first stage: {searcher.first_stage.describe(searcher.key_index())}"


def main(args: argparse.Namespace) -> int:
    import time

    import torch

    torch.set_num_threads(max(1, args.threads))
    started = time.perf_counter()
    print("loading the collection and the checkpoint ...", flush=True)
    service = load_service(args)
    _ = service.encoded                               # every caption, for video-to-text, before the first request
    print(f"ready in {time.perf_counter() - started:.1f} s: {len(service.video_ids):,} videos and "
          f"{len(service.sentences):,} captions encoded on {service.checkpoint.model.device}", flush=True)
    print(f"search: {service.plan.describe()}", flush=True)
    if note := first_stage_note(service):
        print(note, flush=True)
    if service.parser_warning:
        print(f"warning: {service.parser_warning}", flush=True)
    import gradio as gr

    from hgr.app.ui import CSS, HEAD, build

    folders = service.video_folders()
    # the collection's video folders are served in place (static): gradio would otherwise copy every clip the
    # gallery shows into its cache, per request. They are the only folders served either way.
    gr.set_static_paths(folders)
    demo = build(service)
    demo.queue(default_concurrency_limit=max(1, args.concurrency))
    _, url, _ = demo.launch(server_name=args.host, server_port=args.port, share=False,  # never a public tunnel
                            allowed_paths=folders,
                            max_file_size=f"{service.config.max_upload_mb:g}mb", show_error=True, quiet=True,
                            prevent_thread_lock=True, css=CSS, head=HEAD, footer_links=["api"], run_history=False,
                            theme=gr.themes.Soft(primary_hue="violet", neutral_hue="slate"))
    print(f"HGR demo running at {url} (open it in a browser; Ctrl+C stops it)", flush=True)
    stop = threading.Event()
    threading.Thread(target=warm_frame_strips, args=(service, stop), name="frame-strips", daemon=True).start()
    try:
        demo.block_thread()
    finally:
        stop.set()
        demo.close()
    return 0


def warm_frame_strips(service: DemoService, stop: threading.Event) -> None:
    """Decode (once; they are kept on disk) the frame strips of every video, so no search waits for ffmpeg."""
    import time

    started = time.perf_counter()
    ready, decoded = service.frame_strips.warm(service.video_ids, stop)
    if decoded:
        print(f"frame strips: {ready:,} videos ready, {decoded:,} decoded in {time.perf_counter() - started:.0f} s",
              flush=True)


def run(argv: list[str] | None = None) -> int:
    """`python app.py [options]`: the same as `hgr serve [options]`."""
    from hgr.cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])
