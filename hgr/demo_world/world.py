"""Ground truth of the demo world: events, clips, held-out compositions and splits, sampled from one seed.

A clip shows one event, two events in sequence (the second by a participant of the first), or two actor groups at
once. A composition is (actor kind, action, scene); the ones held out never occur in train, val or test and each
`test_novel` clip contains at least one, so that split measures generalisation to unseen combinations.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hgr.demo_world.catalog import ACTIONS, KINDS, SCENES
from hgr.errors import CollectionError

SPLITS = ("train", "val", "test", "test_novel")
PATTERNS = ("single", "sequence", "simultaneous")
FORMAT = "hgr-demo-world/1"


@dataclass
class WorldConfig:
    """Everything a world is generated from: the same config gives the same world, bit for bit."""

    seed: int = 0
    clips: int = 1600                   # train gets what the other splits leave
    val_fraction: float = 0.08
    test_fraction: float = 0.15         # the shipped demo collection
    novel_fraction: float = 0.07        # clips built around held-out compositions
    held_out_fraction: float = 0.10     # share of possible (kind, action, scene) compositions held out of training
    pattern_weights: tuple[float, float, float] = (0.6, 0.2, 0.2)  # single, sequence, simultaneous
    size: int = 224                     # frame side in pixels (the probe: 128 px loses two-actor frames)
    fps: int = 8
    seconds: float = 4.0
    crf: int = 22                       # H.264 constant rate factor: ~20-50 KB per 4 s clip
    captions_min: int = 10
    captions_max: int = 20

    @property
    def frames(self) -> int:
        return int(round(self.fps * self.seconds))


@dataclass(frozen=True)
class Event:
    """One action: agent (and patient for two-participant actions), named by actor kind."""

    action: str
    agent: str
    patient: str | None = None

    @property
    def participants(self) -> tuple[str, ...]:
        return (self.agent,) if self.patient is None else (self.agent, self.patient)


@dataclass(frozen=True)
class Clip:
    """The structured ground truth of one clip."""

    video_id: str
    index: int
    split: str
    scene: str
    pattern: str                 # "single" | "sequence" (events[0] then events[1]) | "simultaneous"
    events: tuple[Event, ...]

    @property
    def actors(self) -> tuple[str, ...]:
        seen: list[str] = []
        for event in self.events:
            seen += [k for k in event.participants if k not in seen]
        return tuple(seen)

    def compositions(self) -> set[tuple[str, str, str]]:
        return compositions_of(self.events, self.scene)


@dataclass
class World:
    """A generated world: config, held-out compositions, clips by video id, and their captions (if built)."""

    config: WorldConfig
    held_out: frozenset[tuple[str, str, str]]
    clips: dict[str, Clip]
    captions: dict[str, list[str]] = field(default_factory=dict)

    def split(self, name: str) -> list[Clip]:
        if name not in SPLITS:
            raise CollectionError(f"unknown demo-world split {name!r}; choose one of {', '.join(SPLITS)}")
        return [c for c in self.clips.values() if c.split == name]


def compositions_of(events: tuple[Event, ...], scene: str) -> set[tuple[str, str, str]]:
    """(kind, action, scene) for every participant of every event, roles ignored."""
    return {(kind, e.action, scene) for e in events for kind in e.participants}


def possible_compositions() -> set[tuple[str, str, str]]:
    """Every (kind, action, scene) that some possible event of the world contains."""
    found = set()
    for action in ACTIONS.values():
        for scene in SCENES:
            for agent in action.agents:
                for patient in (action.patients if action.arity == 2 else (None,)):
                    if action.allows(agent, patient, scene):
                        found |= compositions_of((Event(action.name, agent, patient),), scene)
    return found


def choose_held_out(rng: np.random.Generator, fraction: float) -> frozenset[tuple[str, str, str]]:
    """Hold out compositions whose every pair (kind-action, action-scene, kind-scene) stays seen in training."""
    triples = sorted(possible_compositions())
    order = rng.permutation(len(triples))
    kept = set(triples)
    held: set[tuple[str, str, str]] = set()
    for i in order:
        if len(held) >= round(fraction * len(triples)):
            break
        k, a, s = triples[i]
        rest = kept - {(k, a, s)}
        if (any(t[0] == k and t[1] == a for t in rest) and any(t[1] == a and t[2] == s for t in rest)
                and any(t[0] == k and t[2] == s for t in rest)):
            kept, held = rest, held | {(k, a, s)}
    return frozenset(held)


def _pick(rng: np.random.Generator, options) -> str:
    options = sorted(options)
    return options[int(rng.integers(len(options)))]


def _sample_event(rng: np.random.Generator, scene: str, action: str, taken: set[str],
                  must_include: str | None = None) -> Event | None:
    """A random possible event of `action` in `scene` whose actors are not in `taken` (None if there is none)."""
    act = ACTIONS[action]
    pairs = [(a, p) for a in act.agents for p in (act.patients if act.arity == 2 else (None,))
             if act.allows(a, p, scene) and a not in taken and p not in taken
             and (must_include is None or must_include in (a, p))]
    if not pairs:
        return None
    agent = _pick(rng, {a for a, _ in pairs})  # agent first, then patient: kinds with few partners stay common
    patient = None if act.arity == 1 else _pick(rng, {p for a, p in pairs if a == agent})
    return Event(action, agent, patient)


def sample_clip(rng: np.random.Generator, index: int, split: str, config: WorldConfig,
                held_out: frozenset[tuple[str, str, str]]) -> Clip:
    """Rejection-sample one clip: actions uniform, then scene, then actors; held-out rules by split."""
    weights = np.asarray(config.pattern_weights, dtype=float)
    for _ in range(10_000):
        pattern = PATTERNS[int(rng.choice(3, p=weights / weights.sum()))]
        if split == "test_novel":
            kind, action, scene = sorted(held_out)[int(rng.integers(len(held_out)))]
            first = _sample_event(rng, scene, action, set(), must_include=kind)
        else:
            action = _pick(rng, ACTIONS)
            scene = _pick(rng, [s for s in SCENES if any(
                ACTIONS[action].allows(a, p, s) for a in ACTIONS[action].agents
                for p in (ACTIONS[action].patients if ACTIONS[action].arity == 2 else (None,)))])
            first = _sample_event(rng, scene, action, set())
        if first is None:
            continue
        events: tuple[Event, ...] = (first,)
        if pattern == "sequence":   # then one of the participants does a one-participant action in place
            who = first.participants[int(rng.integers(len(first.participants)))]
            options = [a for a, act in ACTIONS.items() if act.arity == 1 and a != first.action
                       and act.allows(who, None, scene)]
            if not options:
                continue
            events += (Event(_pick(rng, options), who),)
        elif pattern == "simultaneous":  # a second group, at most three actors in all
            arity = 1 if first.patient is not None else int(rng.integers(1, 3))
            options = [a for a, act in ACTIONS.items() if act.arity == arity]
            second = _sample_event(rng, scene, _pick(rng, options), set(first.participants))
            if second is None:
                continue
            events += (second,)
        novel = bool(compositions_of(events, scene) & held_out)
        if novel == (split == "test_novel"):
            return Clip(f"dw{index:05d}", index, split, scene, pattern, events)
    raise RuntimeError(f"could not sample clip {index} for split {split}: the catalog is too constrained")


def assign_splits(config: WorldConfig) -> list[str]:
    """Split name per clip index: a seeded shuffle cut by the configured fractions."""
    n = config.clips
    counts = {name: max(1, round(f * n)) if n >= len(SPLITS) else 0 for name, f in
              (("val", config.val_fraction), ("test", config.test_fraction), ("test_novel", config.novel_fraction))}
    names = ["val"] * counts["val"] + ["test"] * counts["test"] + ["test_novel"] * counts["test_novel"]
    names += ["train"] * (n - len(names))
    order = np.random.default_rng([config.seed, 0xD5]).permutation(n)
    return [names[i] for i in order]


def sample_world(config: WorldConfig) -> World:
    """All clips' ground truth (no pixels, no captions): deterministic in `config`."""
    if config.clips < 1:
        raise CollectionError(f"--clips must be at least 1, got {config.clips}")
    held_out = choose_held_out(np.random.default_rng([config.seed, 0x40]), config.held_out_fraction)
    clips = {}
    for index, split in enumerate(assign_splits(config)):
        clip = sample_clip(np.random.default_rng([config.seed, index, 0]), index, split, config, held_out)
        clips[clip.video_id] = clip
    return World(config, held_out, clips)


