"""Search speed at official dims: the official arithmetic and a naive per-video loop vs batched exact vs two-stage vs
FAISS event-level alone.

    python benchmarks/search.py                       # sizes 2990, 10000, 100000
    python benchmarks/search.py --sizes 2990 --json   # last line: the JSON summary
    python benchmarks/search.py --sizes 100000 --pool 500   # a fixed two-stage pool instead of the measured choice

Collections are synthetic at the official dimensions (20 frames per video, 1024-d joint space). Their video
embeddings are drawn from a shared concept structure (each video shows 3 of 300 concepts; frames mix them with
noise) and so are the queries' event/action/entity embeddings, so that levels agree with each other as they do
in a trained model; recall@10 of two-stage and FAISS-alone is measured against exact ranking on them. The
two-stage pool is twice the smallest whose recall@10 reaches 0.99 on separate calibration queries
(`Searcher.choose_pool`; the curve is in the JSON); FAISS alone is an exact flat search over event vectors, the
best a dual-encoder user could get. Text encoding time is measured separately on real sentences through the
official-dims text encoder and reported beside. The floor is the time to read every frame embedding once (a
sum over them) in this run.

The baseline of the exact rows is the official code's loop, timed in the same run on the same videos: its
arithmetic (`official_scores` in tests/official_oracle.py, written from the spec's generate_scores: every
frame-phrase cosine materialised, then every attended video vector u = sum_f phi_f V_f) in the official
evaluation's batches of 300 videos, with the caption encoded again for every batch as the official loop does (a
real sentence through the official-dims text encoder). Its scores are checked against the exact ones. Reported
both ways: the loop against our one encoding plus exact scoring, and its arithmetic alone against exact scoring
alone.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hgr.checkpoint import Checkpoint
from hgr.device import resolve_device
from hgr.inputs import caption_inputs, collate_captions
from hgr.model import HGR, TextEmbedding, VideoIndex, preset
from hgr.model.matching import FrameStats
from hgr.search import Searcher, store_frames
from hgr.vocab import Vocabulary

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.official_oracle import OFFICIAL_BATCH, official_scores  # noqa: E402  (the oracle lives with the tests that check it)

SENTENCES = [
    "a dog is chasing a cat across the snowy field", "a man rides a bicycle on the road at night",
    "a horse jumps over a ball on the grass", "two birds are flying above the water",
    "a woman in red is walking her dog on the beach", "a car bumps into a balloon on the road",
]
CONCEPTS, PER_VIDEO, FRAMES, DIM = 300, 3, 20, 1024


def unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1)


def synthetic_index(n: int, concepts: torch.Tensor, gen: torch.Generator, storage: torch.dtype) -> tuple:
    """Video embeddings: event = sum of its concepts + noise; each frame mixes its concepts with noise."""
    chosen = torch.stack([torch.randperm(CONCEPTS, generator=gen)[:PER_VIDEO] for _ in range(n)])   # [n, 3]
    event = concepts[chosen].sum(1) + 0.5 * torch.randn(n, DIM, generator=gen)
    lengths = torch.randint(8, FRAMES + 1, (n,), generator=gen)
    mask = torch.arange(FRAMES)[None] < lengths[:, None]
    levels = []
    for _ in range(2):                                            # action and entity levels
        frames = torch.empty(n, FRAMES, DIM, dtype=storage)
        inv_norms, gram = torch.empty(n, FRAMES), torch.empty(n, FRAMES, FRAMES)
        for start in range(0, n, 2000):                           # bounded float32 temporaries
            stop = min(n, start + 2000)
            mix = torch.rand(stop - start, FRAMES, PER_VIDEO, generator=gen)
            chunk = (torch.einsum("nfc,ncd->nfd", mix, concepts[chosen[start:stop]])
                     + 0.7 * torch.randn(stop - start, FRAMES, DIM, generator=gen))
            chunk[~mask[start:stop]] = 0
            stats = FrameStats.of(chunk, mask[start:stop])
            frames[start:stop] = chunk.to(storage)
            inv_norms[start:stop], gram[start:stop] = stats.inv_norms, stats.gram
        levels.append(FrameStats(frames, inv_norms, gram, mask))
    return VideoIndex(event, levels[0], levels[1]), chosen


def synthetic_queries(q: int, concepts: torch.Tensor, gen: torch.Generator, device: str = "cpu"
                      ) -> list[TextEmbedding]:
    out = []
    for _ in range(q):
        c = concepts[torch.randperm(CONCEPTS, generator=gen)[:PER_VIDEO]]
        actions = torch.zeros(1, 4, DIM)
        entities = torch.zeros(1, 6, DIM)
        actions[0, 0] = c[0] + 0.5 * torch.randn(DIM, generator=gen)
        entities[0, :2] = c[1:] + 0.5 * torch.randn(2, DIM, generator=gen)
        valid_a = torch.tensor([[True, False, False, False]])
        valid_e = torch.tensor([[True, True, False, False, False, False]])
        out.append(TextEmbedding(*(t.to(device) for t in (
            c.sum(0, keepdim=True) + 0.5 * torch.randn(1, DIM, generator=gen), actions, entities, valid_a, valid_e)),
            torch.empty(0), []))
    return out


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        result = fn()
        sync()                                    # a GPU result is ready only when its kernels have run
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def p95(xs: list[float]) -> float:
    return float(np.percentile(xs, 95))


def encode_one(model: HGR, official: bool = False):
    """A function that encodes one real sentence through `model`'s text encoder (what a query costs first).
    `official`: through torch's packed recurrent layer, as the official code does, not our inference-only path."""
    vocab = Vocabulary.build(SENTENCES)
    item = caption_inputs(SENTENCES[0], [{}, []], vocab, model.cfg)
    encoder = model.text_encoder

    def encode() -> TextEmbedding:
        fast = encoder.fast_rnn
        encoder.fast_rnn = None if official else fast
        try:
            return model.encode_text(collate_captions([item]).to(model.device))
        finally:
            encoder.fast_rnn = fast
    return encode


