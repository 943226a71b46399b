"""`hgr index VIDEO_DIR --out COLLECTION`: frame features for a folder of videos, resumable and kill-safe.

    hgr index my_videos/ --out collections/mine --captions captions.json            # EfficientNet-Lite0, 1280-d
    hgr index my_videos/ --out collections/mine-r152 --extractor resnet152 --weights resnet152-394f9c45.pth
    hgr index my_videos/ --out collections/mine --engine ray --address auto         # on a Ray cluster (hgr.index_ray)

Each video: decode the sampled frames (hgr.video_io), preprocess and run the CNN in batches (hgr.features) in
`extract_videos`, stage the features durably (hgr.collection.CollectionWriter). Decoding of the next video overlaps
the CNN on the current one. The engine decides where `extract_videos` runs: here (local) or in a pool of Ray Data
actors (ray); the writing, resuming and report are the same. Re-running skips videos already done; a kill at any
moment loses no video that was reported done.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hgr.collection import CollectionWriter, feature_key
from hgr.collection.captions import match_videos, read_captions
from hgr.errors import HGRError, VideoError
from hgr.features import FrameExtractor, decode_clip, load_extractor, parse_grid
from hgr.video_io import Sampling, list_videos


@dataclass
class IndexReport:
    """What one `index_videos` run did; `summary()` is what the CLI prints."""
    out: Path
    indexed: list[str] = field(default_factory=list)                    # video ids added by this run
    skipped: list[tuple[str, str]] = field(default_factory=list)        # (file, why): done before, not a video
    failed: list[tuple[str, str]] = field(default_factory=list)         # (file, reason): unreadable
    captions_unmatched: list[str] = field(default_factory=list)         # caption ids with no indexed video
    frames: int = 0
    seconds: float = 0.0
    decode_seconds: float = 0.0      # time spent waiting for decoded frames (not hidden by the overlap)
    extract_seconds: float = 0.0     # time in the CNN (engine ray: both summed over the actors)
    interrupted: bool = False

    @property
    def videos_per_s(self) -> float:
        return len(self.indexed) / self.seconds if self.seconds else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def summary(self, limit: int = 20) -> str:
        def listing(items: list[str]) -> list[str]:
            shown = [f"    {x}" for x in items[:limit]]
            return shown + ([f"    ... and {len(items) - limit} more"] if len(items) > limit else [])

        lines = [f"{'interrupted: ' if self.interrupted else ''}indexed {len(self.indexed)} videos "
                 f"({self.frames} frames) in {self.seconds:.1f} s: {self.videos_per_s:.2f} videos/s, "
                 f"{self.frames_per_s:.1f} frames/s -> {self.out}"]
        lines += listing(self.indexed)
        lines.append(f"skipped {len(self.skipped)}")
        lines += listing([f"{f}: {why}" for f, why in self.skipped])
        lines.append(f"failed {len(self.failed)}")
        lines += [f"    {f}: {why}" for f, why in self.failed]
        if self.captions_unmatched:
            lines.append(f"{len(self.captions_unmatched)} caption entries name no indexed video, e.g. "
                         f"{self.captions_unmatched[:3]}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "indexed": self.indexed, "skipped": self.skipped, "failed": self.failed,
                "captions_unmatched": self.captions_unmatched, "frames": self.frames, "seconds": self.seconds,
                "decode_seconds": self.decode_seconds, "extract_seconds": self.extract_seconds,
                "interrupted": self.interrupted}


def _load_captions(captions: dict | str | Path | None) -> dict[str, list[str]] | None:
    if captions is None or isinstance(captions, dict):
        return captions
    return read_captions(captions)                   # JSON {video_id: [caption, ...]} or CSV video,caption


def video_id_for(path: Path, video_dir: Path) -> str:
    """A video's id: its path under the folder, without the extension ('cooking/v1' for cooking/v1.mp4)."""
    return path.relative_to(video_dir).with_suffix("").as_posix()