def world_to_json(world: World) -> dict:
    """The world.json payload: config, held-out compositions, and each clip's ground truth."""
    config = asdict(world.config)
    config["pattern_weights"] = list(config["pattern_weights"])
    return {
        "format": FORMAT,
        "config": config,
        "kinds": sorted(KINDS), "actions": sorted(ACTIONS), "scenes": sorted(SCENES),
        "held_out": [list(t) for t in sorted(world.held_out)],
        "clips": {vid: {"split": c.split, "scene": c.scene, "pattern": c.pattern,
                        "events": [asdict(e) for e in c.events]} for vid, c in world.clips.items()},
    }


def load_world(root: str | Path) -> World:
    """Read a built world (world.json, captions.json) from `root`."""
    root = Path(root)
    path = root / "world.json"
    if not path.is_file():
        raise CollectionError(f"{path} not found: build a world with `hgr demo-world build --out {root}`")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise CollectionError(f"{path} has format {data.get('format')!r}, expected {FORMAT!r}; rebuild the world")
    config = WorldConfig(**{**data["config"], "pattern_weights": tuple(data["config"]["pattern_weights"])})
    clips = {}
    for index, (vid, c) in enumerate(data["clips"].items()):
        events = tuple(Event(**e) for e in c["events"])
        clips[vid] = Clip(vid, int(vid[2:]) if vid[2:].isdigit() else index, c["split"], c["scene"], c["pattern"],
                          events)
    captions_path = root / "captions.json"
    captions = json.loads(captions_path.read_text()) if captions_path.is_file() else {}
    return World(config, frozenset(tuple(t) for t in data["held_out"]), clips, captions)
