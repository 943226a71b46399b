"""The demo world: deterministic, captions true to the ground truth, binary-selection negatives false, held-out
compositions kept out of training. Rendering tests need the Noto Color Emoji font (fonts-noto-color-emoji)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hgr.demo_world import (
    PERTURBATIONS,
    WorldConfig,
    binary_selection_items,
    binary_selection_pairs,
    build_world,
    clip_captions,
    describes,
    load_world,
    render_clip,
    sample_world,
    world_captions,
)
from hgr.demo_world.catalog import ACTIONS, KINDS, SCENES
from hgr.demo_world.render import FONT_PATH
from hgr.demo_world.world import compositions_of, possible_compositions, world_to_json
from hgr.errors import CollectionError

needs_font = pytest.mark.skipif(not Path(FONT_PATH).is_file(),
                                reason="apt-get install -y fonts-noto-color-emoji (the demo world's sprites)")


@pytest.fixture(scope="module")
def world():
    w = sample_world(WorldConfig(seed=3, clips=160))
    w.captions = world_captions(w)
    return w


def has(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def test_same_seed_same_world_and_captions():
    a, b, c = (sample_world(WorldConfig(seed=s, clips=50)) for s in (7, 7, 8))
    assert json.dumps(world_to_json(a)) == json.dumps(world_to_json(b))
    assert world_captions(a) == world_captions(b)
    assert world_to_json(a)["clips"] != world_to_json(c)["clips"]


@needs_font
def test_same_seed_same_frames():
    config = WorldConfig(seed=5, clips=30)
    world = sample_world(config)
    clips = [next(c for c in world.clips.values() if c.pattern == p) for p in ("single", "sequence", "simultaneous")]
    for clip in clips:
        frames = render_clip(clip, config)
        assert frames.shape == (config.frames, 224, 224, 3) and frames.dtype == np.uint8
        assert np.array_equal(frames, render_clip(clip, config))
        assert np.abs(np.diff(frames.astype(int), axis=0)).sum() > 0     # something moves
    other = WorldConfig(seed=6, clips=30)
    assert not np.array_equal(render_clip(clips[0], config), render_clip(clips[0], other))


@needs_font
@pytest.mark.parametrize("action", ["chase", "follow", "push", "bump_into", "jump_over"])
def test_the_doer_of_a_two_participant_action_comes_from_the_left(action):
    # Frozen frame features cannot see which way a sprite faces, so the world fixes it: the agent starts left of
    # the patient (and these actions move rightwards), whatever direction the clip's random stream draws.
    from hgr.demo_world.render import _stage, backdrop, event_sprites
    from hgr.demo_world.world import Event

    agent, patient = "dog", "horse"
    starts = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        stage = _stage(backdrop("grass", rng), rng, False, 224, None, Event(action, agent, patient))
        sprites = {s.glyph: s.x for s in event_sprites(Event(action, agent, patient), stage, 0.0)}
        starts.add(sprites[KINDS[agent].glyph] < sprites[KINDS[patient].glyph])
        assert stage.direction == 1
    assert starts == {True}
    rng = np.random.default_rng(0)                   # one-participant events still face either way
    directions = {_stage(backdrop("grass", rng), rng, False, 224, None, Event("spin", agent)).direction
                  for _ in range(12)}
    assert directions == {1, -1}


@needs_font
def test_build_is_bit_for_bit_and_decodes_to_the_rendered_frames(tmp_path):
    from moviepy import VideoFileClip

    config = WorldConfig(seed=1, clips=4)
    first = build_world(tmp_path / "a", config)
    build_world(tmp_path / "b", config)
    for name in ("world.json", "captions.json", "splits.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for vid in first.clips:
        a, b = (tmp_path / d / "videos" / f"{vid}.mp4" for d in ("a", "b"))
        assert a.read_bytes() == b.read_bytes()
        assert 5_000 < a.stat().st_size < 120_000
    vid, clip = next(iter(first.clips.items()))
    with VideoFileClip(str(tmp_path / "a" / "videos" / f"{vid}.mp4")) as video:
        decoded = np.stack(list(video.iter_frames()))
    assert decoded.shape == (config.frames, 224, 224, 3)
    assert np.abs(decoded.astype(int) - render_clip(clip, config)).mean() < 4   # lossy, but the same picture
    loaded = load_world(tmp_path / "a")
    assert loaded.clips == first.clips and loaded.captions == first.captions and loaded.held_out == first.held_out


def test_every_caption_states_its_clip(world):
    nouns = {k: kind.nouns for k, kind in KINDS.items()}
    all_nouns = [n for ns in nouns.values() for n in ns]
    assert len(all_nouns) == len(set(all_nouns)), "a noun must name one kind only"
    for clip in world.clips.values():
        captions = clip_captions(clip, world.config.seed)
        texts = [c.text for c in captions]
        assert 10 <= len(texts) <= 20 and len(set(texts)) == len(texts) and texts == world.captions[clip.video_id]
        for caption in captions:
            text = caption.text
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", text), text
            assert describes(caption.description, clip)
            for kind in KINDS:      # every actor named, no other
                assert any(has(text, n) for n in nouns[kind]) == (kind in clip.actors), (text, clip)
            for event in clip.events:
                verbs = [f for v in ACTIONS[event.action].verbs for f in (v.third, v.ing, v.passive) if f]
                assert any(has(text, v) for v in verbs), (text, event)
            for scene in SCENES:    # the clip's scene or none
                named = any(has(text, p) for p in SCENES[scene].phrases)
                assert named == (caption.description.scene == scene), (text, clip.scene)


@pytest.mark.parametrize("kind", PERTURBATIONS)
def test_binary_selection_negatives_are_false(world, kind):
    items = binary_selection_items(world, "test", kind, n=80)
    assert len(items) == 80 or kind in ("switch_roles", "incomplete_events") and items
    assert binary_selection_pairs(world, "test", kind, n=80) == [(i.video_id, i.true.text, i.false_text)
                                                                  for i in items]
    for item in items:
        clip, truths = world.clips[item.video_id], world.captions[item.video_id]
        assert item.true.text in truths and item.false_text not in truths
        assert clip.split == "test" and not describes(item.false, clip)
        false_events, text = item.false.events, item.false_text
        if kind == "switch_roles":
            assert any((e.patient, e.agent) in {(t.agent, t.patient) for t in clip.events} for e in false_events)
        elif kind == "replace_actions":
            new = {e.action for e in false_events} - {e.action for e in clip.events}
            assert len(new) == 1
            verbs = [f for v in ACTIONS[new.pop()].verbs for f in (v.third, v.ing, v.passive) if f]
            assert any(has(text, v) for v in verbs)
        elif kind == "replace_actors":
            new = {k for e in false_events for k in e.participants} - set(clip.actors)
            assert len(new) == 1 and any(has(text, n) for n in KINDS[new.pop()].nouns)
        elif kind == "replace_scenes":
            assert item.false.scene != clip.scene
            assert any(has(text, p) for p in SCENES[item.false.scene].phrases)
            assert not any(has(text, p) for p in SCENES[clip.scene].phrases)
        else:
            assert len(false_events) == 1 and false_events[0] in clip.events and len(clip.events) == 2
        for event in false_events:    # a possible event of the world, so text priors cannot reject it
            assert ACTIONS[event.action].allows(event.agent, event.patient, item.false.scene or clip.scene)


def test_held_out_compositions_never_in_training():
    w = sample_world(WorldConfig(seed=0, clips=600))
    assert w.held_out
    seen = set()
    for clip in w.clips.values():
        novel = compositions_of(clip.events, clip.scene) & w.held_out
        assert bool(novel) == (clip.split == "test_novel"), clip
        if clip.split == "train":
            seen |= clip.compositions()
    kept = possible_compositions() - w.held_out
    for kind, action, scene in w.held_out:  # each pair of a held-out triple stays possible in training
        assert (kind, action, scene) not in seen
        assert any(k == kind and a == action for k, a, _ in kept) and any(k == kind and s == scene for k, _, s in kept)
        assert any(a == action and s == scene for _, a, s in kept)
    assert {c.split for c in w.clips.values()} == {"train", "val", "test", "test_novel"}


def test_build_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CollectionError, match="not a demo world"):
        build_world(tmp_path, WorldConfig(clips=4), videos=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_cli_build_json_only(tmp_path):
    from hgr.cli import main

    assert main(["demo-world", "build", "--out", str(tmp_path / "w"), "--clips", "6", "--no-videos"]) == 0
    splits = json.loads((tmp_path / "w" / "splits.json").read_text())
    assert sorted(sum(splits.values(), [])) == sorted(json.loads((tmp_path / "w" / "captions.json").read_text()))


def test_training_negatives_are_false_and_come_from_the_train_split_alone(world):
    from hgr.demo_world.binary_selection import training_negatives

    negatives = training_negatives(world, "train")
    train = [c for c in world.split("train")]
    truths_of: dict[str, list[set[str]]] = {}
    for clip in train:
        for text in world.captions[clip.video_id]:
            truths_of.setdefault(text, []).append(set(world.captions[clip.video_id]))
    assert negatives and set(negatives) <= set(truths_of)
    assert sum(len(v) for v in negatives.values()) > 2 * len(negatives)       # several kinds apply to most captions
    for caption, falses in negatives.items():
        assert 1 <= len(falses) <= len(PERTURBATIONS) and len(set(falses)) == len(falses)
        for truths in truths_of[caption]:                  # false for every clip this caption is true of
            assert not truths & set(falses), caption
    assert training_negatives(world, "train") == negatives                     # seeded


def test_the_shipped_model_is_chosen_by_validation_binary_selection(tmp_path):
    from hgr.demo_world.pipeline import SHIP_CANDIDATES, PipelineConfig, choose_shipped

    (tmp_path / "results").mkdir()

    def write(figures: dict[str, tuple[float, float]]) -> str:
        for name, (binary, rsum) in figures.items():    # what `hgr evaluate --split val --json` left there
            (tmp_path / "results" / f"{name}.val.json").write_text(
                json.dumps({"rsum": rsum, "binary_selection": {"average": binary}}))
        return choose_shipped(tmp_path, tmp_path / "collection", {}, PipelineConfig())

    a, b, c = SHIP_CANDIDATES
    assert write({a: (80.0, 563.0), b: (84.0, 550.0), c: (85.0, 540.0)}) == c     # not the best rsum
    assert write({a: (85.0, 563.0), b: (84.0, 550.0), c: (85.0, 540.0)}) == a     # a tie goes to rsum
