"""Build a demo world on disk: videos/<id>.mp4, world.json (ground truth), captions.json and splits.json.

    hgr demo-world build --out /tmp/world --seed 0 --clips 1600

Everything is a function of the seed and the config: the same arguments give the same JSON bytes and the same
frames (and, with the pinned imageio-ffmpeg binary, the same mp4 bytes; see docs/demo_world.md).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from hgr.atomic import atomic_write_text
from hgr.demo_world.captions import clip_captions
from hgr.demo_world.render import render_clip
from hgr.demo_world.world import SPLITS, Clip, World, WorldConfig, sample_world, world_to_json
from hgr.errors import CollectionError, VideoError

WORLD_FILES = ("world.json", "captions.json", "splits.json")


def world_captions(world: World) -> dict[str, list[str]]:
    """{video_id: [caption, ...]} for every clip, from the caption grammar."""
    cfg = world.config
    return {vid: [c.text for c in clip_captions(clip, cfg.seed, cfg.captions_min, cfg.captions_max)]
            for vid, clip in world.clips.items()}


def write_video(frames: np.ndarray, path: Path, fps: int, crf: int) -> None:
    """Encode frames as H.264 mp4 with moviepy: one x264 thread, bit-exact flags, no metadata.

    frames: [T, H, W, 3] uint8
    """
    from moviepy import ImageSequenceClip  # imported here: `hgr --help` should not pay for moviepy

    tmp = path.with_name(path.stem + ".part.mp4")
    try:
        ImageSequenceClip(list(frames), fps=fps).write_videofile(
            str(tmp), codec="libx264", audio=False, preset="medium", threads=1, pixel_format="yuv420p",
            ffmpeg_params=["-crf", str(crf), "-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1"],
            logger=None)
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        raise VideoError(f"could not write {path} with moviepy/ffmpeg: {err}") from err
    os.replace(tmp, path)


def _render_and_write(job: tuple[Clip, WorldConfig, str]) -> tuple[str, int]:
    clip, config, path = job
    write_video(render_clip(clip, config), Path(path), config.fps, config.crf)
    return clip.video_id, Path(path).stat().st_size


def _check_out(out: Path) -> None:
    """Refuse to write into a folder that holds anything but an earlier demo world."""
    if not out.exists():
        return
    if not out.is_dir():
        raise CollectionError(f"{out} exists and is not a folder; choose another --out")
    foreign = [p.name for p in out.iterdir() if p.name not in WORLD_FILES + ("videos",)]
    if (out / "videos").is_dir():
        foreign += [f"videos/{p.name}" for p in (out / "videos").iterdir() if not p.name.startswith("dw")]
    if foreign:
        listed = ", ".join(sorted(foreign)[:5])
        raise CollectionError(f"{out} already holds files that are not a demo world ({listed}); "
                              "choose an empty or new --out folder")


def _dump(path: Path, payload: object) -> None:
    atomic_write_text(path, json.dumps(payload, ensure_ascii=False, indent=1) + "\n", durable=False)


def build_world(out: str | Path, config: WorldConfig | None = None, workers: int = 1, videos: bool = True,
                progress: Callable[[int, int], None] | None = None) -> World:
    """Generate the world for `config` into `out` and return it (videos are skipped with videos=False)."""
    config = config or WorldConfig()
    out = Path(out)
    _check_out(out)
    world = sample_world(config)
    world.captions = world_captions(world)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    if videos:
        jobs = [(clip, config, str(out / "videos" / f"{vid}.mp4")) for vid, clip in world.clips.items()]
        results: Iterable[tuple[str, int]]
        if workers > 1:
            pool = ProcessPoolExecutor(workers)
            results = pool.map(_render_and_write, jobs, chunksize=4)
        else:
            pool, results = None, map(_render_and_write, jobs)
        try:
            for done, _ in enumerate(results, 1):
                if progress:
                    progress(done, len(jobs))
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
    for stale in (out / "videos").glob("dw*.mp4"):   # an earlier world's clips in the same folder no longer match
        if not videos or stale.stem not in world.clips:
            stale.unlink()
    _dump(out / "captions.json", world.captions)
    _dump(out / "splits.json", {name: [c.video_id for c in world.split(name)] for name in SPLITS})
    _dump(out / "world.json", world_to_json(world))   # written last: its presence marks a finished build
    return world
