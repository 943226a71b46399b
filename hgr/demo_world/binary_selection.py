"""Fine-grained binary selection (paper section 4.5, Table 6) with negatives that are false by construction.

For a clip, a true caption is perturbed in one of five ways and re-rendered in the same style, so the two sentences
differ only where their meaning does: switch roles (agent and patient of an action), replace actions, replace actors
(the paper's "replace persons"), replace scenes, incomplete events (keep one of a clip's two events). Unlike the
paper's crowd-checked negatives, every perturbed description is checked against the ground truth (`describes` is
False), and it is a possible event of the world, so language priors alone cannot reject it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hgr.demo_world.captions import Caption, Description, Style, clip_captions, describes, render
from hgr.demo_world.catalog import ACTIONS, KINDS, SCENES
from hgr.demo_world.world import Clip, Event, World, load_world
from hgr.errors import CollectionError

if TYPE_CHECKING:
    from hgr.search import Searcher

PERTURBATIONS = ("switch_roles", "replace_actions", "replace_actors", "replace_scenes", "incomplete_events")


@dataclass(frozen=True)
class BinaryItem:
    """One binary-selection question: a clip, a true caption, and a false caption that differs minimally."""

    video_id: str
    true: Caption
    false_text: str
    false: Description


def _unknown(kind: str) -> CollectionError:
    return CollectionError(f"unknown binary-selection perturbation {kind!r}; choose one of {', '.join(PERTURBATIONS)}")


def _possible(events: tuple[Event, ...], scene: str) -> bool:
    return all(ACTIONS[e.action].allows(e.agent, e.patient, scene) for e in events)


def perturbations(clip: Clip, caption: Caption, kind: str) -> list[tuple[Description, Style]]:
    """Every false description (and the style to render it) that `kind` makes from one true caption."""
    d, style, scene = caption.description, caption.style, clip.scene
    found: list[tuple[Description, Style]] = []

    def keep(events: tuple[Event, ...], new_scene: str | None = d.scene, new_style: Style = style) -> None:
        new = replace(d, events=events, scene=new_scene)
        if _possible(events, scene if new_scene is None else new_scene) and not describes(new, clip):
            found.append((new, new_style))

    if kind == "switch_roles":
        for i, e in enumerate(d.events):
            if e.patient is not None:
                keep(d.events[:i] + (Event(e.action, e.patient, e.agent),) + d.events[i + 1:])
    elif kind == "replace_actions":
        for i, e in enumerate(d.events):
            others = {o.action for j, o in enumerate(d.events) if j != i}
            for action in sorted(ACTIONS):
                if ACTIONS[action].arity == ACTIONS[e.action].arity and action != e.action and action not in others:
                    keep(d.events[:i] + (Event(action, e.agent, e.patient),) + d.events[i + 1:])
    elif kind == "replace_actors":
        present = set(clip.actors)
        for old in clip.actors:
            for new in sorted(set(KINDS) - present):
                rename = {old: new}
                nouns = tuple((rename.get(k, k), n, a) for k, n, a in style.nouns)
                keep(tuple(Event(e.action, rename.get(e.agent, e.agent), rename.get(e.patient, e.patient))
                           for e in d.events), new_style=replace(style, nouns=nouns))
    elif kind == "replace_scenes":
        if d.scene is not None:
            for new_scene in sorted(set(SCENES) - {d.scene}):
                keep(d.events, new_scene)
    elif kind == "incomplete_events":
        if len(d.events) == 2:
            for i, e in enumerate(d.events):
                part = Style(forms=(style.forms[i],), verbs=(style.verbs[i],), manners=(style.manners[i],),
                             nouns=style.nouns, scene_phrase=style.scene_phrase, scene_first=style.scene_first,
                             connective=0, ellipsis=False, terse=False)
                new = Description("single", (e,), d.scene)
                if not describes(new, clip):
                    found.append((new, part))
    else:
        raise _unknown(kind)
    return found


def _true_captions(world: World, clip: Clip) -> list[Caption]:
    """The clip's true captions as the grammar makes them (with their descriptions and styles), checked against
    the captions the world was built with."""
    cfg = world.config
    captions = clip_captions(clip, cfg.seed, cfg.captions_min, cfg.captions_max)
    if world.captions and world.captions.get(clip.video_id) != [c.text for c in captions]:
        raise CollectionError(f"captions of {clip.video_id} differ from what this version's grammar generates; "
                              "rebuild the world with `hgr demo-world build`")
    return captions


def _false_caption(clip: Clip, caption: Caption, kind: str, truths: list[Caption],
                   rng: np.random.Generator) -> tuple[Description, str] | None:
    """One `kind` perturbation of a true caption, drawn at random among its options, and its text; None if `kind`
    does not apply to it."""
    options = perturbations(clip, caption, kind)
    if not options:
        return None
    false, style = options[int(rng.integers(len(options)))]
    text = render(false, style)
    if any(text == t.text for t in truths) or describes(false, clip):
        raise RuntimeError(f"bug: a {kind} negative of {clip.video_id} is true of the clip: {text!r}")
    return false, text


def binary_selection_items(world: World | str | Path, split: str, kind: str, n: int = 500,
                           seed: int = 0) -> list[BinaryItem]:
    """Up to n questions from a split: clips in a seeded order, one caption per clip per round, no repeats."""
    if not isinstance(world, World):
        world = load_world(world)
    if kind not in PERTURBATIONS:
        raise _unknown(kind)
    rng = np.random.default_rng([seed, PERTURBATIONS.index(kind)])
    queues: list[list[BinaryItem]] = []
    for clip in world.split(split):
        captions = _true_captions(world, clip)
        items = []
        for caption in captions:
            if (drawn := _false_caption(clip, caption, kind, captions, rng)) is not None:
                items.append(BinaryItem(clip.video_id, caption, drawn[1], drawn[0]))
        queues.append([items[i] for i in rng.permutation(len(items))])
    order = rng.permutation(len(queues))
    chosen: list[BinaryItem] = []
    for round_ in range(max((len(q) for q in queues), default=0)):
        for i in order:
            if round_ < len(queues[i]) and len(chosen) < n:
                chosen.append(queues[i][round_])
    return chosen


def binary_selection_pairs(world: World | str | Path, split: str, kind: str, n: int = 500,
                           seed: int = 0) -> list[tuple[str, str, str]]:
    """(video_id, true caption, false caption) triplets for Table 6; fewer than n when the split has fewer."""
    return [(item.video_id, item.true.text, item.false_text) for item in binary_selection_items(world, split, kind, n,
                                                                                                 seed)]


def clip_perturbations(world: World, video_id: str, caption: str | None = None,
                       seed: int = 0) -> tuple[str, dict[str, str]]:
    """One false caption per perturbation that applies to one true caption of a clip (the app's Compare tab): the
    true caption (`caption`, or the clip's first) and {kind: false caption}, drawn and checked as Table 6's are."""
    clip = world.clips.get(video_id)
    if clip is None:
        raise CollectionError(f"{video_id!r} is not a clip of this demo world")
    truths = _true_captions(world, clip)
    index = next((i for i, t in enumerate(truths) if t.text == caption), None) if caption is not None else 0
    if index is None:
        raise CollectionError(f"{caption!r} is not one of {video_id}'s own captions; pick one of them")
    out = {}
    for kind in PERTURBATIONS:
        rng = np.random.default_rng([seed, PERTURBATIONS.index(kind), index])
        if (drawn := _false_caption(clip, truths[index], kind, truths, rng)) is not None:
            out[kind] = drawn[1]
    return truths[index].text, out


def training_negatives(world: World | str | Path, split: str = "train", seed: int = 0,
                       kinds: tuple[str, ...] = PERTURBATIONS) -> dict[str, list[str]]:
    """Hard negatives for training (beyond the paper): {true caption: [false caption, ...]} for the clips of
    `split`, one false caption per perturbation kind that applies (drawn at random among its options), made and
    checked exactly as the Table 6 negatives are. Use only a split you train on: the test questions come from
    other clips, and these are never scored."""
    if not isinstance(world, World):
        world = load_world(world)
    rng = np.random.default_rng([seed, 7])
    out: dict[str, list[str]] = {}
    for clip in world.split(split):
        captions = _true_captions(world, clip)
        for caption in captions:
            falses = out.get(caption.text, [])             # a caption true of several clips gathers them all
            for kind in kinds:
                drawn = _false_caption(clip, caption, kind, captions, rng)
                if drawn is not None and drawn[1] not in falses:
                    falses.append(drawn[1])
            if falses:
                out[caption.text] = falses
    return out


def binary_selection_table(searcher: Searcher, world: Path, split: str, n: int = 500) -> dict[str, float]:
    """All five perturbations of section 4.5 on a demo-world split (`world`: the folder with world.json)."""
    from hgr.evaluate import binary_selection

    table = {kind: binary_selection(searcher, binary_selection_pairs(world, split, kind, n)) for kind in PERTURBATIONS}
    table["average"] = float(np.mean(list(table.values())))
    return table
