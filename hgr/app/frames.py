"""Frame strips: small JPEG thumbnails of the frames the model saw of a clip, drawn above its frame alignment.

Decoding a clip costs about 0.1 s of ffmpeg, more than everything else a search page needs, so each collection
video's strip is decoded once: kept in memory (bounded), stored on disk next to the collection's encoded-video cache
(one small JSON file per video, redone when the video file changes) and, in the app, filled for every video by a
background thread at start-up (`FrameStrips.warm`).
"""
from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import io
import json
import shutil
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from hgr.atomic import atomic_write_text
from hgr.errors import VideoError
from hgr.video_io import Sampling, read_frames, select_rows

Thumb = tuple[str, float]             # (JPEG data URI, time of the frame in s)
JPEG_QUALITY = 80
DATA_URI = "data:image/jpeg;base64,"
FORMAT_VERSION = 1                    # bump when what a stored strip holds changes


def clip_thumbnails(path: str | Path, sampling: Sampling, max_frames: int, height: int,
                    max_duration: float | None = None) -> list[tuple[np.ndarray, float]]:
    """Thumbnails of the frames behind a clip's model frames: the sampling's frames, then the 'select' rows."""
    from PIL import Image

    frames, info = read_frames(path, sampling, max_duration=max_duration)
    times = sampling.frame_indices(info.num_frames, info.fps)[:len(frames)] / info.fps
    n = len(frames)
    out = []
    for r in select_rows(n, max_frames):
        img = Image.fromarray(frames[r])
        width = max(1, round(img.width * height / img.height))
        out.append((np.asarray(img.resize((width, height), Image.BILINEAR)), float(times[r])))
    return out


def data_uri(image: np.ndarray) -> str:
    """An RGB image [H, W, 3] as a JPEG data URI (what a plotly layout image's `source` takes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return DATA_URI + base64.b64encode(buf.getvalue()).decode("ascii")


def encode_strip(thumbnails: list[tuple[np.ndarray, float]]) -> list[Thumb]:
    return [(data_uri(img), t) for img, t in thumbnails]


class FrameStrips:
    """The frame strip of each collection video: memory (LRU of `memory` videos), then disk, then ffmpeg."""

    def __init__(self, video_path: Callable[[str], Path | None], sampling: Sampling | None, max_frames: int,
                 height: int, folder: Path | None = None, memory: int = 1024) -> None:
        self.video_path, self.sampling, self.max_frames, self.height = video_path, sampling, max_frames, height
        self.memory = memory
        self._strips: collections.OrderedDict[str, list[Thumb]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.folder = None
        if folder is not None and sampling is not None:
            what = json.dumps([FORMAT_VERSION, sampling.to_dict(), max_frames, height, JPEG_QUALITY])
            self.folder = Path(folder) / f"frames-{hashlib.sha256(what.encode()).hexdigest()[:16]}"
            for other in Path(folder).glob("frames-*"):         # strips made with other settings: superseded
                if other != self.folder and other.is_dir():
                    shutil.rmtree(other, ignore_errors=True)

    def __call__(self, video_id: str) -> list[Thumb]:
        """The strip of a collection video ([] when it has no playable file or cannot be decoded)."""
        return self._get(video_id)[0]

    def warm(self, video_ids: Iterable[str], stop: threading.Event | None = None) -> tuple[int, int]:
        """Make the strips of `video_ids` ready (all of them on disk, or as many as memory holds without a disk
        cache); returns (videos ready, of which decoded now)."""
        ids = list(video_ids)
        ready = decoded = 0
        for video_id in ids if self.folder is not None else ids[:self.memory]:
            if stop is not None and stop.is_set():
                break
            decoded += self._get(video_id)[1]
            ready += 1
        return ready, decoded

    def _get(self, video_id: str) -> tuple[list[Thumb], bool]:
        """(strip, whether it was decoded now rather than found in memory or on disk)."""
        with self._lock:
            if video_id in self._strips:
                self._strips.move_to_end(video_id)
                return self._strips[video_id], False
        strip, decoded = self._load(video_id)
        with self._lock:
            self._strips[video_id] = strip
            while len(self._strips) > self.memory:
                self._strips.popitem(last=False)
        return strip, decoded

    def _load(self, video_id: str) -> tuple[list[Thumb], bool]:
        path = self.video_path(video_id)
        if path is None or self.sampling is None:
            return [], False
        try:
            stat = path.stat()
        except OSError:
            return [], False
        source = [str(path), stat.st_size, stat.st_mtime_ns]           # a changed file is decoded again
        name = hashlib.sha1(f"{video_id}\n{path}".encode()).hexdigest()[:24]    # collections may share a folder
        file = self.folder / f"{name}.json" if self.folder is not None else None
        stored = _read_strip(file, video_id, source) if file is not None else None
        if stored is not None:
            return stored, False
        try:
            strip = encode_strip(clip_thumbnails(path, self.sampling, self.max_frames, self.height))
        except VideoError as err:                       # kept in memory only: decoded again on the next start
            warnings.warn(f"{video_id}: no frame strip, its video cannot be decoded ({err})", stacklevel=2)
            return [], True
        if file is not None:
            _write_strip(file, {"video_id": video_id, "source": source, "frames": strip})
        return strip, True


def _read_strip(file: Path, video_id: str, source: list) -> list[Thumb] | None:
    """A stored strip, or None when there is none, it is for another file version, or it is not what we wrote."""
    try:
        with open(file, encoding="utf-8") as f:
            stored = json.load(f)
        if stored["video_id"] != video_id or stored["source"] != source:
            return None
        frames = [(str(uri), float(t)) for uri, t in stored["frames"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return frames if all(uri.startswith(DATA_URI) for uri, _ in frames) else None


def _write_strip(file: Path, value: dict) -> None:
    """Write atomically (a reader never sees half a file); a cache that cannot be written is only slower."""
    with contextlib.suppress(OSError):
        atomic_write_text(file, json.dumps(value), durable=False)
