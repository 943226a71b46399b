"""Does an IVF index of the first-stage keys keep the true top 10 in the pool? (issue 18: Milvus's index plan)

    python benchmarks/ivf_recall.py                          # 100,000 and 200,000 videos, IP and L2, 60 queries
    python benchmarks/ivf_recall.py --sizes 20000 --metrics IP --queries 20 --json   # quick; last line JSON

The collection is benchmarks/scale.py's synthetic one (same seed, same videos: each shows 3 of 300 concepts), its
frames rounded to float16 as the frame store keeps them; queries are scale.py's query stream. For each size the
truth is the exact fused top 10 of every query (Eq. 13 over all videos). The first stage is FAISS's IndexIVFFlat
built as Milvus Lite 3.2.2 builds IVF_FLAT (`milvus_lite/index/faiss_ivf_flat.py`: a flat quantizer of the metric,
k-means over the segment's keys, one index per segment of at most 100,000 rows, the segments' hits merged), with
`first_stage.index_plan`'s nlist = 4 sqrt(n). Reported: the share of the true top 10 inside the first stage's pool
(what exact re-ranking of the pool can find: the two-stage recall@10) for pools of 100 to 4,000 and nprobe from
nlist / 8 to nlist, beside a flat scan of the same keys. IP is the metric the first stage searches with; L2 ranks
these keys the same way (every video key has norm sqrt 3) but clusters them by plain k-means. No timing: recall
only, so it may run beside other work.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.scale import queries, synthetic_videos  # noqa: E402
from benchmarks.search import DIM, batch  # noqa: E402
from hgr.model import HGR, preset  # noqa: E402
from hgr.search.keys import caption_keys, video_keys  # noqa: E402

POOLS = (100, 200, 400, 1000, 2000, 4000)
SEGMENT_ROWS = 100_000                  # Milvus Lite's largest segment (milvus_lite/constants.py MAX_SEGMENT_ROWS)
PROBE_FRACTIONS = (8, 4, 2, 1)          # nprobe = nlist / f


def keys_and_truth(n: int, seed: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Video keys [n, 3D], caption keys [Q, 3D] and the exact fused scores [n, Q] of the synthetic collection."""
    model = HGR(preset("official", num_words=3)).eval()
    text = batch(queries(seed, count, 0))
    keys, fused = np.empty((n, 3 * DIM), np.float32), np.empty((n, count), np.float32)
    first = 0
    with torch.no_grad():
        for part in synthetic_videos(n, seed):
            for stats in (part.actions, part.entities):
                stats.frames = stats.frames.half()                                 # as the frame store keeps them
            keys[first:first + len(part.event)] = video_keys(part).numpy()
            fused[first:first + len(part.event)] = model.score(part, text).fused.numpy()
            first += len(part.event)
    return keys, caption_keys(text).numpy(), fused


def pool_recall(rows: np.ndarray, truth: list[set]) -> float:
    return float(np.mean([len(t & set(r.tolist())) / len(t) for r, t in zip(rows, truth)]))


def ivf_rows(keys: np.ndarray, qkeys: np.ndarray, nlist: int, metric: str, nprobes: list[int], k: int) -> dict:
    """Rows [Q, k] best first for each nprobe, from one IndexIVFFlat per segment as Milvus Lite builds them."""
    import faiss

    faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "IP" else faiss.METRIC_L2
    segments = []
    for start in range(0, len(keys), SEGMENT_ROWS):
        x = np.ascontiguousarray(keys[start:start + SEGMENT_ROWS])
        index = faiss.IndexIVFFlat(faiss.IndexFlat(x.shape[1], faiss_metric), x.shape[1], min(nlist, len(x)),
                                   faiss_metric)
        index.train(x)
        index.add(x)
        segments.append((start, index))
    out = {}
    for nprobe in nprobes:
        rows, dists = [], []
        for start, index in segments:
            index.nprobe = nprobe
            d, r = index.search(qkeys, k)
            rows.append(np.where(r >= 0, r + start, -1))
            dists.append(d if metric == "IP" else -d)                           # higher is better
        rows, dists = np.concatenate(rows, 1), np.concatenate(dists, 1)
        out[nprobe] = np.take_along_axis(rows, np.argsort(-dists, 1, kind="stable"), 1)[:, :k]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,200000")
    parser.add_argument("--metrics", default="IP,L2")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    args = parser.parse_args()
    import faiss

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    start = time.perf_counter()
    keys, qkeys, fused = keys_and_truth(sizes[-1], args.seed, args.queries)   # smaller sizes: the first rows
    print(f"synthesized {sizes[-1]:,} videos and {args.queries} queries in {time.perf_counter() - start:.0f} s "
          f"({platform.machine()}, {args.threads} threads)", flush=True)
    summary: dict = {"machine": platform.processor() or platform.machine(), "queries": args.queries, "sizes": {}}
    for n in sizes:
        truth = [set(np.argsort(-fused[:n, j], kind="stable")[:10].tolist()) for j in range(args.queries)]
        flat = np.argsort(-(qkeys @ keys[:n].T), 1, kind="stable")[:, :max(POOLS)]
        row = {"flat": {p: pool_recall(flat[:, :p], truth) for p in POOLS}}
        print(f"{n:>9,} videos  flat scan of the keys: " + ", ".join(f"pool {p} {r:.3f}" for p, r in
                                                                   row["flat"].items()), flush=True)
        nlist = int(4 * math.sqrt(n))
        nprobes = [max(1, nlist // f) for f in PROBE_FRACTIONS]
        for metric in args.metrics.split(","):
            t = time.perf_counter()
            found = ivf_rows(keys[:n], qkeys, nlist, metric, nprobes, max(POOLS))
            for nprobe, rows in found.items():
                row[f"{metric} nprobe={nprobe}"] = {p: pool_recall(rows[:, :p], truth) for p in POOLS}
                print(f"{'':>9}         IVF_FLAT {metric} nlist {nlist} nprobe {nprobe:>5} (nlist/{nlist // nprobe}): "
                      + ", ".join(f"pool {p} {r:.3f}" for p, r in row[f"{metric} nprobe={nprobe}"].items()),
                      flush=True)
            print(f"{'':>9}         ({metric}: built and searched in {time.perf_counter() - t:.0f} s)", flush=True)
        summary["sizes"][str(n)] = {"nlist": nlist, "recall_in_pool": row}
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
