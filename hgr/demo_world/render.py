"""Pixels of the demo world: procedurally drawn scenes, emoji sprites, and one motion script per action.

HGR's video side sees frames as an unordered set of pooled vectors (Eq. 11), so each action is drawn to show in
single frames where it can: a jump over puts the agent high above the patient, carry puts the patient on top, spin
rotates, grow scales, fall tilts and drops, and effect glyphs (💨 💥 💤 🎵 💫 💦 👣) mark speed, impact, sleep,
music, dizziness, effort and tracks. `render_clip` returns the frames as one deterministic array.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from hgr.demo_world.catalog import EFFECTS, KINDS
from hgr.demo_world.world import Clip, Event, WorldConfig
from hgr.errors import HGRError

FONT_PATH = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
GLYPH_SIZE = 109        # the only size at which Pillow renders Noto's colour bitmaps
FAR_SCALE = 0.62        # actors in the far lane of a two-group clip


@dataclass
class Sprite:
    """One drawn glyph in one frame: centre x, ground line y, height above the ground, pose, and drawing order."""

    glyph: str
    x: float
    ground: float
    height: float
    lift: float = 0.0
    angle: float = 0.0        # degrees, counter-clockwise
    flip: bool = False        # glyphs face left; flip to face right
    alpha: float = 1.0
    z: float = 0.0
    shadow: bool = True
    bottom: bool = False      # rest the rotated sprite's bottom on the ground (lying actors)
    ring: tuple[float, float] | None = None  # a dotted ellipse on the ground (radii) instead of a glyph


@dataclass
class Stage:
    """Where an event is played: its lane's ground line, horizontal range, sprite scale and starting values."""

    ground: float
    x0: float
    x1: float
    scale: float
    anchor: float | None = None          # centre for in-place actions
    direction: int = 1                   # +1 moves right, -1 left
    z: float = 0.0
    start: float = 0.0                   # where along the stage a travelling group starts, in [0, 1]
    phase: float = 0.0                   # starting angle of circling and peeking
    ends: dict[str, tuple[float, float]] = field(default_factory=dict)  # kind -> final (x, ground) after the event


# ----------------------------------------------------------------------------------------------------- sprites

@lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(FONT_PATH, GLYPH_SIZE)
    except OSError as err:
        raise HGRError(f"emoji font {FONT_PATH} not found ({err}); install it with `apt-get update && apt-get "
                       "install -y --no-install-recommends fonts-noto-color-emoji`") from err


@lru_cache(maxsize=64)
def glyph_image(glyph: str) -> Image.Image:
    """The glyph's colour bitmap, cropped to its visible pixels (RGBA)."""
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), glyph, font=_font(), embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        raise HGRError(f"the emoji font at {FONT_PATH} has no colour glyph for {glyph!r}; use fonts-noto-color-emoji")
    return canvas.crop(box)


@lru_cache(maxsize=512)
def _sized(glyph: str, height: int, flip: bool) -> Image.Image:
    image = glyph_image(glyph)
    width = max(1, round(image.width * height / image.height))
    image = image.resize((width, height), Image.LANCZOS)
    if glyph == EFFECTS["music"]:  # Noto's grey notes vanish on grass and asphalt: paint them magenta
        image = Image.merge("RGBA", (*Image.new("RGB", image.size, (225, 50, 150)).split(), image.getchannel("A")))
    return image.transpose(Image.FLIP_LEFT_RIGHT) if flip else image


def sprite_width(glyph: str, height: float) -> float:
    image = glyph_image(glyph)
    return image.width * height / image.height


def _paste(frame: Image.Image, s: Sprite) -> None:
    image = _sized(s.glyph, max(4, round(s.height)), s.flip)
    if s.angle:
        image = image.rotate(s.angle, resample=Image.BICUBIC, expand=True)
    if s.alpha < 1:
        image = image.copy()
        image.putalpha(image.getchannel("A").point(lambda a: round(a * s.alpha)))
    # centre of the upright sprite sits at half its height above the ground (plus the lift)
    cx, cy = s.x, (s.ground - s.lift - image.height / 2) if s.bottom else (s.ground - s.lift - s.height / 2)
    frame.alpha_composite(image, (round(cx - image.width / 2), round(cy - image.height / 2)))


