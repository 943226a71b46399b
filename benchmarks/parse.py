"""Parse real MSR-VTT captions: throughput, share with an action, node counts, failures.

    .venv/bin/python benchmarks/parse.py [--path captions.json] [--limit N] [--workers 2] [--json]

Baseline in the same run: spaCy's tagger+parser alone on the first `--baseline` captions (one process), against
the full parser (normalise + spaCy + candidates + labeller + graph) on the same captions: their ratio is the
parser's overhead over the dependency parse it needs anyway. Then all captions with `--workers` processes.
"""
from __future__ import annotations

import argparse
import collections
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


def parse_chunk(chunk: list[str]) -> tuple[list[tuple[int, int]], list[str]]:
    """(actions, entities) per caption, and the errors (a caption that raised) as text."""
    from hgr.parsing import parse_many
    try:
        graphs = parse_many(chunk)
        return [(len(g.actions), len(g.entities)) for g in graphs], []
    except Exception:       # fall back to one by one to name the caption that failed
        counts, errors = [], []
        for caption in chunk:
            try:
                g = parse_many([caption])[0]
                counts.append((len(g.actions), len(g.entities)))
            except Exception as err:  # noqa: BLE001 (the benchmark reports every failure)
                counts.append((0, 0))
                errors.append(f"{caption!r}: {type(err).__name__}: {err}")
        return counts, errors


def warm_up() -> None:
    from hgr.parsing import parse
    parse("a dog chases a cat")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default=DEFAULT_PATH)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=2000, help="captions per task")
    ap.add_argument("--baseline", type=int, default=3000, help="captions timed with spaCy alone vs the parser")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    captions = load_captions(args.path, args.limit)
    from hgr.parsing import normalize_caption, parse_many
    from hgr.parsing.spacy_nlp import parse_tokens
    t = time.perf_counter()
    warm_up()
    load_s = time.perf_counter() - t

    sample = captions[: args.baseline]
    t = time.perf_counter()
    for _ in parse_tokens(normalize_caption(c).split() for c in sample):
        pass
    spacy_s = time.perf_counter() - t
    t = time.perf_counter()
    parse_many(sample)
    parser_s = time.perf_counter() - t

    chunks = [captions[i:i + args.chunk] for i in range(0, len(captions), args.chunk)]
    t = time.perf_counter()
    if args.workers > 1:
        with mp.get_context("fork").Pool(args.workers, initializer=warm_up) as pool:
            results = pool.map(parse_chunk, chunks)
    else:
        results = [parse_chunk(c) for c in chunks]
    total_s = time.perf_counter() - t
    counts = [c for r, _ in results for c in r]
    errors = [e for _, es in results for e in es]
    actions = [a for a, _ in counts]
    nodes = [a + e for a, e in counts]
    report = {
        "captions": len(captions),
        "workers": args.workers,
        "load_s": round(load_s, 2),
        "total_s": round(total_s, 1),
        "captions_per_s": round(len(captions) / total_s, 1),
        "projected_140k_s": round(140_200 / (len(captions) / total_s), 1),
        "baseline_captions": len(sample),
        "spacy_only_per_s": round(len(sample) / spacy_s, 1),
        "parser_per_s_1proc": round(len(sample) / parser_s, 1),
        "parser_over_spacy_time_ratio": round(parser_s / spacy_s, 2),
        "share_with_action": round(sum(a > 0 for a in actions) / len(actions), 4),
        "actions_mean": round(statistics.mean(actions), 2),
        "entities_mean": round(statistics.mean(e for _, e in counts), 2),
        "nodes_hist": dict(sorted(collections.Counter(min(n, 12) for n in nodes).items())),
        "actions_hist": dict(sorted(collections.Counter(min(a, 6) for a in actions).items())),
        "nodes_p50_p90_p99": [sorted(nodes)[int(q * (len(nodes) - 1))] for q in (0.5, 0.9, 0.99)],
        "errors": len(errors),
        "first_errors": errors[:5],
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for k, v in report.items():
            print(f"{k:<30} {v}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
