"""The frame product of search (`hgr.model.matching.frame_dots`): which way of asking torch for it reads fastest.

    python benchmarks/frame_dots.py                  # 2,990 videos x 20 frames x 1024-d, 1 to 6 phrase columns
    python benchmarks/frame_dots.py --videos 10000 --threads 1 --json

Every phrase column c_q of a query needs v_f . c_q for every frame row v_f of the collection, so exact ranking reads
the frame embeddings once per level at best. Three ways to ask for the same numbers, each timed in this run against
that floor (a plain sum over the frames, which reads them once): one matrix-vector product per column, the product
columns @ frames.T, and frames @ columns.T with the columns as a transposed view (what `frame_dots` does on the CPU;
it pairs a lone column with a zero column). Ratios are to the floor; the JSON summary is the last line.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from hgr.model.matching import frame_dots


def median_ms(fn, repeat: int) -> float:
    fn()                                                                   # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=2990)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--columns", default="1,2,3,4,6")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    frames = torch.randn(args.videos * args.frames, args.dim, generator=gen)       # [N, D]
    floor = median_ms(lambda: frames.sum(), args.repeat)
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}: "
          f"{frames.shape[0]:,} frame rows x {args.dim} ({frames.numel() * 4 / 1e6:.0f} MB), read once in "
          f"{floor:.2f} ms")
    rows = {}
    with torch.no_grad():
        for q in (int(c) for c in args.columns.split(",")):
            columns = torch.randn(q, args.dim, generator=gen)                     # [Q, D]
            torch.testing.assert_close(frame_dots(frames, columns), columns @ frames.T, atol=1e-4, rtol=1e-5)
            ways = {"mv_per_column": lambda c=columns: [torch.mv(frames, col) for col in c],
                    "columns_at_frames_T": lambda c=columns: c @ frames.T,
                    "frame_dots": lambda c=columns: frame_dots(frames, c)}
            rows[q] = {name: median_ms(fn, args.repeat) for name, fn in ways.items()}
            print(f"{q} column(s): " + " | ".join(f"{name} {ms:.2f} ms ({ms / floor:.2f}x floor)"
                                                  for name, ms in rows[q].items()))
    if args.json:
        print(json.dumps({"threads": args.threads, "rows": frames.shape[0], "floor_ms": floor, "columns": rows}))


if __name__ == "__main__":
    main()