def _shadow(frame: Image.Image, s: Sprite, water: bool) -> None:
    w = sprite_width(s.glyph, s.height) * (0.75 if not s.angle else 0.9)
    fade = max(0.25, 1 - s.lift / 120)
    layer = Image.new("RGBA", frame.size, (0, 0, 0, 0))
    colour = (255, 255, 255, round(80 * fade)) if water else (0, 0, 0, round(90 * fade))
    ImageDraw.Draw(layer).ellipse([s.x - w * fade / 2, s.ground - 4, s.x + w * fade / 2, s.ground + 4], fill=colour)
    frame.alpha_composite(layer)


# ---------------------------------------------------------------------------------------------------- scenes

def _noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1]: random cells upsampled bicubically.  # [size, size]"""
    small = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(small.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255


def _vertical(size: int, top: tuple, bottom: tuple, y0: int, y1: int) -> np.ndarray:
    t = np.clip((np.arange(size) - y0) / max(1, y1 - y0), 0, 1)[:, None, None]
    return (np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t) * np.ones((1, size, 1))


def _clouds(image: Image.Image, rng: np.random.Generator, horizon: int, n: int) -> None:
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(n):
        x, y = rng.uniform(0, image.width), rng.uniform(8, max(10, horizon - 30))
        for _ in range(4):
            dx, dy, r = rng.uniform(-22, 22), rng.uniform(-5, 5), rng.uniform(9, 16)
            draw.ellipse([x + dx - 2 * r, y + dy - r, x + dx + 2 * r, y + dy + r], fill=(255, 255, 255, 150))
    image.alpha_composite(layer.filter(ImageFilter.GaussianBlur(5)))


@dataclass(frozen=True)
class Backdrop:
    """A clip's static background and the ground lines of its two lanes."""

    image: Image.Image
    near: float
    far: float
    water: bool = False


def backdrop(scene: str, rng: np.random.Generator, size: int = 224) -> Backdrop:
    """Draw a scene: sky, ground texture, and details, varied by the clip's rng."""
    s = size / 224
    horizon = round(rng.uniform(82, 100) * s)
    sky = _vertical(size, (70, 140, 215), (175, 215, 240), 0, horizon)
    n = _noise(rng, size, 14)[..., None]
    fine = _noise(rng, size, 56)[..., None]
    rows = np.arange(size)[:, None, None]
    ground_mask = rows >= horizon
    near, far = 200 * s, horizon + 40 * s
    water = False
    if scene == "grass":
        ground = np.asarray((70, 150, 50), np.float32) * (0.75 + 0.35 * n) + 25 * (fine - 0.5)
    elif scene == "snow":
        sky = _vertical(size, (190, 200, 225), (225, 215, 235), 0, horizon)
        ground = np.asarray((238, 242, 250), np.float32) - 22 * n * np.asarray((1, 0.8, 0.3)) + 8 * (fine - 0.5)
    elif scene == "sand":
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        ripples = np.sin(yy * 0.35 + 6 * n[..., 0] + xx * 0.02)[..., None]
        ground = np.asarray((222, 196, 140), np.float32) * (0.9 + 0.08 * n) + 9 * ripples + 10 * (fine - 0.5)
    elif scene == "water":
        horizon = round(rng.uniform(70, 86) * s)
        sky = _vertical(size, (80, 150, 220), (190, 225, 245), 0, horizon)
        depth = _vertical(size, (60, 120, 190), (20, 60, 140), horizon, size)
        ground = depth * (0.85 + 0.25 * n)
        near, far, water = 196 * s, horizon + 38 * s, True
    elif scene == "night":
        horizon = round(rng.uniform(118, 132) * s)
        sky = _vertical(size, (8, 10, 40), (35, 40, 95), 0, horizon)
        ground = np.asarray((20, 40, 35), np.float32) * (0.8 + 0.4 * n)
        hill = horizon + 8 * s * np.sin(np.arange(size) / size * math.pi * rng.uniform(1, 2.5) + rng.uniform(0, 6))
        ground_mask = rows >= hill.astype(np.float32)[None, :, None]
        near, far = 204 * s, horizon + 30 * s
    elif scene == "road":
        horizon = round(rng.uniform(74, 86) * s)
        verge = horizon + round(26 * s)
        grass = np.asarray((80, 150, 60), np.float32) * (0.8 + 0.3 * n)
        asphalt = np.asarray((92, 92, 100), np.float32) * (0.85 + 0.25 * fine)
        ground = np.where(rows < verge, grass, asphalt)
        near, far = 206 * s, verge + 36 * s
    else:
        raise HGRError(f"unknown scene {scene!r}")
    pixels = np.where(ground_mask, ground, sky)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGBA")
    draw = ImageDraw.Draw(image)
    if scene == "grass":
        _clouds(image, rng, horizon, 3)
        for _ in range(70):  # grass blades and a few flowers
            x, y = rng.uniform(0, size), rng.uniform(horizon + 4, size)
            draw.line([x, y, x + rng.uniform(-2, 2), y - rng.uniform(3, 7) * s], fill=(40, 105, 35), width=1)
        for _ in range(8):
            x, y = rng.uniform(0, size), rng.uniform(horizon + 10, size)
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=((250, 240, 90), (250, 250, 250), (240, 120, 160))[
                int(rng.integers(3))])
    elif scene == "sand":
        _clouds(image, rng, horizon, 2)
        sx = rng.uniform(30, size - 30)
        draw.ellipse([sx - 14 * s, 14 * s, sx + 14 * s, 42 * s], fill=(255, 230, 120))
    elif scene == "water":
        _clouds(image, rng, horizon, 2)
        for _ in range(90):  # wave highlights, longer near the viewer
            y = rng.uniform(horizon + 2, size)
            length = (2 + 10 * (y - horizon) / (size - horizon)) * s
            x = rng.uniform(0, size)
            draw.arc([x - length, y - 2, x + length, y + 2], 200, 340, fill=(220, 235, 255), width=1)
    elif scene == "night":
        for _ in range(60):
            x, y = rng.uniform(0, size), rng.uniform(0, horizon - 6)
            r = rng.choice([0.6, 1.0, 1.5])
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 230))
        moon = _sized(EFFECTS["moon"], round(26 * s), False)
        image.alpha_composite(moon, (round(rng.uniform(10, size - 40)), round(rng.uniform(8, 30) * s)))
    elif scene == "road":
        _clouds(image, rng, horizon, 3)
        verge = horizon + round(26 * s)
        draw.line([0, verge + 1, size, verge + 1], fill=(235, 235, 235), width=2)
        lane = verge + (size - verge) * 0.52
        offset = rng.uniform(0, 30)
        for x in np.arange(-offset, size, 30 * s):
            draw.line([x, lane, x + 15 * s, lane], fill=(240, 200, 60), width=3)
    elif scene == "snow":
        _clouds(image, rng, horizon, 2)
    return Backdrop(image, near, far, water)


