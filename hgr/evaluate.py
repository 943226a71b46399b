"""`hgr evaluate`: the paper's retrieval protocol (Table 1, and Table 5's per-level breakdown) on a split.

    hgr evaluate --official-root ROOT --official-checkpoint FILE --split tst --save-scores scores.npz
    hgr evaluate --official-root ROOT --checkpoint runs/msrvtt.pt          # ours, from hgr train --official-root
    hgr evaluate --collection assets/demo --checkpoint checkpoints/demo.pt --split test --json metrics.json

Captions are deduplicated (one text-to-video query per unique caption, in order of first appearance when
walking the split's videos); ranks follow the official rules (hgr.metrics).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hgr.graph import graph_lookup
from hgr.inputs import collection_inputs
from hgr.metrics import format_table, official_names, retrieval_metrics
from hgr.model import LEVELS
from hgr.search import Searcher


@dataclass
class SplitScores:
    video_ids: list[str]
    captions: list[str]                 # unique, column order
    gt: np.ndarray                      # [n_vid, n_cap] bool
    scores: dict[str, np.ndarray]       # level -> [n_vid, n_cap]

    def metrics(self) -> dict[str, dict]:
        return {level: retrieval_metrics(self.scores[level], self.gt) for level in LEVELS}

    def save(self, path: str | Path) -> None:
        np.savez(path, **self.scores, video_names=np.array(self.video_ids), captions=np.array(self.captions),
                 gt=self.gt)


def unique_captions(video_ids: list[str], captions: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    """Unique captions of the split in order of first appearance, and the [n_vid, n_cap] ground truth."""
    column: dict[str, int] = {}
    for v in video_ids:
        for c in captions.get(v, []):
            column.setdefault(c, len(column))
    gt = np.zeros((len(video_ids), len(column)), dtype=bool)
    for i, v in enumerate(video_ids):
        for c in captions.get(v, []):
            gt[i, column[c]] = True
    return list(column), gt


def score_split(searcher: Searcher, video_ids: list[str], captions: dict[str, list[str]]) -> SplitScores:
    """All four score matrices of a split; the searcher must index exactly `video_ids`."""
    sentences, gt = unique_captions(video_ids, captions)
    keep = gt.any(axis=1)
    if not keep.all():
        missing = [v for v, k in zip(video_ids, keep) if not k][:5]
        raise ValueError(f"{int((~keep).sum())} videos of the split have no caption (e.g. {missing})")
    return SplitScores(video_ids, sentences, gt, searcher.score_matrix(sentences))


def binary_wins(searcher: Searcher, triplets: list[tuple[str, str, str]]) -> dict[str, np.ndarray]:
    """Per level, whether each (video, true caption, false caption) triplet's true caption scores higher [n] bool."""
    if not triplets:
        raise ValueError("no binary-selection triplets to score")
    videos = list(dict.fromkeys(v for v, _, _ in triplets))
    sentences = list(dict.fromkeys(c for _, t, f in triplets for c in (t, f)))
    row, col = {v: i for i, v in enumerate(videos)}, {c: j for j, c in enumerate(sentences)}
    sub = Searcher(searcher.checkpoint, searcher.features, videos, searcher.graphs, searcher.batch_size)
    scores = sub.score_matrix(sentences)
    return {level: np.array([s[row[v], col[t]] > s[row[v], col[f]] for v, t, f in triplets])
            for level, s in scores.items()}


def binary_selection(searcher: Searcher, triplets: list[tuple[str, str, str]]) -> float:
    """Table 6: percent of (video, true caption, false caption) triplets where the true caption scores higher."""
    return 100.0 * float(binary_wins(searcher, triplets)["fused"].mean())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("our collection")
    src.add_argument("--collection", type=Path, help="collection folder (collection.json, features.h5, ...)")
    src.add_argument("--checkpoint", type=Path, help="hgr checkpoint (.pt); with --official-root too")
    off = parser.add_argument_group("the official HGR data release")
    off.add_argument("--official-root", type=Path, help="data root with annotation/, public_split/, ordered_feature/")
    off.add_argument("--official-checkpoint", type=Path, help="official checkpoint ({'video_encoder', 'text_encoder'})")
    off.add_argument("--features-name", default="resnet152.pth", help="folder under ordered_feature/SA/")
    off.add_argument("--model-json", type=Path, help="the official model.json, when you have it")
    parser.add_argument("--split", help="split to score (default: tst for the official root, test otherwise)")
    parser.add_argument("--save-scores", type=Path, help="write event/action/entity/fused score matrices (.npz)")
    parser.add_argument("--json", type=Path, help="write the metrics as JSON")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--binary-selection", type=int, default=500, metavar="N",
                        help="pairs per perturbation for Table 6 when the collection has a demo world (0: skip)")


def main(args: argparse.Namespace) -> int:
    import hgr
    from hgr.collection import Collection
    from hgr.errors import HGRError
    from hgr.official import official_checkpoint, open_official

    if args.official_root:
        split = args.split or "tst"
        collection, ckpt = open_official(args.official_root, official_checkpoint(args), split, args.features_name,
                                         args.model_json, args.device)
        video_ids = collection.video_ids
    elif args.collection and args.checkpoint:
        split = args.split or "test"
        collection = Collection.open(args.collection)
        ckpt = hgr.load(args.checkpoint, device=args.device)
        collection.check_features(ckpt.card.get("features"), f"checkpoint {args.checkpoint.name}")
        video_ids = collection.split(split)
    else:
        raise HGRError("give --collection DIR --checkpoint FILE, or --official-root ROOT --official-checkpoint FILE")
    searcher = Searcher(ckpt, collection_inputs(collection, ckpt.config), video_ids,
                        graph_lookup(collection.role_graphs, collection.manifest.get("parser")))
    result = score_split(searcher, video_ids, collection.captions)
    metrics = result.metrics()
    print(f"{len(video_ids)} videos x {len(result.captions)} unique captions, split {split!r}")
    print(format_table({level: metrics[level] for level in LEVELS}, "retrieval by level (fused = Eq. 13)"))
    print(json.dumps({k: round(v, 2) for k, v in official_names(metrics["fused"]).items()}))
    binary = None
    world = Path(collection.root) if getattr(collection, "root", None) else None
    if args.binary_selection and world and (world / "world.json").is_file():
        from hgr.demo_world.binary_selection import binary_selection_table  # the command, not the library

        binary = binary_selection_table(searcher, world, split, args.binary_selection)
        print("binary selection (Table 6, % correct): " + ", ".join(f"{k} {v:.1f}" for k, v in binary.items()))
    if args.save_scores:
        result.save(args.save_scores)
        print(f"scores written to {args.save_scores}")
    if args.json:
        fused = metrics["fused"]
        report = {"t2v": fused["t2v"], "v2t": fused["v2t"], "rsum": fused["rsum"],
                  "levels": {lv: {"t2v": m["t2v"], "v2t": m["v2t"], "rsum": m["rsum"]} for lv, m in metrics.items()},
                  "binary_selection": binary, "split": split, "videos": len(video_ids),
                  "captions": len(result.captions)}
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"metrics written to {args.json}")
    return 0
