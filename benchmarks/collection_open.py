"""How long `Collection.open` takes on a 100k-video collection (it must be well under a second).

    .venv/bin/python benchmarks/collection_open.py                  # 100,000 videos
    .venv/bin/python benchmarks/collection_open.py --videos 10000

The collection is written directly in the documented format (collection.json, features.h5 with one dataset per
video, captions.json with 5 captions each, video_paths.json, a 10% 'test' split). Feature width is kept small
(--dim 16, 20 frames) so the file stays small: opening never reads feature data, so the figure depends on the
number of videos, not on their size.
Baselines in the same run: json.load of the manifest alone and h5py.File of the features alone.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def build(root: Path, n: int, dim: int, frames: int) -> None:
    ids = [f"video{i}" for i in range(n)]
    rng = np.random.default_rng(0)
    block = rng.random((frames, dim)).astype(np.float16)
    with h5py.File(root / "features.h5", "w") as f:
        f.attrs["format"], f.attrs["dim"], f.attrs["num_videos"] = "hgr-collection", dim, n
        for vid in ids:
            f.create_dataset(vid, data=block, chunks=block.shape, compression="gzip", compression_opts=4,
                             shuffle=True)
    manifest = {"format": "hgr-collection", "format_version": 1, "name": "bench", "dim": dim,
                "extractor": {"name": "synthetic", "dim": dim}, "sampling": {"policy": "uniform", "max_frames": 20},
                "dtype": "float16", "regions": None, "frame_counts": {v: frames for v in ids},
                "splits": {"test": ids[: n // 10]}, "video_paths_file": "video_paths.json",
                "captions_file": "captions.json", "role_graphs_file": None}
    (root / "collection.json").write_text(json.dumps(manifest))
    (root / "video_paths.json").write_text(json.dumps({v: f"/data/{v}.mp4" for v in ids}))
    caps = {v: [f"a person does thing {j} in clip {v}" for j in range(5)] for v in ids}
    (root / "captions.json").write_text(json.dumps(caps))


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from hgr.collection import Collection

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        build(root, args.videos, args.dim, args.frames)
        size = sum(p.stat().st_size for p in root.iterdir()) / 1e6
        print(f"built a {args.videos}-video collection ({size:.0f} MB on disk) in {time.perf_counter() - t:.1f} s")

        def open_close():
            Collection.open(root).close()

        first = timed(open_close, 1)[0]
        opens = timed(open_close, args.repeats)
        manifest = timed(lambda: json.loads((root / "collection.json").read_text()), args.repeats)
        h5 = timed(lambda: h5py.File(root / "features.h5", "r").close(), args.repeats)
        coll = Collection.open(root)
        ids = coll.video_ids
        rng = np.random.default_rng(1)
        pick = [ids[i] for i in rng.integers(0, len(ids), 1000)]
        t = time.perf_counter()
        for v in pick:
            coll.features(v)
        per_read = (time.perf_counter() - t) / len(pick)
        t = time.perf_counter()
        n_caps = sum(len(c) for c in coll.captions.values())
        caps_s = time.perf_counter() - t
        med = statistics.median
        print(f"Collection.open           first {first * 1000:7.1f} ms   median of {args.repeats}: "
              f"{med(opens) * 1000:7.1f} ms")
        print(f"  baseline json manifest                 median: {med(manifest) * 1000:7.1f} ms "
              f"(open = {med(opens) / med(manifest):.2f}x)")
        print(f"  baseline h5py.File                     median: {med(h5) * 1000:7.1f} ms")
        print(f"features(video_id), random: {per_read * 1e6:.0f} us per read ({1 / per_read:.0f} videos/s)")
        print(f"captions (lazy, validated on first use): {n_caps} captions in {caps_s * 1000:.0f} ms")
        coll.close()


if __name__ == "__main__":
    main()