def _snowfall(frame: Image.Image, flakes: np.ndarray, t: float) -> None:
    """Flakes drift down over the clip; `flakes` holds x, y, speed per flake.  # [n, 3]"""
    draw = ImageDraw.Draw(frame)
    size = frame.height
    for x, y, v in flakes:
        yy = (y + v * t * size) % size
        xx = (x + 6 * math.sin(yy / 17 + x)) % size
        draw.ellipse([xx - 1.3, yy - 1.3, xx + 1.3, yy + 1.3], fill=(255, 255, 255, 230))


# ---------------------------------------------------------------------------------------------- motion scripts

def _h(kind: str, stage: Stage) -> float:
    return KINDS[kind].height * stage.scale


def _w(kind: str, stage: Stage) -> float:
    return sprite_width(KINDS[kind].glyph, _h(kind, stage))


def _base_lift(kind: str, stage: Stage) -> float:
    return 46 * stage.scale if KINDS[kind].airborne else 0.0


def _actor(kind: str, stage: Stage, x: float, **pose) -> Sprite:
    sprite = Sprite(KINDS[kind].glyph, x, stage.ground, _h(kind, stage), lift=_base_lift(kind, stage), z=stage.z)
    for key, value in pose.items():
        setattr(sprite, key, getattr(sprite, key) + value if key == "lift" else value)
    return sprite