def text_encoding_ms(model: HGR, repeat: int = 20) -> float:
    encode = encode_one(model)
    with torch.no_grad():
        encode()                                                                               # warm-up
        times, _ = timed(encode, repeat)
    return statistics.median(times)


def batch(qs: list[TextEmbedding]) -> TextEmbedding:
    return TextEmbedding(torch.cat([q.event for q in qs]), torch.cat([q.actions for q in qs]),
                         torch.cat([q.entities for q in qs]), torch.cat([q.action_valid for q in qs]),
                         torch.cat([q.entity_valid for q in qs]), torch.empty(0), [])


def protocol_rate(searcher: Searcher, concepts: torch.Tensor, gen: torch.Generator, captions: int
                  ) -> tuple[float, float]:
    """Microseconds per (video, caption) pair of the evaluation protocol's all-pairs scoring (text side encoded):
    ours over every video, and the official arithmetic's over one of its batches of 300 videos (its [Bv, Bc, P, D]
    attended vectors take 6.5 GB at 300 x 1,000, so at most 50 captions here)."""
    qs = synthetic_queries(captions, concepts, gen, str(searcher.device))
    text = batch(qs)
    ms, _ = timed(lambda: searcher.score_encoded(text), 1)
    ours = ms[0] * 1e3 / (len(searcher.video_ids) * captions)
    few, videos = batch(qs[:50]), searcher.index[:OFFICIAL_BATCH]
    ms, _ = timed(lambda: official_scores(videos, few), 1)
    return ours, ms[0] * 1e3 / (len(videos.event) * few.event.shape[0])


def half_storage(searcher: Searcher, qs: list[TextEmbedding], exact) -> dict:
    """Exact ranking with the frame embeddings stored in float16 / bfloat16 against float32 storage: median time,
    recall@10 of the float32 top 10, and the largest change of a fused score."""
    out = {}
    for dtype in (torch.float16, torch.bfloat16):
        half = Searcher(searcher.checkpoint, None, searcher.video_ids, None, storage=dtype)
        half._index = store_frames(searcher.index.to(), dtype)      # new FrameStats: the float32 index is kept
        times, recall, diff = [], [], 0.0
        for t in qs:
            ms, scores = timed(lambda t=t, h=half: torch.from_numpy(h.score_encoded(t)["fused"][:, 0]), 1)
            full = exact(t)
            times += ms
            recall.append(len(set(torch.topk(full, 10).indices.tolist()) & set(torch.topk(scores, 10).indices.tolist()))
                          / 10)
            diff = max(diff, float((scores - full).abs().max()))
        out[str(dtype).replace("torch.", "")] = {"exact_ms": statistics.median(times),
                                                 "recall10": float(np.mean(recall)), "max_abs_diff": diff}
    return out


