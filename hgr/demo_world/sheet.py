"""A contact sheet: one frame from each of several clips, for the docs and for looking at the world."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from hgr.demo_world.render import render_clip
from hgr.demo_world.world import Clip, WorldConfig, sample_world


def pick_varied(clips: list[Clip], n: int) -> list[Clip]:
    """Up to n clips that between them show as many different actions, scenes and patterns as possible."""
    chosen: list[Clip] = []
    for _ in range(n):
        def novelty(c: Clip) -> tuple[int, int]:
            actions = {e.action for k in chosen for e in k.events}
            new = len({e.action for e in c.events} - actions) * 3
            new += 2 * (c.scene not in {k.scene for k in chosen}) + (c.pattern not in {k.pattern for k in chosen})
            return new, -c.index
        rest = [c for c in clips if c not in chosen]
        if not rest:
            break
        chosen.append(max(rest, key=novelty))
    return chosen


def contact_sheet(out: str | Path, config: WorldConfig | None = None, tiles: int = 12, columns: int = 4,
                  tile: int = 176) -> Path:
    """Write a grid of `tiles` mid-clip frames from varied clips of the world's test split as a PNG."""
    config = config or WorldConfig()
    world = sample_world(config)
    rows = (tiles + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (tile + 2) - 2, rows * (tile + 2) - 2), "white")
    for i, clip in enumerate(pick_varied(world.split("test"), tiles)):
        frames = render_clip(clip, world.config)   # [T, H, W, 3]
        frame = Image.fromarray(frames[round((0.35 + 0.1 * (i % 4)) * (len(frames) - 1))])
        corner = ((i % columns) * (tile + 2), (i // columns) * (tile + 2))
        sheet.paste(frame.resize((tile, tile), Image.LANCZOS), corner)
    out = Path(out)
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, optimize=True)  # < 300 KB
    return out