def _effect(name: str, x: float, y: float, height: float, stage: Stage, alpha: float = 1.0, flip: bool = False,
            angle: float = 0.0) -> Sprite:
    return Sprite(EFFECTS[name], x, y, height, alpha=alpha, z=stage.z + 0.5, shadow=False, flip=flip, angle=angle)


def _clamp(x: float, w: float, stage: Stage) -> float:
    return min(max(x, stage.x0 + w / 2), stage.x1 - w / 2)


def _travel(stage: Stage, lead: float, span: float, t: float) -> float:
    """Position of a group's back edge moving across the stage; `lead`: group length, `span`: share of the room."""
    room = stage.x1 - stage.x0 - lead
    start = stage.x0 + room * (1 - span) * stage.start
    pos = start + room * span * t
    return pos if stage.direction > 0 else stage.x1 - (pos - stage.x0) - lead


def _pair_motion(event: Event, stage: Stage, t: float) -> list[Sprite]:
    a, p, d = event.agent, event.patient, stage.direction
    wa, wp, ha, hp = _w(a, stage), _w(p, stage), _h(a, stage), _h(p, stage)
    flip = d > 0
    act = event.action
    radius = min(wp / 2 + wa / 2 + 16 * stage.scale, (stage.x1 - stage.x0) / 2 - wa / 2)   # of circling
    reach = {"jump_over": wp / 2 + wa + 18 * stage.scale, "bump_into": 0.45 * (stage.x1 - stage.x0),
             "circle_around": radius + wa / 2, "hide_behind": wp / 2 + wa / 2}.get(act, 0.0)
    cx = stage.anchor if stage.anchor is not None else (stage.x0 + stage.x1) / 2
    cx = min(max(cx, stage.x0 + reach), stage.x1 - reach)   # in-place actions stay inside the frame
    if act in ("chase", "follow", "push"):
        gap = {"chase": 34, "follow": 58, "push": -6}[act] * stage.scale
        if act == "chase":
            gap *= 1.3 - 0.6 * t           # the chaser closes in
        length = wa + wp + gap
        span = {"chase": 0.95, "follow": 0.5, "push": 0.4}[act]
        back = _travel(stage, length, span, t)   # left edge of the pair's box
        if d > 0:
            xa, xp = back + wa / 2, back + wa + gap + wp / 2
        else:
            xp, xa = back + wp / 2, back + wp + gap + wa / 2
        bob = {"chase": 7, "follow": 3, "push": 1}[act]
        lean = {"chase": 9, "follow": 0, "push": 14}[act] * (-1 if flip else 1)
        agent = _actor(a, stage, xa, flip=flip, angle=lean, lift=bob * abs(math.sin(7 * math.pi * t)))
        patient = _actor(p, stage, xp, flip=flip, angle=lean if act == "chase" else -lean / 2,
                         lift=bob * abs(math.sin(7 * math.pi * t + 1.3)))
        out = [agent, patient]
        if act == "chase":
            for s, w in ((agent, wa), (patient, wp)):
                out.append(_effect("speed", s.x - d * (w / 2 + 9 * stage.scale), s.ground - s.lift - 0.3 * s.height,
                                   0.42 * s.height, stage, flip=flip, alpha=0.9))
        elif act == "follow":
            steps = 0.28 * ha
            for k in range(2):
                x = xa + d * (wa / 2 + (k + 0.5) * (gap + 2 * steps) / 3)
                out.append(_effect("tracks", x, stage.ground + 6 * stage.scale, steps, stage, alpha=0.55,
                                   flip=flip, angle=-90 * d))
        else:
            out.append(_effect("sweat", xa + d * 0.1 * wa, stage.ground - agent.lift - ha * 0.95, 0.32 * ha, stage,
                               flip=flip))
        stage.ends = {a: (xa, stage.ground), p: (xp, stage.ground)}
        return out
    if act == "jump_over":
        reach = (wp / 2 + wa / 2 + 18 * stage.scale)
        xa = cx - d * reach + 2 * d * reach * t
        arc = math.sin(math.pi * min(max((t - 0.1) / 0.8, 0), 1))
        agent = _actor(a, stage, xa, flip=flip, lift=arc * (hp + 18 * stage.scale),
                       angle=(-1 if flip else 1) * 20 * (0.5 - t) * 2 * arc, z=stage.z + 0.2)
        stage.ends = {a: (xa, stage.ground), p: (cx, stage.ground)}
        return [_actor(p, stage, cx), agent]
    if act == "bump_into":
        xp0 = cx + d * 0.25 * wp
        contact = xp0 - d * (wp + wa) / 2 * 0.85
        start = contact - d * 0.9 * (stage.x1 - stage.x0) / 2.2
        hit = 0.45
        if t < hit:
            xa, xp, tilt_p, tilt_a = start + (contact - start) * t / hit, xp0, 0.0, 0.0
        else:
            k = min((t - hit) / 0.25, 1)
            xa, xp = contact - d * 8 * k, xp0 + d * 34 * stage.scale * k
            tilt_p, tilt_a = 25 * k, -8 * k
        sign = -1 if flip else 1
        xp = _clamp(xp, wp, stage)
        out = [_actor(a, stage, xa, flip=flip, angle=sign * tilt_a),
               _actor(p, stage, xp, flip=not flip, angle=sign * tilt_p)]
        if hit - 0.08 <= t <= hit + 0.3:
            x = (xa + xp) / 2
            out.append(_effect("impact", x, stage.ground - 0.35 * max(ha, hp), 0.75 * max(ha, hp), stage))
        stage.ends = {a: (xa, stage.ground), p: (xp, stage.ground)}
        return out
    if act == "circle_around":
        theta = stage.phase + d * 2 * math.pi * t * 1.25
        xa = cx + radius * math.cos(theta)
        depth = math.sin(theta)
        going_right = -math.sin(theta) * d > 0
        agent = _actor(a, stage, xa, flip=going_right, z=stage.z + (0.3 if depth > 0 else -0.3))
        agent.ground += 20 * stage.scale * depth
        agent.height *= 1 + 0.12 * depth
        ring = Sprite("", cx, stage.ground, 0, z=stage.z - 1, shadow=False, ring=(radius, 20 * stage.scale))
        stage.ends = {a: (xa, stage.ground), p: (cx, stage.ground)}
        return [ring, _actor(p, stage, cx), agent]
    if act == "carry":
        back = _travel(stage, wa, 0.45, t)
        xa = back + wa / 2
        bob = 3 * abs(math.sin(6 * math.pi * t))
        agent = _actor(a, stage, xa, flip=flip, lift=bob)
        rider = _actor(p, stage, xa + d * 0.08 * wa, flip=flip, z=stage.z + 0.2)
        rider.height *= 0.72
        rider.lift = agent.lift + ha * 0.72
        rider.shadow = False
        stage.ends = {a: (xa, stage.ground), p: (xa + d * (wa + wp) / 2, stage.ground)}
        return [agent, rider]
    if act == "hide_behind":
        peek = 0.5 + 0.5 * math.sin(2 * math.pi * t * 1.5 + stage.phase)   # how far it leans out, 0..1
        xa = cx + d * wp * (0.28 + 0.22 * peek)
        hider = _actor(a, stage, xa, flip=d < 0, z=stage.z - 0.2, lift=-_base_lift(a, stage))
        hider.height *= 0.85
        hider.ground -= 6 * stage.scale
        stage.ends = {a: (cx - d * (wa + wp) / 2, stage.ground), p: (cx, stage.ground)}
        return [hider, _actor(p, stage, cx)]
    raise HGRError(f"no motion script for two-participant action {act!r}")


