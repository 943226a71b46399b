"""Table 6 broken down: switch_roles by the swapped action, incomplete_events by clip pattern, every kind by level.

    python -m hgr.demo_world.breakdown --collection runs/demo/collection --checkpoint CKPT [--split test]

The questions are those of `hgr evaluate` (`binary_selection_items`, 500 per kind, seed 0); a question is right
when the true caption scores higher than the false one, at the fused level unless a level is named.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from hgr.demo_world.binary_selection import PERTURBATIONS, BinaryItem, binary_selection_items
from hgr.demo_world.world import World, load_world
from hgr.evaluate import binary_wins
from hgr.search import Searcher


def _group(world: World, item: BinaryItem, kind: str) -> str:
    if kind == "switch_roles":
        return next(t.action for t, f in zip(item.true.description.events, item.false.events) if t != f)
    if kind == "incomplete_events":
        return world.clips[item.video_id].pattern
    return "all"


def breakdown(searcher: Searcher, world: World, split: str, kind: str, n: int = 500) -> dict[str, dict]:
    """{'levels': {level: % right}, 'groups': {group: (questions, % right)}} for one perturbation kind."""
    items = binary_selection_items(world, split, kind, n)
    right = binary_wins(searcher, [(i.video_id, i.true.text, i.false_text) for i in items])
    groups = defaultdict(list)
    for i, ok in zip(items, right["fused"]):
        groups[_group(world, i, kind)].append(ok)
    by_size = sorted(groups.items(), key=lambda item: -len(item[1]))
    return {"levels": {level: 100 * float(r.mean()) for level, r in right.items()},
            "groups": {g: (len(v), 100 * float(np.mean(v))) for g, v in by_size}}


def main(argv: list[str] | None = None) -> None:
    import hgr
    from hgr.collection import Collection
    from hgr.graph import graph_lookup
    from hgr.inputs import collection_inputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", required=True, type=Path, help="a demo-world collection (with world.json)")
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    collection = Collection.open(args.collection)
    ckpt = hgr.load(args.checkpoint, device="cpu")
    world = load_world(args.collection)
    ids = collection.split(args.split)
    searcher = Searcher(ckpt, collection_inputs(collection, ckpt.config), ids, graph_lookup(collection.role_graphs,
                                                                                           collection.manifest.get("parser")))
    for kind in PERTURBATIONS:
        b = breakdown(searcher, world, args.split, kind)
        print(f"{kind}: " + ", ".join(f"{level} {v:.1f}" for level, v in b["levels"].items()))
        if list(b["groups"]) != ["all"]:
            print("  " + ", ".join(f"{g} {acc:.1f} ({n})" for g, (n, acc) in b["groups"].items()))


if __name__ == "__main__":
    main()
