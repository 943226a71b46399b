"""The generated demo world: a compositional video world whose ground truth is known exactly.

    from hgr.demo_world import WorldConfig, build_world, load_world, binary_selection_pairs
    world = build_world("/tmp/world", WorldConfig(seed=0, clips=1600))    # or: hgr demo-world build --out /tmp/world
    pairs = binary_selection_pairs(world, "test", "switch_roles", n=500)  # paper section 4.5, Table 6

catalog.py (kinds, actions, scenes, words) -> world.py (ground truth, held-out compositions, splits) ->
captions.py (grammar) and render.py (frames) -> build.py (files); binary_selection.py perturbs captions.
See docs/demo_world.md for what the world can and cannot express.
"""
from hgr.demo_world.binary_selection import PERTURBATIONS, binary_selection_items, binary_selection_pairs
from hgr.demo_world.build import build_world, world_captions
from hgr.demo_world.captions import Caption, Description, clip_captions, describes
from hgr.demo_world.render import render_clip
from hgr.demo_world.world import SPLITS, Clip, Event, World, WorldConfig, load_world, sample_world

__all__ = ["PERTURBATIONS", "SPLITS", "Caption", "Clip", "Description", "Event", "World", "WorldConfig",
           "binary_selection_items", "binary_selection_pairs", "build_world", "clip_captions", "describes",
           "load_world", "render_clip", "sample_world", "world_captions"]