def run_size(n: int, queries: int, naive_queries: int, official_queries: int, pool: int | None, calibration: int,
             gen: torch.Generator, model: HGR, protocol_captions: int) -> dict:
    device = model.device
    storage = torch.float16 if n > 20_000 else torch.float32
    concepts = unit(torch.randn(CONCEPTS, DIM, generator=gen)) * 4
    index, _ = synthetic_index(n, concepts, gen, storage)
    ckpt = Checkpoint(model, Vocabulary(["<BOS>", "<EOS>", "<UNK>"]))
    searcher = Searcher(ckpt, features=None, video_ids=[f"v{i}" for i in range(n)], graphs=None, storage=storage)
    searcher._index = index = index.to(device)
    qs = synthetic_queries(queries, concepts, gen, str(device))

    def exact(t: TextEmbedding) -> torch.Tensor:
        return torch.from_numpy(searcher.score_encoded(t)["fused"][:, 0])

    def naive(t: TextEmbedding) -> torch.Tensor:                    # one model call per video, as a loop would
        return torch.cat([model.score(searcher._rows(slice(i, i + 1)), t).fused[:, 0] for i in range(n)])

    events = torch.nn.functional.normalize(index.event, dim=1)
    if device.type == "cpu":
        import faiss

        event_index = faiss.IndexFlatIP(DIM)                          # the dual-encoder baseline: events alone
        event_index.add(events.numpy())

        def faiss_only(t: TextEmbedding) -> np.ndarray:
            return event_index.search(torch.nn.functional.normalize(t.event, dim=1).numpy(), 10)[1][0]
    else:                                                             # on a GPU: the same exact search, in torch
        def faiss_only(t: TextEmbedding) -> np.ndarray:
            return torch.topk(events @ torch.nn.functional.normalize(t.event, dim=1)[0], 10).indices.cpu().numpy()

    with torch.no_grad():
        start = time.perf_counter()
        searcher.key_index()                                         # built once, outside the timings
        build_s = time.perf_counter() - start
        curve = None
        if pool is None:                                             # chosen on other queries than those timed
            pool, curve = searcher.choose_pool(batch(synthetic_queries(calibration, concepts, gen, str(device))))
        for t in qs[:2]:                                             # warm-up (GPU kernels, buffers)
            exact(t), searcher.two_stage(t, pool), faiss_only(t)
        exact_times, two_times, faiss_times = [], [], []
        recall_two, recall_faiss = [], []
        for t in qs:
            ms, scores = timed(lambda t=t: exact(t), 1)
            exact_times += ms
            top = set(torch.topk(scores, 10).indices.tolist())
            ms, rows = timed(lambda t=t: searcher.two_stage(t, pool), 1)
            two_times += ms
            recall_two.append(len(top & set(rows.cpu().tolist())) / 10)
            ms, rows = timed(lambda t=t: faiss_only(t), 1)
            faiss_times += ms
            recall_faiss.append(len(top & set(rows.tolist())) / 10)
        naive_times, _ = timed(lambda: naive(qs[0]), naive_queries)
        official_times, official_scoring_times, official_error = [], [], 0.0
        encode = encode_one(model)
        official_encode = encode_one(model, official=True)
        for t in qs[:official_queries]:
            ms, _ = timed(lambda t=t: official_scores(index, t, per_batch=official_encode), 1)
            official_times += ms
            ms, scores = timed(lambda t=t: official_scores(index, t)[:, 0], 1)
            official_scoring_times += ms
            official_error = max(official_error, float((scores.cpu() - exact(t)).abs().max()))
        encode_times, _ = timed(encode, 10)
        official_encode_times, _ = timed(official_encode, 10)
        frames = [index.actions.frames, index.entities.frames]
        floor_times, _ = timed(lambda: [f.sum() for f in frames], 5)
        half = half_storage(searcher, qs, exact) if storage == torch.float32 else {}
        pair_us, official_pair_us = (protocol_rate(searcher, concepts, gen, protocol_captions) if protocol_captions
                                     else (None, None))
    return {"protocol_us_per_pair": pair_us, "official_protocol_us_per_pair": official_pair_us,
            "official_ms": statistics.median(official_times),
            "official_scoring_ms": statistics.median(official_scoring_times), "official_max_abs_diff": official_error,
            "text_encode_ms": statistics.median(encode_times),
            "official_text_encode_ms": statistics.median(official_encode_times),
            "naive_ms": statistics.median(naive_times),
            "exact_ms": statistics.median(exact_times),
            "exact_p95_ms": p95(exact_times), "two_stage_ms": statistics.median(two_times),
            "two_stage_p95_ms": p95(two_times), "faiss_ms": statistics.median(faiss_times),
            "recall10_two_stage": float(np.mean(recall_two)), "recall10_faiss": float(np.mean(recall_faiss)),
            "floor_ms": min(floor_times), "storage": str(storage).replace("torch.", ""), "pool": pool,
            "pool_curve": curve, "key_index_build_s": build_s, "half_storage": half,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **({"peak_gpu_mb": torch.cuda.max_memory_allocated() / 2 ** 20} if device.type == "cuda" else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2990,10000,100000")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--naive-queries", type=int, default=2)
    parser.add_argument("--official-queries", type=int, default=5, help="queries timed through the official arithmetic")
    parser.add_argument("--pool", type=int, help="two-stage candidate pool (default: twice the smallest reaching "
                        "recall@10 0.99 on --calibration-queries other queries, by Searcher.choose_pool)")
    parser.add_argument("--calibration-queries", type=int, default=10)
    parser.add_argument("--protocol-captions", type=int, default=300,
                        help="captions scored against every video to measure the all-pairs rate (smallest size)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the GPU row; FAISS stays on the CPU rows)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)   # internal: one size, JSON out
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cpu":
        import faiss

        faiss.omp_set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = HGR(preset("official", num_words=len(Vocabulary.build(SENTENCES)))).eval().to(resolve_device(args.device))
    if args.one_size:
        print(json.dumps(run_size(args.one_size, args.queries, args.naive_queries, args.official_queries, args.pool,
                                  args.calibration_queries, gen, model, args.protocol_captions)))
        return
    encode_ms = text_encoding_ms(model)
    machine = f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}"
    if model.device.type == "cuda":
        machine += f", {torch.cuda.get_device_name()}"
    print(f"machine: {machine}; text encoding of one query: {encode_ms:.1f} ms (official dims)")
    sizes = {}
    for i, n in enumerate(int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--one-size", str(n), "--queries", str(args.queries), "--naive-queries",
               str(args.naive_queries), "--official-queries", str(args.official_queries),
               "--calibration-queries", str(args.calibration_queries),
               *(["--pool", str(args.pool)] if args.pool else []), "--threads", str(args.threads),
               "--device", args.device,
               "--protocol-captions", str(args.protocol_captions if i == 0 else 0)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        sizes[str(n)] = r
        ours = r["text_encode_ms"] + r["exact_ms"]
        print(f"{n:>7} videos [{r['storage']}]: official loop {r['official_ms']:7.1f} ms against our encoding + exact "
              f"{ours:.1f} ms: {r['official_ms'] / ours:.1f}x | official arithmetic {r['official_scoring_ms']:.1f} ms "
              f"against exact: {r['official_scoring_ms'] / r['exact_ms']:.1f}x (max |diff| "
              f"{r['official_max_abs_diff']:.1e})")
        print(f"        text encoding of one query: ours {r['text_encode_ms']:.1f} ms, torch's packed layer (the "
              f"official loop's) {r['official_text_encode_ms']:.1f} ms")
        print(f"        naive {r['naive_ms']:8.1f} ms | exact {r['exact_ms']:7.1f} ms (p95 {r['exact_p95_ms']:.1f}, "
              f"{r['naive_ms'] / r['exact_ms']:.0f}x naive, "
              f"{r['exact_ms'] / r['floor_ms']:.1f}x floor {r['floor_ms']:.1f} ms) | "
              f"two-stage {r['two_stage_ms']:6.1f} ms "
              f"(pool {r['pool']}, recall@10 {r['recall10_two_stage']:.3f}, {r['exact_ms'] / r['two_stage_ms']:.1f}x "
              f"exact) | faiss alone {r['faiss_ms']:.2f} ms (recall@10 {r['recall10_faiss']:.3f}) | "
              f"peak RSS {r['peak_rss_mb']:.0f} MB" + (f", GPU {r['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in r else "")
              + f" | key index built in {r['key_index_build_s']:.1f} s")
        for dtype, h in r["half_storage"].items():
            print(f"        frames stored in {dtype}: exact {h['exact_ms']:.1f} ms, recall@10 of the float32 top 10 "
                  f"{h['recall10']:.3f}, fused scores change by at most {h['max_abs_diff']:.1e}")
        if r["pool_curve"]:
            print("        pool chosen from calibration recall@10: " + ", ".join(
                f"{p} {v:.3f}" for p, v in r["pool_curve"].items()))
        if r["protocol_us_per_pair"]:
            pairs = 2990 * 59800
            us, official = r["protocol_us_per_pair"], r["official_protocol_us_per_pair"]
            print(f"        all-pairs protocol scoring: {us:.2f} us per video-caption pair (official arithmetic "
                  f"{official:.2f} us, {official / us:.1f}x); at this rate 2,990 x 59,800 pairs take "
                  f"{pairs * us / 1e6 / 60:.0f} min (official arithmetic {pairs * official / 1e6 / 60:.0f} min) plus "
                  f"text encoding")
    summary = {"machine": machine, "text_encode_ms": encode_ms, "sizes": sizes}
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
