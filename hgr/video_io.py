"""Video file -> sampled RGB frames, decoded with moviepy's ffmpeg reader (the ffmpeg bundled by imageio-ffmpeg).

Which frames are kept is a `Sampling` policy, recorded in a collection's manifest so that an uploaded query clip
is sampled exactly like the indexed videos. Every way a file can fail to be a usable video (missing, empty, not a
video, audio only, truncated, too long) is a `VideoError` whose message names the file and the reason.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hgr.errors import VideoError

# file name endings taken as videos when indexing a folder (lower case)
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
                    ".ts", ".gif", ".ogv")


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video become feature frames.

    Default: `max_frames` frames spread uniformly over the clip (the centre frame of each of `max_frames` equal
    segments; every frame of a shorter clip). With `fps` or `every`, frames are taken at that rate and
    `max_frames` (if set) caps them with the official 'select' rule (evenly spaced, `np.round(np.linspace)`).
    """
    max_frames: int | None = 20     # frames per video (uniform policy) or cap (fps / every); None = no cap
    fps: float | None = None        # take this many frames per second of video
    every: int | None = None        # take every N-th decoded frame (MSR-VTT's features: one every 16 frames)

    def __post_init__(self) -> None:
        if self.fps is not None and self.every is not None:
            raise ValueError("give at most one of fps and every")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.every is not None and self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 (or None for no cap), got {self.max_frames}")
        if self.max_frames is None and self.fps is None and self.every is None:
            raise ValueError("the uniform policy needs max_frames")

    @property
    def policy(self) -> str:
        return "fps" if self.fps is not None else "every" if self.every is not None else "uniform"

    def to_dict(self) -> dict:
        return {"policy": self.policy, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> Sampling:
        return cls(max_frames=d.get("max_frames"), fps=d.get("fps"), every=d.get("every"))

    def frame_indices(self, num_frames: int, video_fps: float) -> np.ndarray:
        """Indices (ascending, unique) of the frames to decode from a video of `num_frames` frames."""
        n = int(num_frames)
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        if self.policy == "uniform":
            k = min(n, int(self.max_frames))
            return np.floor((np.arange(k) + 0.5) * n / k).astype(np.int64)
        if self.policy == "every":
            idx = np.arange(0, n, int(self.every), dtype=np.int64)
        else:
            step = float(video_fps) / float(self.fps)           # video frames per sampled frame
            k = max(1, int(n / step))
            idx = np.unique(np.minimum(np.floor((np.arange(k) + 0.5) * step), n - 1).astype(np.int64))
        if self.max_frames is not None and len(idx) > self.max_frames:
            idx = idx[select_rows(len(idx), self.max_frames)]
        return idx


def select_rows(n: int, max_frames: int) -> np.ndarray:
    """The official 'select' rule (spec section 2): of n >= max_frames frames, rows round(linspace(0, n-1,
    max_frames)) (halves to even); fewer frames are all kept. The one home of the rule: features, sampled frames
    and the app's frame strips all use it."""
    if n >= max_frames:
        return np.round(np.linspace(0, n - 1, max_frames)).astype(np.int64)
    return np.arange(n, dtype=np.int64)


def select_frames(features: np.ndarray, max_frames: int = 20, pad: bool = False) -> tuple[np.ndarray, int]:
    """Official `pad_or_trim_feature(ft, max_frames, 'select')`: the `select_rows` of features (n, dim).

    Returns (min(n, max_frames), dim) float32 and attn_len = min(n, max_frames); with pad=True the array is
    zero-padded to (max_frames, dim) like the official loader (collate then trims to the batch's longest).
    """
    features = np.asarray(features, dtype=np.float32)              # (n, dim)
    out = features[select_rows(features.shape[0], max_frames)]
    attn_len = len(out)
    if pad and attn_len < max_frames:
        out = np.concatenate([out, np.zeros((max_frames - attn_len, features.shape[1]), np.float32)], 0)
    return out, attn_len


@dataclass
class VideoInfo:
    """What ffmpeg says about a file's video stream."""
    path: str
    fps: float
    num_frames: int          # as stated by the container (an estimate for some formats)
    duration: float          # seconds
    width: int
    height: int


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: file not found")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")


