"""Training step time in one process and in data-parallel processes under torchrun (docs/scale.md, section 5).

    python benchmarks/train_ddp.py                       # 1 process x 1 and 2 threads, 2 processes x 1 thread
    python benchmarks/train_ddp.py --batch-size 64 --steps 10 --json

A synthetic collection at the demo preset's dimensions (1280-d frames, 384-d joint space, bi-LSTM, 2 graph layers)
is written to a temporary folder; each configuration runs `hgr.train.train_step` on the same global batches (the
first step is a warm-up) and reports the median seconds per step of the main process. The global batch is the
same in every configuration (`--batch-size` is global), so the figures compare the time of one optimiser step.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(root: Path, batch_size: int, steps: int) -> dict:
    """Runs in every process (under torchrun when there are several)."""
    from hgr import distributed
    from hgr.collection import Collection
    from hgr.graph import graph_lookup
    from hgr.inputs import caption_inputs, collection_inputs
    from hgr.model import HGR, preset
    from hgr.train import TrainingData, train_step
    from hgr.vocab import Vocabulary

    with distributed.launched(torch.device("cpu")) as world:
        collection = Collection.open(root)
        graphs = graph_lookup(collection.role_graphs)
        pairs = [(v, c) for v in collection.split("train") for c in collection.captions[v]]
        vocab = Vocabulary.build(c for _, c in pairs)
        cfg = preset("demo", dim_fts=collection.dim, num_words=len(vocab))
        torch.manual_seed(0)
        model = HGR(cfg).train()
        load = collection_inputs(collection, cfg)
        data = TrainingData({v: load(v) for v, _ in pairs}, {c: caption_inputs(c, graphs(c), vocab, cfg)
                                                            for _, c in pairs}, {}, cfg, torch.device("cpu"))
        net = distributed.wrap(model, world, torch.device("cpu"))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        draw = torch.Generator().manual_seed(1)
        times = []
        for step in range(steps + 1):
            batch = pairs[(step * batch_size) % len(pairs):][:batch_size]
            start = time.perf_counter()
            train_step(net, optimizer, batch, data, draw, world)
            times.append(time.perf_counter() - start)
        return {"processes": world.size, "threads": torch.get_num_threads(), "step_s": statistics.median(times[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (default 64, the official)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)   # internal: one configuration's process
    args = parser.parse_args()
    if args.worker:
        result = measure(args.worker, args.batch_size, args.steps)
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps(result))
        return

    from tests import synthetic

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic.build(Path(tmp) / "coll", n_train=max(args.batch_size, 64), n_val=4, dim=1280)
        me = [str(Path(__file__).resolve()), "--worker", str(root), "--batch-size", str(args.batch_size),
              "--steps", str(args.steps)]
        torchrun = Path(sys.executable).parent / "torchrun"
        for processes, threads in ((1, 1), (1, 2), (2, 1)):
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            cmd = ([sys.executable, *me] if processes == 1 else
                   [str(torchrun), "--standalone", "--nproc-per-node", str(processes), *me])
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['processes']} process(es) x {row['threads']} thread(s): {row['step_s']:.3f} s a step "
                  f"(global batch {args.batch_size})")
    if args.json:
        print(json.dumps({"batch_size": args.batch_size, "rows": rows}))


if __name__ == "__main__":
    main()