def _solo_motion(event: Event, stage: Stage, t: float) -> list[Sprite]:
    a, act = event.agent, event.action
    x = stage.anchor if stage.anchor is not None else (stage.x0 + stage.x1) / 2
    h, flip = _h(a, stage), stage.direction > 0
    x = _clamp(x, _w(a, stage) * 1.3, stage)
    stage.ends = {a: (x, stage.ground)}
    if act == "spin":
        return [_actor(a, stage, x, flip=flip, angle=stage.direction * 400 * t, lift=0.15 * h)]
    if act == "grow":
        sprite = _actor(a, stage, x, flip=flip)
        sprite.height *= 0.5 + 1.0 * t
        return [sprite]
    if act == "fall":
        k = min(max((t - 0.2) / 0.3, 0), 1)
        drop = (1 - k ** 2)
        start = 40 * stage.scale + (40 * stage.scale if KINDS[a].airborne else 0)
        sprite = _actor(a, stage, x, flip=flip, angle=stage.direction * 90 * k, bottom=True)
        sprite.lift = start * drop
        out = [sprite]
        if k >= 1:
            out.append(_effect("dizzy", x + 0.1 * h, stage.ground - 0.95 * h, 0.38 * h, stage,
                               angle=40 * math.sin(8 * t)))
        return out
    if act == "jump":
        return [_actor(a, stage, x, flip=flip, lift=0.75 * h * abs(math.sin(3 * math.pi * t)))]
    if act == "sleep":
        sprite = _actor(a, stage, x, flip=flip, angle=stage.direction * 90, bottom=True)
        sprite.lift = 0.0
        sprite.height *= 1 + 0.03 * math.sin(6 * math.pi * t)
        z = (t * 2) % 1
        return [sprite, _effect("sleep", x + stage.direction * 0.2 * h + 10 * z, stage.ground - 0.6 * h - 26 * z,
                                0.4 * h, stage, alpha=1 - 0.6 * z)]
    if act == "dance":
        sway = math.sin(4 * math.pi * t)
        out = [_actor(a, stage, x + 5 * sway, flip=sway > 0, angle=18 * sway,
                      lift=6 * abs(math.sin(8 * math.pi * t)))]
        for k in range(2):
            angle = 2 * math.pi * (t + k / 2)
            out.append(_effect("music", x + 0.7 * h * math.cos(angle), stage.ground - 0.9 * h + 8 * math.sin(angle),
                               0.3 * h, stage))
        return out
    raise HGRError(f"no motion script for one-participant action {act!r}")