def _ffmpeg_reason(err: Exception) -> str:
    """The informative ffmpeg line of a moviepy error (its messages end with ffmpeg's stderr)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in lines:
        if "moov atom not found" in ln:
            return "not a readable video (ffmpeg: moov atom not found; truncated or not an MP4)"
    for ln in reversed(lines):
        if "Invalid data" in ln or "Error" in ln or "error" in ln:
            return f"not a readable video (ffmpeg: {ln.split('] ')[-1]})"
    return f"not a readable video ({type(err).__name__}: {lines[-1] if lines else err})"


def probe_video(path: str | Path, max_duration: float | None = None) -> VideoInfo:
    """Read a file's video-stream facts without decoding; VideoError if it has no usable video stream."""
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    path = Path(path)
    _check_file(path)
    try:
        infos = ffmpeg_parse_infos(str(path), decode_file=False)
    except Exception as err:  # moviepy raises OSError/IOError/ValueError/KeyError depending on the breakage
        raise VideoError(f"{path}: {_ffmpeg_reason(err)}") from err
    if not infos.get("video_found"):
        what = "audio-only file" if infos.get("audio_found") else "no video stream"
        raise VideoError(f"{path}: no video stream ({what}); give a video file")
    fps = float(infos.get("video_fps") or 0.0)
    duration = float(infos.get("video_duration") or infos.get("duration") or 0.0)
    num_frames = int(infos.get("video_n_frames") or 0)
    if num_frames <= 0 and fps > 0:
        num_frames = int(math.floor(duration * fps))
    if fps <= 0 or num_frames <= 0:
        raise VideoError(f"{path}: video stream has no frames (fps={fps}, duration={duration:.2f}s)")
    if max_duration is not None and duration > max_duration:
        raise VideoError(f"{path}: video is {duration:.1f} s long, over the limit of {max_duration:.0f} s; "
                         "trim it or raise the limit")
    width, height = (infos.get("video_size") or (0, 0))[:2]
    return VideoInfo(str(path), fps, num_frames, duration, int(width), int(height))


def read_frames(path: str | Path, sampling: Sampling, max_duration: float | None = None,
                truncation_tolerance: float = 0.9) -> tuple[list[np.ndarray], VideoInfo]:
    """Decode the frames `sampling` picks: a list of (H, W, 3) uint8 RGB arrays, and the file's info.

    A stream that ends before `truncation_tolerance` of its stated frames is a truncated file (VideoError);
    samples past a slightly early end (containers over-state frame counts) are dropped.
    """
    from moviepy.video.io.ffmpeg_reader import FFMPEG_VideoReader

    info = probe_video(path, max_duration)
    indices = sampling.frame_indices(info.num_frames, info.fps)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                  # moviepy warns, then raises, on an unreadable 1st frame
            reader = FFMPEG_VideoReader(str(path), decode_file=False)
    except Exception as err:
        if "failed to read the first frame" in str(err):
            raise VideoError(f"{path}: truncated or corrupt video: not even the first of its {info.num_frames} "
                             "frames can be decoded") from err
        raise VideoError(f"{path}: {_ffmpeg_reason(err)}") from err
    frames: list[np.ndarray] = []
    try:
        for idx in indices:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = reader.get_frame(int(idx) / reader.fps)     # moviepy maps t = idx / fps to frame idx
            if any("bytes wanted" in str(w.message) for w in caught):   # the stream ended before frame idx
                decoded = max(0, reader.pos - 1)
                if decoded < truncation_tolerance * info.num_frames and info.num_frames - decoded > 2:
                    raise VideoError(f"{path}: truncated or corrupt video: decoding stopped at frame {decoded} "
                                     f"of {info.num_frames} ({decoded / info.fps:.2f} s of {info.duration:.2f} s)")
                break
            frames.append(np.asarray(frame[..., :3], dtype=np.uint8))
    except VideoError:
        raise
    except Exception as err:
        raise VideoError(f"{path}: decoding failed ({type(err).__name__}: {err})") from err
    finally:
        reader.close()
    if not frames:
        raise VideoError(f"{path}: no frame could be decoded")
    return frames, info


def list_videos(video_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """(video files, other files) under `video_dir`, recursively, sorted; hidden files and folders are ignored."""
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise VideoError(f"{video_dir}: not a folder of videos")
    videos, others = [], []
    for dirpath, dirnames, filenames in os.walk(video_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            (videos if p.suffix.lower() in VIDEO_EXTENSIONS else others).append(p)
    return sorted(videos), sorted(others)
