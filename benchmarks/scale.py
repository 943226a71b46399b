"""Past one machine's memory (issue 18): two-stage search re-ranked from the on-disk frame store, at official dims.

    python benchmarks/scale.py --json                         # 100,000, 200,000 and 300,000 videos (the quiet run)
    python benchmarks/scale.py --sizes 5000 --queries 5 --calibration-queries 5 --cold fresh   # smoke test

Collections are synthetic and built straight into the frame store (`hgr.search.store`), not through video encoding:
the encoded side (event vectors, 20 frames x 1,024 of action and entity embeddings, their Gram matrices) is drawn
from the concept structure of benchmarks/search.py (each video shows 3 of 300 concepts, frames mix them with noise)
and written in float16, with first-stage keys computed from it as `Searcher` does. Queries are encoded captions
drawn from the same concepts; text encoding is not timed here (benchmarks/search.py times it).

The largest size's store is built once; each smaller size is its first videos (video i is the same at every size).
Every figure comes from its own process, so that each peak RSS (VmHWM; a child's ru_maxrss starts from its parent's
RSS at the fork, so it is in the JSON only) is that process's alone:
  build      synthesizing and writing the store (seconds, bytes on disk, bytes per video)
  exact      exact ranking of every query over the largest store, streamed from it in chunks in one pass (works past
             RAM: 300,000 videos are 29 GB); each size's recall reference is its first rows
  faiss      two-stage search: the default first stage (from 50,000 videos a float16 key scan in torch, FAISS below)
             over the stored keys, pool re-ranked from the store exactly;
             pool = `choose_pool` on separate calibration queries; latency p50/p95 warm (second pass over the
             queries) and cold; recall@10 against exact; peak RSS (ru_maxrss and VmHWM) of the searching process
  milvus     the same with the Milvus Lite first stage (hgr/search/first_stage.py), when it is there
  server     (--vector-db milvus://HOST:PORT) the same with a Milvus server's first stage; its collection is dropped
             after the row, and the server's own RSS (a local process named milvus) is reported beside
  in-RAM     today's design as the baseline, where it fits in memory: every video's encoded side held in RAM
  int8       (--int8, smallest size) the store with int8 frames: bytes, recall@10 of its exact and two-stage rankings
             against the float16 exact ranking
Cold: with --cold drop (the default when this process may write /proc/sys/vm/drop_caches) the page cache is dropped
before each cold query, so its pool is read from the disk; with --cold fresh a new process answers the cold
queries, its first touch of each page (the page cache may still hold them: a lower bound). The output says which.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.search import CONCEPTS, DIM, FRAMES, PER_VIDEO, batch, synthetic_queries, unit  # noqa: E402
from hgr.checkpoint import Checkpoint  # noqa: E402
from hgr.model import HGR, VideoIndex, preset  # noqa: E402
from hgr.model.matching import FrameStats  # noqa: E402
from hgr.search import Searcher  # noqa: E402
from hgr.search.exact import top_rows  # noqa: E402
from hgr.search.first_stage import MAX_CANDIDATES  # noqa: E402
from hgr.search.store import FrameStore, Layout, StoreWriter, key_dtype_for  # noqa: E402
from hgr.vocab import Vocabulary  # noqa: E402

CHUNK = 2048                       # videos synthesized and written at once
NOISE_ROWS = 65_536                # rows of the frame noise bank (`noise_bank`)
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def concepts_of(seed: int) -> torch.Tensor:
    return unit(torch.randn(CONCEPTS, DIM, generator=torch.Generator().manual_seed(seed))) * 4


def noise_bank(seed: int) -> torch.Tensor:
    """Gaussian frame noise [NOISE_ROWS, D] drawn once: frames take random rows of it with random signs (drawing
    fresh noise for 20 x 1,024 x 2 values a video made building the store three times slower)."""
    return torch.randn(NOISE_ROWS, DIM, generator=torch.Generator().manual_seed(seed + 1))


def synthetic_part(n: int, concepts: torch.Tensor, noise: torch.Tensor, gen: torch.Generator) -> VideoIndex:
    """`n` videos' encoded side in float32, as `Searcher` hands it to the store (benchmarks/search.py's recipe:
    event = its 3 concepts + noise, each frame a random mix of them + noise)."""
    chosen = torch.rand(n, CONCEPTS, generator=gen).argsort(1)[:, :PER_VIDEO]                     # [n, 3]
    event = concepts[chosen].sum(1) + 0.5 * torch.randn(n, DIM, generator=gen)
    mask = torch.arange(FRAMES)[None] < torch.randint(8, FRAMES + 1, (n,), generator=gen)[:, None]
    levels = []
    for _ in range(2):                                                                          # action, entity
        mix = torch.rand(n, FRAMES, PER_VIDEO, generator=gen)
        rows = torch.randint(0, NOISE_ROWS, (n * FRAMES,), generator=gen)
        signs = (torch.randint(0, 2, (n, FRAMES, 1), generator=gen).float() * 2 - 1) * 0.7 * mask[:, :, None]
        frames = noise[rows].view(n, FRAMES, DIM).mul_(signs)                              # [n, F, D] in place
        frames.baddbmm_(mix * mask[:, :, None], concepts[chosen])                          # + the concepts' mix
        levels.append(FrameStats.of(frames, mask))
    return VideoIndex(event, levels[0], levels[1])


def synthetic_videos(n: int, seed: int) -> Iterator[VideoIndex]:
    """The first `n` videos of this seed's collection, `CHUNK` at a time (video i is the same at any size)."""
    concepts, noise = concepts_of(seed), noise_bank(seed)
    for c, first in enumerate(range(0, n, CHUNK)):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + c)
        part = synthetic_part(CHUNK, concepts, noise, gen)       # always a whole chunk: the same videos at any size
        yield part if first + CHUNK <= n else part[:n - first]


