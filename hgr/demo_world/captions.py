"""The caption grammar: many true, MSR-VTT-style captions (lowercase, no punctuation) per clip, from its ground truth.

A caption is `render(description, style)`: the description is what it asserts (events, how they relate, the scene
if named), the style is every surface choice (clause form, active or passive voice, relative clauses, verb and noun
synonyms, adjectives, manner, scene phrase and position, connective). Binary selection re-renders a perturbed
description with the same style, so true and false captions differ only where their meaning does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hgr.demo_world.catalog import ACTIONS, KINDS, SCENES, Verb
from hgr.demo_world.world import Clip, Event

# Clause forms that make a finite sentence (usable inside "... and then ...") and forms for one-event captions only.
FINITE_FORMS = ("active", "progressive", "passive", "passive_progressive", "passive_get")
SINGLE_FORMS = FINITE_FORMS + ("there_is", "np", "np_relative", "video_of", "we_see", "is_seen", "passive_np",
                               "passive_relative")
PASSIVE_FALLBACK = {"passive": "active", "passive_progressive": "progressive", "passive_get": "active",
                    "passive_np": "np", "passive_relative": "np_relative"}
SEQUENCE_CONNECTIVES = ((0, " and then ", 1), ("first ", 0, " and then ", 1), (0, " and after that ", 1),
                        (0, " then ", 1), (0, " and later ", 1))
SIMULTANEOUS_CONNECTIVES = ((0, " while ", 1), (0, " and at the same time ", 1), ("while ", 1, " ", 0),
                            (0, " and meanwhile ", 1), (0, " as ", 1))
DETAIL = {"terse": (0.0, 0.0, 0.3), "plain": (0.3, 0.3, 0.6), "long": (0.75, 0.6, 0.9)}  # p(adj), p(manner), p(scene)


@dataclass(frozen=True)
class Description:
    """What a caption asserts: events (ground-truth order), their relation, and the scene (None: not named)."""

    pattern: str
    events: tuple[Event, ...]
    scene: str | None


@dataclass(frozen=True)
class Style:
    """Every surface choice of one caption; indices are taken modulo the number of options they index."""

    forms: tuple[str, ...]                  # per event
    verbs: tuple[int, ...]                  # per event: index into the action's verbs
    manners: tuple[int, ...]                # per event: index into the action's manners, -1 none
    nouns: tuple[tuple[str, int, int], ...]  # per actor kind: (kind, noun index, adjective index or -1)
    scene_phrase: int                       # index into the scene's phrases
    scene_first: bool
    connective: int
    ellipsis: bool                          # "a cat grows and then dances" when both events share the agent
    terse: bool                             # drop articles in a noun-phrase caption ("dog chasing cat")

    def noun_choice(self, kind: str) -> tuple[int, int]:
        for k, noun, adj in self.nouns:
            if k == kind:
                return noun, adj
        return 0, -1


@dataclass(frozen=True)
class Caption:
    text: str
    description: Description
    style: Style


def describes(d: Description, clip: Clip) -> bool:
    """True iff the description is exactly what happens in the clip (a scene it names included)."""
    if d.pattern != clip.pattern or (d.scene is not None and d.scene != clip.scene):
        return False
    if clip.pattern == "simultaneous":
        return sorted(d.events, key=str) == sorted(clip.events, key=str)
    return d.events == clip.events


def truth(clip: Clip, name_scene: bool = True) -> Description:
    return Description(clip.pattern, clip.events, clip.scene if name_scene else None)


def verb_for(event: Event, style: Style, index: int) -> tuple[Verb, str]:
    """The verb synonym and the clause form, falling back to the active voice where a verb has no passive."""
    verbs = ACTIONS[event.action].verbs
    form = style.forms[index]
    if form in PASSIVE_FALLBACK:
        if event.patient is None:
            return verbs[style.verbs[index] % len(verbs)], PASSIVE_FALLBACK[form]
        passive = [v for v in verbs if v.passive]
        if passive:
            return passive[style.verbs[index] % len(passive)], form
        form = PASSIVE_FALLBACK[form]
    return verbs[style.verbs[index] % len(verbs)], form


class _Writer:
    """Noun phrases in textual order: "a/an [adjective] noun" on first mention, "the noun" after."""

    def __init__(self, style: Style, articles: bool = True):
        self.style, self.articles, self.mentioned = style, articles, set()

    def np(self, kind: str) -> str:
        noun_i, adj_i = self.style.noun_choice(kind)
        k = KINDS[kind]
        noun = k.nouns[noun_i % len(k.nouns)]
        if kind in self.mentioned:
            return f"the {noun}" if self.articles else noun
        self.mentioned.add(kind)
        words = f"{k.adjectives[adj_i % len(k.adjectives)]} {noun}" if adj_i >= 0 else noun
        if not self.articles:
            return words
        return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"

    def rel(self, kind: str) -> str:
        return "who" if KINDS[kind].person else "that"


def _manner(event: Event, verb: Verb, style: Style, index: int) -> str:
    """" quickly" or "" (also "" where it would repeat a word of the verb: "jumps up and down up and down")."""
    act, i = ACTIONS[event.action], style.manners[index]
    manner = act.manners[i % len(act.manners)] if i >= 0 else ""
    if not manner or set(manner.split()) & set(verb.third.split() + verb.ing.split()):
        return ""
    return f" {manner}"


def _clause(w: _Writer, event: Event, style: Style, index: int) -> str:
    verb, form = verb_for(event, style, index)
    tail = _manner(event, verb, style, index)
    a = event.agent
    if event.patient is None:
        agent_np = w.np(a)
        text = {"active": f"{agent_np} {verb.third}", "progressive": f"{agent_np} is {verb.ing}",
                "there_is": f"there is {agent_np} {verb.ing}", "np": f"{agent_np} {verb.ing}",
                "np_relative": f"{agent_np} {w.rel(a)} is {verb.ing}", "video_of": f"a video of {agent_np} {verb.ing}",
                "we_see": f"we see {agent_np} {verb.ing}", "is_seen": f"{agent_np} is seen {verb.ing}"}[form]
        return text + tail
    p = event.patient
    if form.startswith("passive"):
        patient_np = w.np(p)
        agent_np = w.np(a)
        text = {"passive": f"{patient_np} is {verb.passive} by {agent_np}",
                "passive_progressive": f"{patient_np} is being {verb.passive} by {agent_np}",
                "passive_get": f"{patient_np} gets {verb.passive} by {agent_np}",
                "passive_np": f"{patient_np} being {verb.passive} by {agent_np}",
                "passive_relative": f"{patient_np} {w.rel(p)} is being {verb.passive} by {agent_np}"}[form]
        return text + tail
    lead = {"there_is": "there is ", "video_of": "a video of ", "we_see": "we see "}.get(form, "")
    agent_np = w.np(a)
    patient_np = w.np(p)
    middle = {"active": verb.third, "progressive": f"is {verb.ing}", "there_is": verb.ing, "np": verb.ing,
              "np_relative": f"{w.rel(a)} is {verb.ing}", "video_of": verb.ing, "we_see": verb.ing,
              "is_seen": f"is seen {verb.ing}"}[form]
    return f"{lead}{agent_np} {middle} {patient_np}{tail}"


def render(d: Description, style: Style) -> str:
    """The caption text of a description in a style: lowercase words separated by single spaces."""
    w = _Writer(style, articles=not (style.terse and len(d.events) == 1 and style.forms[0] == "np"))
    if len(d.events) == 1:
        body = _clause(w, d.events[0], style, 0)
    else:
        templates = SEQUENCE_CONNECTIVES if d.pattern == "sequence" else SIMULTANEOUS_CONNECTIVES
        first, second = d.events
        shared = d.pattern == "sequence" and second.agent == first.agent and second.patient is None
        first_form = verb_for(first, style, 0)[1]
        if shared and style.ellipsis and first_form in ("active", "progressive"):
            verb, _ = verb_for(second, style, 1)   # "a cat grows and then dances" / "is growing and then dancing"
            predicate = verb.ing if first_form == "progressive" else verb.third
            body = f"{_clause(w, first, style, 0)} and then {predicate}{_manner(second, verb, style, 1)}"
        else:
            template = templates[style.connective % len(templates)]
            parts = []
            for piece in template:  # clauses rendered in textual order so articles follow first mention
                parts.append(piece if isinstance(piece, str) else _clause(w, d.events[piece], style, piece))
            body = "".join(parts)
    if d.scene is not None:
        phrase = SCENES[d.scene].phrases[style.scene_phrase % len(SCENES[d.scene].phrases)]
        body = f"{phrase} {body}" if style.scene_first else f"{body} {phrase}"
    return " ".join(body.split())


def sample_style(rng: np.random.Generator, clip: Clip) -> tuple[Style, bool]:
    """A random style for a clip's caption, and whether the caption names the scene."""
    detail = ("terse", "plain", "long")[int(rng.choice(3, p=[0.25, 0.45, 0.30]))]
    p_adj, p_manner, p_scene = DETAIL[detail]
    forms = FINITE_FORMS if len(clip.events) > 1 else SINGLE_FORMS
    n = len(clip.events)
    style = Style(
        forms=tuple(forms[int(rng.integers(len(forms)))] for _ in range(n)),
        verbs=tuple(int(rng.integers(12)) for _ in range(n)),
        manners=tuple(int(rng.integers(12)) if rng.random() < p_manner else -1 for _ in range(n)),
        nouns=tuple((k, int(rng.integers(12)), int(rng.integers(12)) if rng.random() < p_adj else -1)
                    for k in clip.actors),
        scene_phrase=int(rng.integers(12)), scene_first=bool(rng.random() < 0.25),
        connective=int(rng.integers(12)), ellipsis=bool(rng.random() < 0.5),
        terse=detail == "terse" and bool(rng.random() < 0.4))
    return style, bool(rng.random() < p_scene)


def clip_captions(clip: Clip, seed: int, n_min: int = 10, n_max: int = 20) -> list[Caption]:
    """10-20 distinct true captions of a clip, deterministic in (seed, clip index)."""
    rng = np.random.default_rng([seed, clip.index, 1])
    wanted = int(rng.integers(n_min, n_max + 1))
    captions: list[Caption] = []
    seen: set[str] = set()
    for _ in range(wanted * 50):
        style, name_scene = sample_style(rng, clip)
        d = truth(clip, name_scene)
        text = render(d, style)
        if text not in seen:
            seen.add(text)
            captions.append(Caption(text, d, style))
            if len(captions) == wanted:
                break
    return captions