def event_sprites(event: Event, stage: Stage, t: float) -> list[Sprite]:
    """The sprites of one event at time t in [0, 1] of its duration."""
    return (_pair_motion if event.patient is not None else _solo_motion)(event, stage, t)


def _idle(kind: str, stage: Stage, x: float) -> Sprite:
    return _actor(kind, stage, _clamp(x, _w(kind, stage), stage), flip=stage.direction > 0)


# ------------------------------------------------------------------------------------------------------ clips

def _stage(backdrop_: Backdrop, rng: np.random.Generator, far: bool, size: int, anchor: float | None,
           event: Event) -> Stage:
    """Where an event plays. A two-participant event always moves rightwards, so its doer comes from the left:
    frozen frame features cannot see which way a sprite faces, and "behind it, whichever way they run" is a
    conjunction of layout and direction that the spatiotemporal encoder hardly fits from ~1,000 clips (switch-roles
    accuracy 64% on its own training clips when the direction was random). One-participant events face either way."""
    scale = (FAR_SCALE if far else 1.0) * size / 224
    direction = 1 if rng.random() < 0.5 else -1     # drawn either way, so the rest of the clip's stream is unchanged
    return Stage(backdrop_.far if far else backdrop_.near, 4 * size / 224, size - 4 * size / 224, scale, anchor=anchor,
                 direction=1 if event.patient is not None else direction, z=-10 if far else 0,
                 start=float(rng.random()), phase=float(rng.uniform(0, 2 * math.pi)))


