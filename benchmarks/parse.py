"""Parse real MSR-VTT captions with each SRL backend in one run: a typed query's latency, time to parse all the
captions, share with an action, node counts, failures.

    .venv/bin/python benchmarks/parse.py [--backends transformer spacy] [--path captions.json] [--limit N] [--json]
    .venv/bin/python benchmarks/parse.py --backends transformer-serial transformer transformer-bf16 spacy --sample 20000

Rows (each parses the same captions in the same run, so ratios compare like with like on whatever CPU runs it):
- `transformer`: what collections and `hgr parse --file` do, `hgr.parsing.bulk.parse_bulk`: each distinct
  sentence once, sorted by length, over its worker threads (one per core, at most 4).
- `transformer-serial`: the same parser as one parse_many call per `--chunk` captions, every caption parsed (how
  collections were parsed before parse_bulk): the baseline of parse_bulk's speed-up.
- `transformer-bf16`: parse_bulk under bfloat16 autocast (transformer_srl.PRECISIONS).
- `spacy`: the spaCy backend at its fastest, each distinct sentence once in `--workers` forked processes.
Every transformer-* row counts the captions whose graph differs from the `transformer` row's.
One typed query: `--queries` captions parsed one at a time, p50/p95 (the app's path).
"""
from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from pathlib import Path

DEFAULT_PATH = "/work/shared/data/captions/msrvtt_trainval_captions.json"


def load_captions(path: str, limit: int | None = None, sample: int | None = None) -> list[str]:
    """The captions in file order; `limit`: the first N; `sample`: N drawn at random (seed 0). A prefix is not
    like the whole: MSR-VTT's first 20,000 captions average 7.7 words, its last 40,000 12.8."""
    data = json.loads(Path(path).read_text())
    captions = [c for caps in data["captions"].values() for c in caps]
    if sample:
        captions = random.Random(0).sample(captions, min(sample, len(captions)))
    return captions[:limit] if limit else captions


BACKEND = {"name": "spacy"}      # the backend parse_chunk uses (set before the worker pool forks)


def row_parser(label: str) -> tuple[str, str]:
    """(backend, precision) of a row of the report."""
    return ("spacy" if label == "spacy" else "transformer"), ("bf16" if label == "transformer-bf16" else "fp32")


@functools.cache
def parser(label: str):
    """The sentence parser a row of the report runs (the one parse_bulk uses for it)."""
    from hgr.parsing.bulk import sentence_parser
    backend, precision = row_parser(label)
    return sentence_parser(backend, precision=precision)


def digest(graph) -> str:
    return hashlib.sha1(json.dumps(graph.to_json(), sort_keys=True).encode()).hexdigest()


def parse_chunk(chunk: list[str]) -> list:
    return parser(BACKEND["name"]).parse_many(chunk)


def warm_up() -> None:
    parser(BACKEND["name"]).parse("a dog chases a cat")


def parse_all(label: str, captions: list[str], args) -> tuple[list, int, int]:
    """(a graph per caption, sentences parsed, workers) the way the row `label` parses a caption set."""
    from hgr.parsing.bulk import auto_workers, parse_bulk
    from hgr.parsing.parser import ParserConfig, sentence_words
    if label == "transformer-serial":
        chunks = [captions[i:i + args.chunk] for i in range(0, len(captions), args.chunk)]
        return [g for c in chunks for g in parse_chunk(c)], len(captions), 1
    if label.startswith("transformer"):
        graphs = parse_bulk(captions, precision=row_parser(label)[1])
        distinct = len({id(g) for g in graphs})             # parse_bulk gives alike sentences one graph object
        return graphs, distinct, auto_workers(distinct)
    config = ParserConfig()
    keys = [" ".join(sentence_words(c, config)) for c in captions]
    distinct = sorted(set(keys), key=lambda k: (k.count(" "), k))
    chunks = [distinct[i:i + args.chunk] for i in range(0, len(distinct), args.chunk)]
    with mp.get_context("fork").Pool(args.workers, initializer=warm_up) as pool:
        graphs = dict(zip(distinct, (g for gs in pool.map(parse_chunk, chunks) for g in gs)))
    return [graphs[k] for k in keys], len(distinct), args.workers


def run_backend(label: str, captions: list[str], args) -> dict:
    BACKEND["name"] = label
    t = time.perf_counter()
    warm_up()
    load_s = time.perf_counter() - t
    query_ms = []
    for caption in captions[-args.queries:]:           # not the first captions, which the bulk pass sees first
        t = time.perf_counter()
        parser(label).parse(caption)
        query_ms.append(1000 * (time.perf_counter() - t))
    query_ms.sort()
    t = time.perf_counter()
    graphs, parsed, workers = parse_all(label, captions, args)
    total_s = time.perf_counter() - t
    actions = [len(g.actions) for g in graphs]
    nodes = [len(g.actions) + len(g.entities) for g in graphs]
    return {
        "captions": len(captions),
        "sentences_parsed": parsed,
        "workers": workers,
        "load_s": round(load_s, 2),
        "query_ms_p50": round(statistics.median(query_ms), 1),
        "query_ms_p95": round(query_ms[int(0.95 * (len(query_ms) - 1))], 1),
        "total_s": round(total_s, 1),
        "captions_per_s": round(len(captions) / total_s, 1),
        "projected_140k_min": round(140_200 / (len(captions) / total_s) / 60, 2),
        "share_with_action": round(sum(a > 0 for a in actions) / len(actions), 4),
        "actions_mean": round(statistics.mean(actions), 2),
        "entities_mean": round(statistics.mean(len(g.entities) for g in graphs), 2),
        "nodes_p50_p90_p99": [sorted(nodes)[int(q * (len(nodes) - 1))] for q in (0.5, 0.9, 0.99)],
        "actions_hist": dict(sorted(collections.Counter(min(a, 6) for a in actions).items())),
        "digests": [digest(g) for g in graphs],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["transformer", "spacy"])
    ap.add_argument("--path", default=DEFAULT_PATH)
    ap.add_argument("--limit", type=int, default=None, help="the first N captions")
    ap.add_argument("--sample", type=int, default=None, help="N captions drawn at random (seed 0)")
    ap.add_argument("--workers", type=int, default=2, help="processes for the spaCy backend")
    ap.add_argument("--chunk", type=int, default=2000, help="captions per task (transformer-serial, spacy)")
    ap.add_argument("--queries", type=int, default=200, help="captions parsed one at a time for the query latency")
    ap.add_argument("--json", action="store_true", help="print the report as JSON last")
    args = ap.parse_args()

    captions = load_captions(args.path, args.limit, args.sample)
    report = {backend: run_backend(backend, captions, args) for backend in args.backends}
    digests = {backend: row.pop("digests") for backend, row in report.items()}
    for label in digests:
        if label.startswith("transformer-") and "transformer" in digests:
            report[label]["graphs_differing_from_transformer"] = sum(
                a != b for a, b in zip(digests["transformer"], digests[label]))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
