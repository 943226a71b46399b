"""Retrieval metrics with the official ranking rules (spec section 4, eval_q2m).

A query's rank is the best (lowest) 0-based position of any of its ground-truth items in argsort(-scores);
R@k = 100 * mean(rank < k), MedR = median(rank) + 1, MnR = mean(rank) + 1, rsum = sum of the six recalls.
Text-to-video has one query per unique caption (a duplicated caption has several ground-truth videos);
video-to-text ranks each video by its best ground-truth caption.
"""
from __future__ import annotations

import numpy as np


def query_ranks(scores: np.ndarray, gt: np.ndarray, chunk: int = 256) -> np.ndarray:
    """scores [n_queries, n_items], gt [n_queries, n_items] bool -> best 0-based rank per query [n_queries]."""
    if scores.shape != gt.shape:
        raise ValueError(f"scores {scores.shape} and ground truth {gt.shape} differ in shape")
    if not gt.any(axis=1).all():
        raise ValueError("every query needs at least one ground-truth item")
    ranks = np.empty(len(scores), dtype=np.int64)
    for start in range(0, len(scores), chunk):
        order = np.argsort(-scores[start:start + chunk], axis=1)                      # as the official code
        hits = np.take_along_axis(gt[start:start + chunk], order, axis=1)
        ranks[start:start + chunk] = hits.argmax(axis=1)
    return ranks


def rank_metrics(ranks: np.ndarray) -> dict[str, float]:
    return {"r1": 100.0 * float(np.mean(ranks < 1)), "r5": 100.0 * float(np.mean(ranks < 5)),
            "r10": 100.0 * float(np.mean(ranks < 10)), "medr": float(np.median(ranks)) + 1,
            "mnr": float(np.mean(ranks)) + 1}


def retrieval_metrics(scores: np.ndarray, gt: np.ndarray) -> dict:
    """scores and gt are [n_videos, n_captions]; returns {"t2v": {...}, "v2t": {...}, "rsum": float}."""
    t2v = rank_metrics(query_ranks(scores.T, gt.T))
    v2t = rank_metrics(query_ranks(scores, gt))
    rsum = sum(m[k] for m in (t2v, v2t) for k in ("r1", "r5", "r10"))
    return {"t2v": t2v, "v2t": v2t, "rsum": rsum}


def official_names(metrics: dict) -> dict[str, float]:
    """The official scores.csv names: ir* = text-to-video, cr* = video-to-text."""
    out = {}
    for prefix, key in (("i", "t2v"), ("c", "v2t")):
        m = metrics[key]
        out.update({f"{prefix}r1": m["r1"], f"{prefix}r5": m["r5"], f"{prefix}r10": m["r10"],
                    f"{prefix}medr": m["medr"], f"{prefix}meanr": m["mnr"]})
    out["rsum"] = metrics["rsum"]
    return out


def format_table(rows: dict[str, dict], title: str = "") -> str:
    """A Table-1-style text table: one row per model or level."""
    head = f"{'':<12}| {'R@1':>5} {'R@5':>5} {'R@10':>5} {'MedR':>6} {'MnR':>7} | " \
           f"{'R@1':>5} {'R@5':>5} {'R@10':>5} {'MedR':>6} {'MnR':>7} | {'rsum':>6}"
    lines = [title] if title else []
    lines += [f"{'':<12}| {'text-to-video':^31} | {'video-to-text':^31} |", head, "-" * len(head)]
    for name, m in rows.items():
        cells = []
        for key in ("t2v", "v2t"):
            r = m[key]
            cells.append(f"{r['r1']:5.1f} {r['r5']:5.1f} {r['r10']:5.1f} {r['medr']:6.1f} {r['mnr']:7.1f}")
        lines.append(f"{name:<12}| {cells[0]} | {cells[1]} | {m['rsum']:6.1f}")
    return "\n".join(lines)