def _draw(frame: Image.Image, sprites: list[Sprite], dark: bool, water: bool) -> None:
    for s in sorted(sprites, key=lambda s: (s.z, s.ground)):
        if s.ring is not None:
            rx, ry = s.ring
            layer = Image.new("RGBA", frame.size, (0, 0, 0, 0))
            draw = ImageDraw.Draw(layer)
            for k in range(28):
                a = 2 * math.pi * k / 28
                px, py = s.x + rx * math.cos(a), s.ground + ry * math.sin(a)
                colour = (255, 255, 255, 190) if dark else (60, 50, 40, 120)
                draw.ellipse([px - 2, py - 1.2, px + 2, py + 1.2], fill=colour)
            frame.alpha_composite(layer)
            continue
        if s.shadow:
            _shadow(frame, s, water)
        _paste(frame, s)


def render_clip(clip: Clip, config: WorldConfig) -> np.ndarray:
    """All frames of a clip, deterministic in (config.seed, clip.index).  # [frames, size, size, 3] uint8"""
    rng = np.random.default_rng([config.seed, clip.index, 2])
    size, n = config.size, config.frames
    back = backdrop(clip.scene, rng, size)
    flakes = np.column_stack([rng.uniform(0, size, 70), rng.uniform(0, size, 70), rng.uniform(0.15, 0.4, 70)])
    first, second = clip.events[0], clip.events[-1]
    if clip.pattern == "simultaneous":
        near_first = first.patient is not None or second.patient is None
        near_event, far_event = (first, second) if near_first else (second, first)
        side = 1 if rng.random() < 0.5 else -1   # the near group plays on this side, the far group on the other
        near = _stage(back, rng, False, size, size / 2 + side * size * 0.28, near_event)
        far = _stage(back, rng, True, size, size / 2 - side * size * 0.3, far_event)
        for stage, event, on in ((near, near_event, side), (far, far_event, -side)):
            if event.patient is not None and event.action in ("chase", "follow", "push", "carry"):
                stage.x0, stage.x1 = (stage.x0, size * 0.75) if on < 0 else (size * 0.25, stage.x1)
        plan = [(near_event, near, 0.0, 1.0), (far_event, far, 0.0, 1.0)]
    elif clip.pattern == "sequence":
        stage = _stage(back, rng, False, size, None if first.patient is not None else size / 2 + rng.uniform(-40, 40),
                       first)
        event_sprites(first, stage, 1.0)      # where the first event leaves its actors (stage.ends)
        x = stage.ends[second.agent][0]
        for other, (ox, _) in stage.ends.items():   # the second event plays in place, clear of the others
            room = (_w(other, stage) + _w(second.agent, stage)) * 0.6
            if other != second.agent and abs(x - ox) < room:
                x = ox + room if ox < size / 2 else ox - room
        idle = [_idle(k, stage, ox) for k, (ox, _) in stage.ends.items() if k != second.agent]
        plan = [(first, stage, 0.0, 0.55), (second, replace(stage, anchor=x), 0.55, 1.0)]
    else:
        anchor = None if first.patient is not None else size / 2 + rng.uniform(-50, 50) * size / 224
        plan = [(first, _stage(back, rng, False, size, anchor, first), 0.0, 1.0)]
    frames = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        clock = i / (n - 1)
        sprites: list[Sprite] = []
        for k, (event, stage, begin, end) in enumerate(plan):
            if clip.pattern == "sequence" and (clock < begin or (k == 0 and clock >= plan[1][2])):
                continue
            sprites += event_sprites(event, stage, min((clock - begin) / (end - begin), 1.0))
        if clip.pattern == "sequence" and clock >= plan[1][2]:
            sprites += idle
        frame = back.image.copy()
        if clip.scene == "snow":
            _snowfall(frame, flakes, clock)
        _draw(frame, sprites, clip.scene in ("night", "water", "road"), back.water)
        frames[i] = np.asarray(frame.convert("RGB"))
    return frames
