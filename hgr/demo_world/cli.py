"""`hgr demo-world`: generate the demo world (videos, captions, ground truth, splits) or a contact sheet of it.

    hgr demo-world build --out /tmp/world --seed 0 --clips 1600 [--workers 2]
    hgr demo-world sheet --out docs/demo_world_frames.png
    hgr demo-world negatives --world runs/demo/world --out runs/demo/negatives.json   # hard negatives for training
    hgr demo-world ship --work runs/demo     # world, features, graphs, every model, tables, then assets/demo
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="write videos/, world.json, captions.json, splits.json into --out")
    build.add_argument("--out", required=True, type=Path, help="output folder (new, empty, or an earlier world)")
    build.add_argument("--seed", type=int, default=0, help="everything is a function of this seed (default 0)")
    build.add_argument("--clips", type=int, default=1600, help="number of clips over all splits (default 1600)")
    build.add_argument("--workers", type=int, default=1, help="render processes (default 1)")
    build.add_argument("--no-videos", action="store_true",
                       help="write only the JSON files (and remove an earlier world's videos from --out)")
    sheet = actions.add_parser("sheet", help="a PNG contact sheet of frames from different clips")
    sheet.add_argument("--out", required=True, type=Path, help="PNG file to write")
    sheet.add_argument("--seed", type=int, default=0)
    sheet.add_argument("--frames", type=int, default=12, help="number of tiles (default 12)")
    negatives = actions.add_parser("negatives", help="hard negatives of the train split's captions (the five "
                                   "Table 6 perturbations, false by construction) for `hgr train --negatives`")
    negatives.add_argument("--world", required=True, type=Path, help="a built world (world.json, captions.json)")
    negatives.add_argument("--out", required=True, type=Path, help="JSON file to write")
    negatives.add_argument("--split", default="train", help="the split you train on (default train)")
    ship = actions.add_parser("ship", help="the whole demo: build, index, parse, train every model, evaluate, "
                              "and write assets/demo and checkpoints/demo.pt (resumable)")
    ship.add_argument("--work", required=True, type=Path, help="working folder for everything not shipped")
    ship.add_argument("--assets", type=Path, default=Path("assets/demo"), help="shipped collection folder")
    ship.add_argument("--checkpoints", type=Path, default=Path("checkpoints"), help="folder for demo.pt")
    from hgr.demo_world.pipeline import PipelineConfig
    for name, f in PipelineConfig.__dataclass_fields__.items():
        ship.add_argument(f"--{name.replace('_', '-')}", type=type(f.default), default=f.default)


def main(args: argparse.Namespace) -> int:
    from hgr.demo_world.build import build_world
    from hgr.demo_world.sheet import contact_sheet
    from hgr.demo_world.world import SPLITS, WorldConfig

    if args.action == "ship":
        from hgr.demo_world.pipeline import PipelineConfig, run

        cfg = PipelineConfig(**{k: getattr(args, k) for k in PipelineConfig.__dataclass_fields__})
        run(args.work, cfg, args.assets, args.checkpoints)
        return 0
    if args.action == "negatives":
        from hgr.demo_world.pipeline import write_negatives

        n = write_negatives(args.world, args.out, args.split)
        print(f"wrote {args.out}: {n['captions']:,} captions, {n['negatives']:,} hard negatives")
        return 0
    if args.action == "sheet":
        contact_sheet(args.out, WorldConfig(seed=args.seed), args.frames)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
        return 0
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            rate = done / (time.perf_counter() - start)
            print(f"  {done}/{total} clips ({rate:.1f} clips/s)", file=sys.stderr, flush=True)

    config = WorldConfig(seed=args.seed, clips=args.clips)
    world = build_world(args.out, config, workers=args.workers, videos=not args.no_videos, progress=progress)
    counts = ", ".join(f"{name} {len(world.split(name))}" for name in SPLITS)
    n_captions = sum(len(c) for c in world.captions.values())
    print(f"wrote {len(world.clips)} clips ({counts}) and {n_captions} captions to {args.out} "
          f"in {time.perf_counter() - start:.0f} s")
    return 0