def build(path: Path, n: int, seed: int, storage: str) -> dict:
    """Synthesize `n` videos straight into a frame store at `path`; the same videos for every storage."""
    start = time.perf_counter()
    writer = StoreWriter(path, Layout(FRAMES, DIM, storage, key_dtype_for(n)), n, store_key(seed))
    for part in synthetic_videos(n, seed):
        writer.append(part)
    store = writer.finish()
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in path.iterdir())
    return {"build_s": seconds, "bytes": size, "bytes_per_video": size / n, "videos_per_s": n / seconds,
            "storage": store.layout.storage}


def store_key(seed: int) -> str:
    return f"synthetic seed={seed}"


def open_first(path: str, n: int, seed: int) -> FrameStore:
    """The first `n` videos of the store at `path` (the largest size's store serves every smaller size: video i is
    the same whatever the size, so its first n videos are the n-video collection, byte for byte)."""
    store = FrameStore.open(path, store_key(seed))
    if n > store.videos:
        raise SystemExit(f"{path} holds {store.videos} videos, fewer than {n}")
    return store if n == store.videos else FrameStore(Path(path), {**store.meta, "videos": n})


def queries(seed: int, count: int, offset: int) -> list:
    """Encoded captions `offset ... offset + count` of this seed's query stream (calibration first, then timed)."""
    gen = torch.Generator().manual_seed(seed + 7)
    return synthetic_queries(offset + count, concepts_of(seed), gen)[offset:]


def searcher_on(store: FrameStore, threads: int) -> Searcher:
    """A Searcher over the synthetic store: the official dims' scoring, no video or text encoder used."""
    torch.set_num_threads(threads)
    model = HGR(preset("official", num_words=3)).eval()
    searcher = Searcher(Checkpoint(model, Vocabulary(["<BOS>", "<EOS>", "<UNK>"])), None,
                        [f"v{i}" for i in range(store.videos)], None, storage=torch.float16, store="memory")
    searcher.on_disk = True                                           # the store already holds the encoded side
    searcher._store = store
    return searcher


def peak_rss_mb() -> dict:
    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            out[line.split(":")[0] + "_mb"] = int(line.split()[1]) / 1024
    return out


def server_rss_mb(kind: str) -> dict:
    """RSS and peak RSS of a local Milvus server process (for the server row; {} when there is none here)."""
    if kind != "server":
        return {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "milvus":
                status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines())
                return {"server_rss_mb": int(status["VmRSS"].split()[0]) / 1024,
                        "server_hwm_mb": int(status["VmHWM"].split()[0]) / 1024}
        except (OSError, KeyError, ValueError):
            continue
    return {}


def drop_caches() -> bool:
    try:
        os.sync()
        DROP_CACHES.write_text("1\n")
        return True
    except OSError:
        return False


def recall(found, exact_top: set) -> float:
    return len(exact_top & set(found)) / len(exact_top)


