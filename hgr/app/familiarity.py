"""Is the model out of its depth? How familiar an input is: a clip's frames to the collection's, a query's words to
the model's vocabulary; below a threshold, a caveat the page and the JSON answers carry (docs/api.md).

    reference = FrameReference.build(video_ids, frames_of)      # or read from its cache beside the collection
    clip_familiarity(features, reference)                        # {"nearest_cosine", "percentile", ..., "caveat"}
    query_familiarity("a xyzzy plorbs", vocab, max_words=30)     # {"known_share", ..., "caveat"}

A clip is compared in the CNN frame-feature space the collection was indexed in, not in the model's joint space:
the model's projections were learned on the collection's kind of frames only, so an unlike frame (colour bars) can
land anywhere there, near the collection's frames included; the CNN space was not fitted to the collection, so
distance in it still means visual difference. Each frame is centred on the collection's mean frame before the
cosine (CNN features after a ReLU all share one positive direction that makes any two frames look alike).
Per clip: the mean over its frames of the cosine to the nearest collection frame (one familiar frame, a black
fade, does not vouch for a clip), as a percentile of what the collection's own clips get against the others
(leave-one-out); the threshold is a low percentile of those.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hgr.search.cache import read_cache, write_cache
from hgr.vocab import Vocabulary


@dataclass(frozen=True)
class FamiliarityConfig:
    threshold_percentile: float = 5.0   # a clip less familiar than this percentile of the collection's own clips
    min_frame_diversity: float = 0.005  # 1 - mean cosine between frames below which they are "nearly identical"
                                        # (a still picture: about 0, video noise only; see docs/api.md)
    min_known_share: float = 0.75       # a query whose known words are a smaller share than this gets a caveat
    max_reference_frames: int = 10_000  # collection frames kept to compare with (whole videos, spread evenly)
    max_calibration_clips: int = 300    # collection clips scored leave-one-out for the percentiles
    chunk_frames: int = 1024            # query frames compared at once (memory: chunk x reference x 4 bytes)


@dataclass
class FrameReference:
    """The collection's frames to compare a clip with, and what its own clips get against them (leave-one-out)."""
    frames: torch.Tensor       # [R, dim] float32, centred and unit length (float16 in the cache file)
    owner: torch.Tensor        # [R] int64: the reference video each frame belongs to
    video_ids: list[str]       # the reference videos, in `owner`'s numbering
    mean: torch.Tensor         # [dim] float32: the collection's mean frame (the centre)
    scores: np.ndarray         # [C] the calibration clips' mean nearest-frame cosine, sorted
    diversity: np.ndarray      # [C] the calibration clips' frame diversity, sorted
    config: FamiliarityConfig

    @classmethod
    def build(cls, video_ids: Sequence[str], frames_of: Callable[[str], np.ndarray],
              config: FamiliarityConfig | None = None) -> FrameReference:
        """`frames_of(video_id)` -> that video's frame features [n, dim] (as the model reads them, resampled)."""
        config = config or FamiliarityConfig()
        ids = list(video_ids)
        if len(ids) < 2:
            raise ValueError("a familiarity reference needs at least two videos (each is scored against the others)")
        first = np.asarray(frames_of(ids[0]), dtype=np.float32)          # its length sizes the spread of videos
        keep = _spread(len(ids), max(2, config.max_reference_frames // max(1, len(first))))
        ids = [ids[i] for i in keep]
        per_video = [first] + [np.asarray(frames_of(v), dtype=np.float32) for v in ids[1:]]
        raw = torch.from_numpy(np.concatenate(per_video))                          # [R, dim]
        owner = torch.cat([torch.full((len(f),), i, dtype=torch.int64) for i, f in enumerate(per_video)])
        mean = raw.mean(0)                                                         # [dim]
        frames = _unit(raw - mean).half().float()          # as the cache file keeps them: same scores read back
        reference = cls(frames, owner, ids, mean, np.zeros(0), np.zeros(0), config)
        calibration = _spread(len(ids), config.max_calibration_clips)
        scores = [reference.nearest(per_video[i], exclude=i) for i in calibration]
        reference.scores = np.sort(np.array(scores, dtype=np.float32))
        reference.diversity = np.sort(np.array([frame_diversity(per_video[i]) for i in calibration], np.float32))
        return reference

    @property
    def threshold(self) -> float:
        """The mean nearest-frame cosine below which a clip gets a caveat."""
        return float(np.percentile(self.scores, self.config.threshold_percentile))

    def nearest(self, features: np.ndarray, exclude: int | None = None) -> float:
        """Mean over the clip's frames [n, dim] of the cosine to the nearest reference frame, leaving out the
        frames of reference video `exclude` (a collection clip is not compared with itself)."""
        clip = _unit(torch.from_numpy(np.asarray(features, dtype=np.float32)) - self.mean)     # [n, dim]
        best = []
        for start in range(0, len(clip), self.config.chunk_frames):
            cos = clip[start:start + self.config.chunk_frames] @ self.frames.T                  # [chunk, R]
            if exclude is not None:
                cos[:, self.owner == exclude] = -2.0
            best.append(cos.max(1).values)
        return float(torch.cat(best).mean())

    def to_payload(self) -> dict:
        return {"frames": self.frames.half(), "owner": self.owner, "video_ids": list(self.video_ids),
                "mean": self.mean, "scores": torch.from_numpy(self.scores),
                "diversity": torch.from_numpy(self.diversity), "config": asdict(self.config)}

    @classmethod
    def from_payload(cls, obj: dict, config: FamiliarityConfig) -> FrameReference | None:
        """The cached reference, or None when it was made with other settings."""
        if obj.get("config") != asdict(config):
            return None
        return cls(obj["frames"].float(), obj["owner"], list(obj["video_ids"]), obj["mean"], obj["scores"].numpy(),
                   obj["diversity"].numpy(), config)


def frame_reference(video_ids: Sequence[str], frames_of: Callable[[str], np.ndarray], cache: Path | None,
                    config: FamiliarityConfig | None = None) -> FrameReference | None:
    """`FrameReference.build`, read from `cache` when it holds one made with `config` (else built and written
    there: `hgr.search.cache` names the file after the collection, checkpoint, videos and features). None for a
    single video: there is nothing to calibrate on."""
    config = config or FamiliarityConfig()
    if len(video_ids) < 2:
        return None
    reference = read_cache(cache, "familiarity", lambda obj: FrameReference.from_payload(obj, config))
    if reference is None:
        reference = FrameReference.build(video_ids, frames_of, config)
        if cache is not None:
            write_cache(reference.to_payload(), cache)
    return reference


def _spread(n: int, most: int) -> list[int]:
    """At most `most` of range(n), evenly spread (all of them when n <= most)."""
    return list(range(n)) if n <= most else np.unique(np.linspace(0, n - 1, most).round().astype(int)).tolist()


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def frame_diversity(features: np.ndarray) -> float:
    """1 - the mean cosine between two different frames of a clip [n, dim]: 0 when every frame is the same (one
    frame counts as 0: nothing changes over time)."""
    if len(features) < 2:
        return 0.0
    unit = _unit(torch.from_numpy(np.asarray(features, dtype=np.float32)))
    cos = unit @ unit.T                                                                   # [n, n]
    n = len(unit)
    return float(max(0.0, 1.0 - (cos.sum() - cos.diagonal().sum()) / (n * (n - 1))))


def clip_familiarity(features: np.ndarray, reference: FrameReference | None, exclude: str | None = None,
                     config: FamiliarityConfig | None = None) -> dict:
    """How like the collection's frames a clip's frame features [n, dim] are; `exclude`: the collection video
    they are from (its own frames are left out). The JSON answers' `familiarity` (docs/api.md). Without a
    reference (a one-video collection) only the frames' diversity is judged."""
    config = reference.config if reference is not None else config or FamiliarityConfig()
    score = threshold = percentile = None
    caveats = []
    if reference is not None:
        row = reference.video_ids.index(exclude) if exclude in reference.video_ids else None
        score = reference.nearest(features, exclude=row)
        threshold = reference.threshold
        percentile = round(100.0 * float(np.mean(reference.scores < score)), 1)
        if score < threshold:
            caveats.append(f"This clip looks unlike the collection the model knows: its frames' similarity to the "
                           f"nearest collection frame ({score:.2f}) is lower than what "
                           f"{100 - config.threshold_percentile:g}% of the collection's own clips get against the "
                           f"rest of it (threshold {threshold:.2f}). The captions and scores are the model's "
                           "closest guesses, not a recognition of what it shows.")
    diversity = frame_diversity(features)
    if diversity < config.min_frame_diversity:
        caveats.append(f"Its {len(features)} frames are nearly identical (frame diversity {diversity:.3f}, below "
                       f"{config.min_frame_diversity:g}): nothing changes over time, so the frame alignment cannot "
                       "say when anything happens; its peaks come from the encoder, not the clip.")
    return {"kind": "clip", "nearest_cosine": None if score is None else round(score, 4), "percentile": percentile,
            "threshold": None if threshold is None else round(threshold, 4),
            "threshold_percentile": config.threshold_percentile,
            "calibration_clips": 0 if reference is None else len(reference.scores),
            "frame_diversity": round(diversity, 4),
            "min_frame_diversity": config.min_frame_diversity, "familiar": not caveats,
            "caveat": " ".join(caveats) or None}


def query_familiarity(text: str, vocab: Vocabulary, max_words: int, config: FamiliarityConfig | None = None) -> dict:
    """The share of a normalised query's words (the first `max_words`, those the model reads) in the model's
    vocabulary, and a caveat below `min_known_share`."""
    config = config or FamiliarityConfig()
    words = text.split()[:max_words]
    unknown = list(dict.fromkeys(w for w in words if w not in vocab))
    known = sum(w in vocab for w in words)
    share = known / len(words) if words else 0.0
    caveat = None
    if share < config.min_known_share:
        caveat = (f"The model knows only {known} of this query's {len(words)} words ({share:.0%}, below "
                  f"{config.min_known_share:.0%}); it reads {', '.join(unknown)} as unknown, so the ranking rests "
                  "on the words it knows.")
    return {"kind": "query", "words": len(words), "known_words": known, "known_share": round(share, 4),
            "unknown": unknown, "threshold": config.min_known_share, "familiar": caveat is None, "caveat": caveat}
