"""Parse real MSR-VTT captions with each SRL backend in one run: a typed query's latency, throughput over all
captions, share with an action, node counts, failures.

    .venv/bin/python benchmarks/parse.py [--backends transformer spacy] [--path captions.json] [--limit N] [--json]
    .venv/bin/python benchmarks/parse.py --backends transformer transformer-bf16 --limit 4000

`transformer-bf16` is the transformer backend under bfloat16 autocast (transformer_srl.PRECISIONS); run beside
`transformer`, its row counts the captions whose graph differs from float32's.

Each backend parses the same captions in the same run, so the ratios (transformer over spaCy) compare like with
like on whatever CPU runs it. One typed query: `--queries` captions parsed one at a time, p50/p95 (the app's path).
All captions: the transformer backend in one process (torch uses both cores), the spaCy backend in `--workers`
processes (spaCy runs on one core each).
"""
from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

DEFAULT_PATH = "/work/shared/data/captions/msrvtt_trainval_captions.json"


def load_captions(path: str, limit: int | None) -> list[str]:
    data = json.loads(Path(path).read_text())
    captions = [c for caps in data["captions"].values() for c in caps]
    return captions[:limit] if limit else captions


BACKEND = {"name": "transformer"}      # the backend parse_chunk uses (set before the worker pool forks)


@functools.cache
def parser(label: str):
    """The sentence parser a row of the report runs: a backend by name, or transformer-bf16."""
    from hgr.parsing import SentenceParser, default_parser, make_backend
    if label == "transformer-bf16":
        return SentenceParser(make_backend("transformer", precision="bf16"))
    return default_parser(label)


def digest(graph) -> str:
    return hashlib.sha1(json.dumps(graph.to_json(), sort_keys=True).encode()).hexdigest()


def parse_chunk(chunk: list[str]) -> tuple[list[tuple[int, int]], list[str], list[str]]:
    """(actions, entities) per caption, the errors (a caption that raised) as text, and each graph's digest."""
    backend = parser(BACKEND["name"])
    try:
        graphs = backend.parse_many(chunk)
        return [(len(g.actions), len(g.entities)) for g in graphs], [], [digest(g) for g in graphs]
    except Exception:       # fall back to one by one to name the caption that failed
        counts, errors, digests = [], [], []
        for caption in chunk:
            try:
                g = backend.parse(caption)
                counts.append((len(g.actions), len(g.entities)))
                digests.append(digest(g))
            except Exception as err:  # noqa: BLE001 (the benchmark reports every failure)
                counts.append((0, 0))
                digests.append("")
                errors.append(f"{caption!r}: {type(err).__name__}: {err}")
        return counts, errors, digests


def warm_up() -> None:
    parser(BACKEND["name"]).parse("a dog chases a cat")


def run_backend(backend: str, captions: list[str], args) -> dict:
    BACKEND["name"] = backend
    t = time.perf_counter()
    warm_up()
    load_s = time.perf_counter() - t
    query_ms = []
    for caption in captions[-args.queries:]:           # not the first captions, which the bulk pass sees first
        t = time.perf_counter()
        parser(backend).parse(caption)
        query_ms.append(1000 * (time.perf_counter() - t))
    query_ms.sort()
    workers = 1 if backend.startswith("transformer") else args.workers
    chunks = [captions[i:i + args.chunk] for i in range(0, len(captions), args.chunk)]
    t = time.perf_counter()
    if workers > 1:
        with mp.get_context("fork").Pool(workers, initializer=warm_up) as pool:
            results = pool.map(parse_chunk, chunks)
    else:
        results = [parse_chunk(c) for c in chunks]
    total_s = time.perf_counter() - t
    counts = [c for r, _, _ in results for c in r]
    errors = [e for _, es, _ in results for e in es]
    actions = [a for a, _ in counts]
    nodes = [a + e for a, e in counts]
    return {
        "captions": len(captions),
        "processes": workers,
        "load_s": round(load_s, 2),
        "query_ms_p50": round(statistics.median(query_ms), 1),
        "query_ms_p95": round(query_ms[int(0.95 * (len(query_ms) - 1))], 1),
        "total_s": round(total_s, 1),
        "captions_per_s": round(len(captions) / total_s, 1),
        "projected_140k_min": round(140_200 / (len(captions) / total_s) / 60, 2),
        "share_with_action": round(sum(a > 0 for a in actions) / len(actions), 4),
        "actions_mean": round(statistics.mean(actions), 2),
        "entities_mean": round(statistics.mean(e for _, e in counts), 2),
        "nodes_p50_p90_p99": [sorted(nodes)[int(q * (len(nodes) - 1))] for q in (0.5, 0.9, 0.99)],
        "actions_hist": dict(sorted(collections.Counter(min(a, 6) for a in actions).items())),
        "errors": len(errors),
        "first_errors": errors[:5],
        "digests": [d for _, _, ds in results for d in ds],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["transformer", "spacy"])
    ap.add_argument("--path", default=DEFAULT_PATH)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2, help="processes for the spaCy backend")
    ap.add_argument("--chunk", type=int, default=2000, help="captions per task")
    ap.add_argument("--queries", type=int, default=200, help="captions parsed one at a time for the query latency")
    ap.add_argument("--json", action="store_true", help="print the report as JSON last")
    args = ap.parse_args()

    captions = load_captions(args.path, args.limit)
    report = {backend: run_backend(backend, captions, args) for backend in args.backends}
    digests = {backend: row.pop("digests") for backend, row in report.items()}
    if "transformer" in digests and "transformer-bf16" in digests:
        report["transformer-bf16"]["graphs_differing_from_fp32"] = sum(
            a != b for a, b in zip(digests["transformer"], digests["transformer-bf16"]))
    if len(args.backends) == 2:
        a, b = (report[x] for x in args.backends)
        report[f"{args.backends[0]} / {args.backends[1]}"] = {
            "query_p50_ratio": round(a["query_ms_p50"] / b["query_ms_p50"], 2),
            "all_captions_time_ratio": round(a["total_s"] / b["total_s"], 2)}
    for name, row in report.items():
        print(name)
        for k, v in row.items():
            print(f"  {k:<22} {v}")
    if args.json:
        print(json.dumps(report))
    return 1 if any(row.get("errors") for row in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