# ------------------------------------------------------------------------------------- one process per figure
def run_exact(args) -> dict:
    """Exact fused scores of every query (calibration and timed) over the store, streamed; saved for the others."""
    store = open_first(args.store, args.n, args.seed)
    searcher = searcher_on(store, args.threads)
    text = batch(queries(args.seed, args.calibration_queries + args.queries, 0))
    start = time.perf_counter()
    with torch.no_grad():
        fused = searcher.score_encoded(text)["fused"]                                   # [n, Q]
    seconds = time.perf_counter() - start
    np.save(args.out, fused)
    return {"exact_s": seconds, "exact_ms_per_query": seconds * 1000 / fused.shape[1], **peak_rss_mb()}


def first_stage(searcher: Searcher, kind: str, workdir: Path, vector_db: str | None = None):
    """Set `searcher`'s first stage to `kind`; returns a note on it."""
    if kind == "faiss":                             # the default first stage: FAISS, or from 50,000 videos a key scan
        return searcher.first_stage.describe(searcher.key_index())
    if kind == "server":                            # a Milvus server: its collection is dropped when this row ends
        import atexit

        searcher.use_vector_db(vector_db)
        index = searcher.key_index()
        atexit.register(index.client.drop_collection, index.name)
        return searcher.first_stage.describe(index)
    from hgr.search import first_stage as milvus  # helper-milvus's module
    return milvus.use_in_benchmark(searcher, workdir)


def run_search(args) -> dict:
    """Two-stage search over the store (or, with --in-ram, over the whole index copied into RAM: today's design)."""
    before = peak_rss_mb()
    store = open_first(args.store, args.n, args.seed)
    searcher = searcher_on(store, args.threads)
    if args.in_ram:                                 # today: every video's encoded side read into RAM, keys from it
        def copy(stats: FrameStats) -> FrameStats:
            return FrameStats(stats.frames.clone(), stats.inv_norms.clone(), stats.gram.clone(), stats.mask.clone())
        whole = store.whole()
        searcher._index = VideoIndex(whole.event.clone(), copy(whole.actions), copy(whole.entities))
        searcher.on_disk = False
        searcher._store = None
        store.release()
    fused = torch.from_numpy(np.load(args.exact, mmap_mode="r")[:args.n].copy())   # [n, Q]: the first n videos
    cal, timed = args.calibration_queries, args.queries
    start = time.perf_counter()
    note = first_stage(searcher, args.first_stage, Path(args.store).parent, args.vector_db)
    key_index_s = time.perf_counter() - start
    after_keys = peak_rss_mb()
    with torch.no_grad():
        if args.pool:
            pool, curve = args.pool, None
        else:
            pool, curve = searcher.choose_pool(batch(queries(args.seed, cal, 0)), fused=fused[:, :cal])
        capped = args.first_stage != "faiss" and pool > MAX_CANDIDATES     # no calibrated pool reached 0.99
        pool = min(pool, MAX_CANDIDATES) if capped else pool
        qs = queries(args.seed, timed, cal)
        exact_top = [set(top_rows(fused[:, cal + j], 10).tolist()) for j in range(timed)]
        cold_ms, cold_recall, cold = [], [], "none"
        if args.cold_queries and args.cold == "drop" and not args.in_ram:
            cold = "page cache dropped before each query"
            for j, q in enumerate(qs[:args.cold_queries]):
                if not drop_caches():
                    cold = "could not drop the page cache"
                    break
                start = time.perf_counter()
                rows = searcher.two_stage(q, pool)
                cold_ms.append((time.perf_counter() - start) * 1000)
                cold_recall.append(recall(rows.tolist(), exact_top[j]))
        elif args.cold_queries and not args.in_ram:
            cold = "first touch in a fresh process (page cache not dropped)"
            for j, q in enumerate(qs[:args.cold_queries]):
                start = time.perf_counter()
                rows = searcher.two_stage(q, pool)
                cold_ms.append((time.perf_counter() - start) * 1000)
                cold_recall.append(recall(rows.tolist(), exact_top[j]))
        for q in qs:                                                               # warm-up pass
            searcher.two_stage(q, pool)
        warm_ms, first_ms, recalls = [], [], []
        for j, q in enumerate(qs):
            start = time.perf_counter()
            rows = searcher.two_stage(q, pool)
            warm_ms.append((time.perf_counter() - start) * 1000)
            recalls.append(recall(rows.tolist(), exact_top[j]))
            start = time.perf_counter()
            searcher.candidates(q, pool)
            first_ms.append((time.perf_counter() - start) * 1000)
        out = {"first_stage": note, "pool": pool, "pool_capped": capped, "pool_curve": curve,
               "key_index_s": key_index_s,
               "warm_p50_ms": statistics.median(warm_ms), "warm_p95_ms": float(np.percentile(warm_ms, 95)),
               "first_stage_p50_ms": statistics.median(first_ms),
               "rerank_p50_ms": statistics.median(warm_ms) - statistics.median(first_ms),
               "recall10": float(np.mean(recalls)), "cold": cold,
               "rss_before_mb": before["VmRSS_mb"], "rss_after_key_index_mb": after_keys["VmRSS_mb"],
               **peak_rss_mb(), **server_rss_mb(args.first_stage)}
        if cold_ms:
            out.update(cold_p50_ms=statistics.median(cold_ms), cold_p95_ms=float(np.percentile(cold_ms, 95)),
                       cold_recall10=float(np.mean(cold_recall)))
        if args.int8_exact:                                    # the int8 store's own exact ranking against float16's
            text = batch(qs)
            own = searcher.score_encoded(text)["fused"]
            out["exact_recall10"] = float(np.mean([recall(top_rows(torch.from_numpy(own[:, j]), 10).tolist(),
                                                          exact_top[j]) for j in range(timed)]))
    return out