@dataclass
class ClipOutcome:
    """One video through decode + CNN, from either engine: its features, or why the file failed."""
    path: str
    video_id: str
    features: np.ndarray | None                  # (n, dim) float32; None when the file failed
    regions: np.ndarray | None                   # (n, cells, dim) float32; None without a grid or when failed
    error: str | None = None                     # why the file cannot be indexed (the decoder's words)
    decode_seconds: float = 0.0                  # waiting for its decoded frames
    extract_seconds: float = 0.0                 # in the CNN


def extract_videos(todo: Iterable[tuple[str | Path, str]], cnn: FrameExtractor, sampling: Sampling,
                   grid: tuple[int, int] | None = None, max_duration: float | None = None) -> Iterator[ClipOutcome]:
    """(path, video_id) pairs -> their outcomes in order, decoding video i+1 in a thread while the CNN runs on i.

    The one decode + extract loop of both engines: `index_videos` runs it here, hgr.index_ray in each Ray actor.
    An unreadable file is an outcome with `error` set, never an exception that stops the run."""
    todo = list(todo)
    pool = ThreadPoolExecutor(max_workers=1)

    def submit(i: int) -> Future | None:
        return pool.submit(decode_clip, todo[i][0], cnn, sampling, max_duration) if i < len(todo) else None

    future = submit(0)
    try:
        for i, (path, vid) in enumerate(todo):
            t0 = time.perf_counter()
            clip = None
            error = None
            try:
                clip = future.result()
            except VideoError as err:
                error = str(err).removeprefix(f"{path}: ")
            except Exception as err:  # an unforeseen decoder failure is one file's failure, not the run's
                error = f"{type(err).__name__}: {err}"
            t1 = time.perf_counter()
            future = submit(i + 1)
            if clip is None:
                yield ClipOutcome(str(path), vid, None, None, error, decode_seconds=t1 - t0)
                continue
            feats, regs = cnn.run(clip.frames, grid)                  # (n, dim), (n, cells, dim)
            yield ClipOutcome(str(path), vid, feats, regs, None, t1 - t0, time.perf_counter() - t1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def plan_videos(video_dir: Path, done: set[str], report: IndexReport) -> list[tuple[Path, str]]:
    """The videos under `video_dir` still to index, as (path, video_id); files done before, files that are not
    videos and ids that clash go to the report."""
    videos, others = list_videos(video_dir)
    seen: dict[str, str] = {}
    todo: list[tuple[Path, str]] = []
    for p in videos:
        vid = video_id_for(p, video_dir)
        if vid in done:
            report.skipped.append((str(p), "already indexed"))
        elif feature_key(vid) in seen:
            report.failed.append((str(p), f"same video id as {seen[feature_key(vid)]} (rename one)"))
        else:
            seen[feature_key(vid)] = str(p)
            todo.append((p, vid))
    report.skipped += [(str(p), f"not a video file extension ({p.suffix or 'none'})") for p in others]
    return todo


ENGINES = ("local", "ray")


def index_videos(video_dir: str | Path, out: str | Path, captions: dict | Path | None = None,
                 extractor: str = "efficientnet-lite0", weights: str | Path | None = None, fps: float | None = None,
                 every: int | None = None, max_frames: int | None = 20, regions: str | None = None,
                 device: str = "auto", progress: bool = True, dtype: str = "float16", name: str | None = None,
                 max_duration: float | None = None, batch_size: int = 32, engine: str = "local",
                 address: str | None = None) -> IndexReport:
    """Index every video file under `video_dir` into the collection folder `out` (created or resumed).

    `engine`: 'local' (this process) or 'ray' (Ray Data actors, hgr.index_ray; `address`: None starts a Ray
    cluster on this machine, 'auto', 'HOST:PORT' or 'ray://HOST:PORT' joins one)."""
    from tqdm import tqdm

    import hgr

    video_dir, out = Path(video_dir), Path(out)
    if engine not in ENGINES:
        raise HGRError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise HGRError(f"--address {address!r} names a Ray cluster: it needs --engine ray")
    if engine == "ray":
        from hgr import index_ray

        address = index_ray.check_address(address)     # a typo fails here, before any model or Ray loads
    try:
        sampling = Sampling(max_frames=max_frames, fps=fps, every=every)
        grid = parse_grid(regions)
    except ValueError as err:
        raise HGRError(str(err)) from None
    caption_data = _load_captions(captions)
    # engine ray: the CNN runs in the actors; here it is loaded on the CPU only for what the manifest records
    cnn = load_extractor(extractor, weights, "cpu" if engine == "ray" else device, batch_size)
    created_with = {"hgr": hgr.__version__, "command": "hgr index"}
    report = IndexReport(out)
    started = time.perf_counter()
    with CollectionWriter(out, extractor=cnn.describe(), dim=cnn.spec.dim, sampling=sampling.to_dict(), name=name,
                          dtype=dtype, regions=list(grid) if grid else None, created_with=created_with) as writer:
        todo = plan_videos(video_dir, writer.done_ids, report)
        if engine == "ray":
            outcomes = index_ray.extract_on_ray(todo, cnn, sampling, grid, max_duration, device, address)
        else:
            outcomes = extract_videos(todo, cnn, sampling, grid, max_duration)
        bar = tqdm(total=len(todo), unit="video", disable=not progress, dynamic_ncols=True)
        try:
            for outcome in outcomes:
                report.decode_seconds += outcome.decode_seconds
                report.extract_seconds += outcome.extract_seconds
                if outcome.error is not None:
                    report.failed.append((outcome.path, outcome.error))
                else:
                    writer.add(outcome.video_id, outcome.features, outcome.regions, source=outcome.path)  # durable
                    report.indexed.append(outcome.video_id)
                    report.frames += len(outcome.features)
                bar.update(1)
                elapsed = time.perf_counter() - started
                bar.set_postfix(frames_per_s=f"{report.frames / elapsed:.1f}", failed=len(report.failed))
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            bar.close()
            outcomes.close()                            # stops the decoding thread, or the Ray job
            if caption_data is not None:
                mapped, report.captions_unmatched = match_videos(caption_data, writer.done_ids)
                writer.set_captions(mapped)
            report.seconds = time.perf_counter() - started
    return report


# ----------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video_dir", type=Path, help="folder of video files (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="collection folder to create or resume")
    parser.add_argument("--captions", type=Path, help="JSON {video_id: [caption, ...]} or CSV (video, caption); ids "
                        "are file paths under VIDEO_DIR without extension; `hgr captions` adds role graphs and splits")
    parser.add_argument("--extractor", default="efficientnet-lite0", choices=["efficientnet-lite0", "resnet152"])
    parser.add_argument("--weights", type=Path, help="local weights file (required for resnet152: torchvision's)")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--fps", type=float, help="sample this many frames per second (capped by --max-frames)")
    rate.add_argument("--every", type=int, help="sample every N-th frame (capped by --max-frames)")
    parser.add_argument("--max-frames", type=int, default=20, help="frames per video, spread uniformly over the "
                        "clip (default 20); with --fps/--every the cap (0 = no cap)")
    parser.add_argument("--regions", choices=["1x2", "2x1", "2x2"], help="also store grid-cell features")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"], help="stored feature type")
    parser.add_argument("--name", help="collection name (default: the folder name)")
    parser.add_argument("--max-duration", type=float, help="skip videos longer than this many seconds")
    parser.add_argument("--batch-size", type=int, default=32, help="frames per CNN batch")
    parser.add_argument("--engine", default="local", choices=ENGINES, help="where decoding and the CNN run: this "
                        "process (local) or a pool of Ray Data actors, one GPU each when the cluster has GPUs (ray)")
    parser.add_argument("--address", help="with --engine ray: the cluster to join, auto (started here with `ray start "
                        "--head`), HOST:PORT or ray://HOST:PORT (Ray Client); default: start one on this machine")


def main(args: argparse.Namespace) -> int:
    report = index_videos(args.video_dir, args.out, captions=args.captions, extractor=args.extractor,
                          weights=args.weights, fps=args.fps, every=args.every, max_frames=args.max_frames or None,
                          regions=args.regions, device=args.device, dtype=args.dtype, name=args.name,
                          max_duration=args.max_duration, batch_size=args.batch_size, engine=args.engine,
                          address=args.address)
    print(report.summary())
    return 130 if report.interrupted else 0
