"""Frames/s of `hgr index` on this machine, beside frames/s of decoding alone (the ceiling the extractor can approach).

    .venv/bin/python benchmarks/index.py                       # EfficientNet-Lite0, 6 clips of 320x240, 10 s, 30 fps
    .venv/bin/python benchmarks/index.py --extractor resnet152 --videos 2   # random weights: speed only

Stages, each timed over the same synthetic MSR-VTT-sized clips (20 sampled frames per clip, uniform policy):
  decode      moviepy/ffmpeg decoding of the sampled frames (ffmpeg decodes every frame up to the last sample)
  +preprocess decode, then resize / centre crop / normalise (hgr.features.Preprocessing)
  cnn         the CNN alone on preprocessed frames (batches of 32)
  index       the whole `index_videos` run (decoding of the next clip overlaps the CNN, writes the collection)
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def write_clips(folder: Path, n: int, seconds: float, fps: int, size: tuple[int, int]) -> list[Path]:
    from moviepy import VideoClip

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        base = rng.integers(0, 255, 3)

        def frame(t: float, base=base, rng=rng) -> np.ndarray:   # moving blobs on a gradient, some sensor noise
            img = np.empty((h, w, 3), np.float32)
            img[:] = base
            img += (xx[..., None] * 0.3 + yy[..., None] * 0.2)
            for k in range(3):
                cx, cy = (w * (0.2 + 0.3 * k) + 40 * np.sin(t + k)) % w, h / 2 + 50 * np.cos(t * (k + 1))
                img[(xx - cx) ** 2 + (yy - cy) ** 2 < 900] = (255 * (k == 0), 255 * (k == 1), 255 * (k == 2))
            img += rng.normal(0, 4, img.shape)
            return np.clip(img, 0, 255).astype(np.uint8)

        p = folder / f"clip{i:02d}.mp4"
        VideoClip(frame, duration=seconds).with_fps(fps).write_videofile(str(p), codec="libx264", audio=False,
                                                                         logger=None)
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extractor", default="efficientnet-lite0", choices=["efficientnet-lite0", "resnet152"])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-frames", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from hgr.features import ResNet152, decode_clip, load_extractor
    from hgr.indexer import index_videos
    from hgr.video_io import Sampling, read_frames

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "videos").mkdir()
        t0 = time.perf_counter()
        clips = write_clips(tmp / "videos", args.videos, args.seconds, 30, (320, 240))
        print(f"wrote {len(clips)} clips (320x240, {args.seconds:.0f} s, 30 fps) in {time.perf_counter() - t0:.1f} s")
        weights = None
        if args.extractor == "resnet152":
            weights = tmp / "resnet152-random.pth"
            torch.save(ResNet152().state_dict(), weights)
        cnn = load_extractor(args.extractor, weights, args.device)
        sampling = Sampling(max_frames=args.max_frames)

        def timed(fn) -> tuple[float, int]:
            start, frames = time.perf_counter(), 0
            for p in clips:
                frames += fn(p)
            return time.perf_counter() - start, frames

        dec_s, n = timed(lambda p: len(read_frames(p, sampling)[0]))
        decoded = []
        pre_s, _ = timed(lambda p: len(decoded.append(decode_clip(p, cnn, sampling)) or decoded[-1].frames))
        cnn.run(decoded[0].frames)                                   # warm-up at the batch shape used
        start = time.perf_counter()
        for clip in decoded:                                         # one batch per clip, as the indexer does
            cnn.run(clip.frames)
        cnn_fps = n / (time.perf_counter() - start)
        report = index_videos(tmp / "videos", tmp / "coll", extractor=args.extractor, weights=weights,
                              max_frames=args.max_frames, device=args.device, progress=False)
        decode_fps = n / dec_s
        rows = [("decode (sampled frames)", n / dec_s), ("decode + preprocess", n / pre_s), ("cnn only", cnn_fps),
                ("index end-to-end", report.frames_per_s)]
        print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes share them)")
        print(f"extractor {args.extractor} on {cnn.device}, torch threads {torch.get_num_threads()}, "
              f"{n} sampled frames from {len(clips)} clips ({args.max_frames} per clip)")
        print(f"{'stage':<26}{'frames/s':>10}{'vs decode':>11}")
        for name, fps in rows:
            print(f"{name:<26}{fps:>10.1f}{fps / decode_fps:>10.2f}x")
        print(f"index end-to-end: {report.videos_per_s:.2f} videos/s; its time waiting on decoding "
              f"{report.decode_seconds:.1f} s, in the CNN {report.extract_seconds:.1f} s, total {report.seconds:.1f} s")


if __name__ == "__main__":
    main()