# ------------------------------------------------------------------------------------------------- driver
def child(args, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--n", str(args.n), "--seed", str(args.seed), "--threads",
           str(args.threads), "--queries", str(args.queries), "--calibration-queries", str(args.calibration_queries),
           "--cold", args.cold, "--cold-queries", str(args.cold_queries),
           *(["--pool", str(args.pool)] if args.pool else []),
           *(["--vector-db", args.vector_db] if args.vector_db else []), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fits_in_ram(bytes_needed: int) -> bool:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return bytes_needed * 1.3 < int(line.split()[1]) * 1024 * 0.8
    return False


def print_row(name: str, r: dict) -> None:
    if "error" in r:
        print(f"  {name:<8} failed: {r['error']}")
        return
    text = (f"  {name:<8} p50 {r['warm_p50_ms']:6.1f} ms warm (p95 {r['warm_p95_ms']:.1f}; first stage "
            f"{r['first_stage_p50_ms']:.1f}, re-rank {r['rerank_p50_ms']:.1f})")
    if "cold_p50_ms" in r:
        text += f" | cold p50 {r['cold_p50_ms']:.1f} p95 {r['cold_p95_ms']:.1f} ms"
    capped = ", capped: no calibrated pool reached recall@10 0.99: " + ", ".join(
        f"{p} {v:.3f}" for p, v in (r.get("pool_curve") or {}).items()) if r.get("pool_capped") else ""
    text += (f" | recall@10 {r['recall10']:.3f} (pool {r['pool']}{capped}) | peak RSS {r['VmHWM_mb']:.0f} MB (VmHWM) | "
             f"first stage built in {r['key_index_s']:.1f} s ({r['first_stage']})")
    if "exact_recall10" in r:
        text += f" | its exact ranking's recall@10 {r['exact_recall10']:.3f}"
    if "server_hwm_mb" in r:
        text += f" | server RSS {r['server_rss_mb']:.0f} MB (peak {r['server_hwm_mb']:.0f})"
    print(text)


def run(args, sizes: list[int], workdir: Path) -> dict:
    """Build the largest size's store once (each smaller size is its first videos), rank every query exactly over
    it in one streamed pass (each size's reference is its first rows), then search each size in its own processes."""
    largest = max(sizes)
    path, exact = workdir / "store", workdir / "exact.npy"
    shutil.rmtree(path, ignore_errors=True)
    out: dict = {"build": build(path, largest, args.seed, "float16")}
    b = out["build"]
    print(f"built {largest:,} videos in {b['build_s']:.1f} s ({b['videos_per_s']:.0f} videos/s): "
          f"{b['bytes'] / 1e9:.2f} GB on disk, {b['bytes_per_video'] / 1e3:.1f} KB a video "
          "(each smaller size is its first videos)")
    args.n = largest
    out["exact"] = e = child(args, "--role", "exact", "--store", str(path), "--out", str(exact))
    if "error" in e:
        print(f"exact ranking failed: {e['error']}")
        return out
    print(f"exact ranking of {largest:,} videos streamed from the store: {e['exact_ms_per_query']:.0f} ms a query "
          f"({e['exact_s']:.1f} s for {args.calibration_queries + args.queries} queries in one pass), peak RSS "
          f"{e['VmHWM_mb']:.0f} MB")
    for n in sorted(sizes):
        args.n = n
        row: dict = {"bytes": n * b["bytes_per_video"]}
        print(f"{n:>9,} videos ({row['bytes'] / 1e9:.2f} GB on disk):")
        for kind in args.first_stages.split(","):
            row[kind] = child(args, "--role", "search", "--store", str(path), "--exact", str(exact),
                              "--first-stage", kind)
            print_row(kind, row[kind])
        if args.baseline and fits_in_ram(row["bytes"]):
            row["in_ram"] = child(args, "--role", "search", "--store", str(path), "--exact", str(exact), "--in-ram",
                                  "--first-stage", "faiss", "--cold-queries", "0")
            print_row("in-RAM", row["in_ram"])
        else:
            row["in_ram"] = {"skipped": "does not fit in RAM" if args.baseline else "not asked"}
            print(f"  in-RAM   skipped: {row['in_ram']['skipped']}")
        out[str(n)] = row
    if not args.keep:
        shutil.rmtree(path, ignore_errors=True)
    if args.int8:
        n = args.n = min(sizes)
        path8 = workdir / "store-int8"
        shutil.rmtree(path8, ignore_errors=True)
        out["int8_build"] = build(path8, n, args.seed, "int8")
        print(f"int8 store of {n:,} videos: {out['int8_build']['bytes'] / 1e9:.2f} GB "
              f"({out['int8_build']['bytes_per_video'] / 1e3:.1f} KB a video)")
        out["int8"] = child(args, "--role", "search", "--store", str(path8), "--exact", str(exact), "--first-stage",
                            "faiss", "--int8-exact")
        print_row("int8", out["int8"])
        if not args.keep:
            shutil.rmtree(path8, ignore_errors=True)
    exact.unlink(missing_ok=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,200000,300000")
    parser.add_argument("--queries", type=int, default=20, help="timed queries (recall@10 is their mean)")
    parser.add_argument("--calibration-queries", type=int, default=10, help="other queries the pool is chosen on")
    parser.add_argument("--pool", type=int, help="a fixed two-stage pool instead of the calibrated one")
    parser.add_argument("--cold", choices=["auto", "drop", "fresh"], default="auto",
                        help="cold queries: drop the page cache before each (root), or a fresh process's first touch")
    parser.add_argument("--cold-queries", type=int, default=5)
    parser.add_argument("--first-stages", default="auto",
                        help="faiss,milvus,server (auto: milvus too when it is there, server with --vector-db)")
    parser.add_argument("--vector-db", help="milvus://HOST:PORT of a Milvus server for the server row")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the in-RAM row")
    parser.add_argument("--int8", action="store_true", help="also an int8 store, at the smallest size")
    parser.add_argument("--workdir", default="/tmp/hgr-scale", help="where stores are written (and removed)")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    # internal: one figure in its own process
    parser.add_argument("--role", choices=["exact", "search"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--exact", help=argparse.SUPPRESS)
    parser.add_argument("--first-stage", default="faiss", help=argparse.SUPPRESS)
    parser.add_argument("--in-ram", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--int8-exact", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    if args.role:
        print(json.dumps(run_exact(args) if args.role == "exact" else run_search(args)))
        return
    if args.cold == "auto":
        args.cold = "drop" if os.geteuid() == 0 and os.access(DROP_CACHES, os.W_OK) and drop_caches() else "fresh"
    if args.first_stages == "auto":
        try:
            from hgr.search import first_stage  # noqa: F401

            args.first_stages = "faiss,milvus"
        except ImportError:
            args.first_stages = "faiss"
        if args.vector_db:
            args.first_stages += ",server"
    if "server" in args.first_stages.split(",") and not args.vector_db:
        parser.error("the server row needs --vector-db milvus://HOST:PORT")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    machine = f"{platform.machine()} {args.threads} threads, torch {torch.__version__}"
    print(f"machine: {machine}; synthetic encoded side at official dims ({FRAMES} frames x {DIM}, float16), "
          f"not video encoding; cold = {args.cold}; first stages: {args.first_stages}")
    results = run(args, sizes, workdir)
    if not args.keep and not any(workdir.iterdir()):
        workdir.rmdir()
    summary = {"machine": machine, "cold": args.cold, "queries": args.queries, "sizes": results}
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
