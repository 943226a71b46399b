"""`hgr index` on small real videos written here with moviepy: shapes, manifest, bad files, SIGKILL and resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hgr.collection import Collection
from hgr.errors import VideoError
from hgr.features import extract_clip_features, load_extractor
from hgr.indexer import index_videos

REPO = Path(__file__).resolve().parents[1]


def write_video(path: Path, seed: int, seconds: float = 1.0, fps: int = 5, size: int = 64,
                noise: bool = False) -> Path:
    """A tiny H.264 clip: a bar moving over a coloured background (different per seed), or noise."""
    from moviepy import VideoClip

    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 255, 3)

    def frame(t: float) -> np.ndarray:
        if noise:                          # incompressible: every frame's data is spread through the file
            return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        img = np.empty((size, size, 3), np.uint8)
        img[:] = colour
        x = int(t * size) % size
        img[:, x:x + 12] = 255 - colour
        return img

    path.parent.mkdir(parents=True, exist_ok=True)
    VideoClip(frame, duration=seconds).with_fps(fps).write_videofile(str(path), codec="libx264", audio=False,
                                                                     logger=None)
    return path


def write_audio_only(path: Path) -> Path:
    from moviepy import AudioClip

    AudioClip(lambda t: np.sin(2 * np.pi * 440 * t), duration=0.5, fps=8000).write_audiofile(
        str(path), codec="aac", logger=None)
    return path


@pytest.fixture(scope="module")
def cnn():
    return load_extractor("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    for i in range(3):
        write_video(d / f"clip{i}.mp4", seed=i)
    write_video(d / "sub" / "clip3.mp4", seed=3, seconds=0.6)
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    (d / "empty.avi").write_bytes(b"")
    write_audio_only(d / "voice.mp4")
    (d / "notes.txt").write_text("not a video")
    (d / "captions.json").write_text(json.dumps({"clip0": ["a bar moves right"], "sub/clip3": ["short"],
                                                 "gone": ["no such video"]}))
    return d


def test_index_folder(folder, tmp_path, cnn):
    out = tmp_path / "coll"
    report = index_videos(folder, out, captions=folder / "captions.json", max_frames=3, regions="1x2",
                          progress=False, device="cpu")
    assert sorted(report.indexed) == ["clip0", "clip1", "clip2", "sub/clip3"]
    failed = dict(report.failed)
    assert set(failed) == {str(folder / n) for n in ("broken.mp4", "empty.avi", "voice.mp4")}
    assert "empty file" in failed[str(folder / "empty.avi")]
    assert "audio-only" in failed[str(folder / "voice.mp4")]
    assert "not a readable video" in failed[str(folder / "broken.mp4")]
    assert any("notes.txt" in f for f, _ in report.skipped) and report.captions_unmatched == ["gone"]
    assert "failed 3" in report.summary() and report.frames == 12

    coll = Collection.open(out)
    m = coll.manifest
    assert coll.dim == m["dim"] == 1280 and m["extractor"]["name"] == "efficientnet-lite0"
    assert m["extractor"]["preprocessing"]["crop"] == 224 and m["sampling"]["max_frames"] == 3
    assert m["frame_counts"] == {"clip0": 3, "clip1": 3, "clip2": 3, "sub/clip3": 3} and m["dtype"] == "float16"
    assert coll.captions == {"clip0": ["a bar moves right"], "sub/clip3": ["short"]}
    assert coll.video_path("sub/clip3") == folder / "sub" / "clip3.mp4"
    for vid in coll.video_ids:
        f, r = coll.features(vid), coll.region_features(vid)
        assert f.shape == (3, 1280) and f.dtype == np.float32 and np.isfinite(f).all() and f.std() > 0
        assert r.shape == (3, 2, 1280)
        assert np.corrcoef(r.mean(1).ravel(), f.ravel())[0, 1] > 0.95   # halves (overlapping at column 3 of 7)
        assert not np.allclose(r[:, 0], r[:, 1], atol=1e-2)            # left and right differ: the bar moves
    assert not np.allclose(coll.features("clip0"), coll.features("clip1"), atol=1e-2)

    # the app's single-clip path gives the indexed features (same decode, preprocessing and CNN)
    clip = extract_clip_features(folder / "clip1.mp4", coll.manifest, device="cpu")
    np.testing.assert_allclose(clip, coll.features("clip1"), rtol=1e-2, atol=1e-3)

    again = index_videos(folder, out, max_frames=3, regions="1x2", progress=False, device="cpu")
    assert again.indexed == [] and sum(why == "already indexed" for _, why in again.skipped) == 4
    assert Collection.open(out).video_ids == coll.video_ids


def test_clip_errors(folder, tmp_path, cnn):
    for name, reason in (("empty.avi", "empty file"), ("voice.mp4", "audio-only"), ("notes.txt", "not a readable"),
                         ("broken.mp4", "not a readable"), ("absent.mp4", "not found")):
        with pytest.raises(VideoError, match=reason):
            extract_clip_features(folder / name, cnn)
    with pytest.raises(VideoError, match="over the limit of 0 s"):
        extract_clip_features(folder / "clip0.mp4", cnn, max_duration=0.5)
    long = write_video(tmp_path / "long.mp4", seed=9, seconds=3.0, fps=10, noise=True)
    data = long.read_bytes()
    moov_first = data.find(b"moov") < data.find(b"mdat")
    cut = tmp_path / "cut.mp4"
    if not moov_first:                     # make it streamable so that the cut keeps a readable header
        subprocess.run([_ffmpeg(), "-loglevel", "error", "-i", str(long), "-c", "copy", "-movflags", "+faststart",
                        str(tmp_path / "fs.mp4")], check=True)
        data = (tmp_path / "fs.mp4").read_bytes()
    cut.write_bytes(data[:len(data) // 3])
    with pytest.raises(VideoError, match="truncated or corrupt video: decoding stopped at frame"):
        extract_clip_features(cut, cnn)
    cut.write_bytes(data[:len(data) // 20])
    with pytest.raises(VideoError, match="truncated or corrupt video"):
        extract_clip_features(cut, cnn)
    feats = extract_clip_features(long, cnn, max_frames=2)
    assert feats.shape == (2, 1280) and feats.dtype == np.float32


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _done_ids(out: Path) -> list[str]:
    log = out / "staging" / "done.log"
    if not log.exists():
        return []
    return [json.loads(line)["id"] for line in log.read_text().splitlines(keepends=True) if line.endswith("\n")]


def test_sigkill_midway_then_resume_loses_nothing(tmp_path, cnn):
    videos = tmp_path / "videos"
    for i in range(7):
        write_video(videos / f"v{i}.mp4", seed=10 + i, seconds=0.6)
    out = tmp_path / "coll"
    cmd = [sys.executable, "-m", "hgr", "index", str(videos), "--out", str(out), "--max-frames", "2",
           "--device", "cpu"]
    reported: set[str] = set()
    for kill_after in (1, 3):              # two kills at different points, each resuming the previous run
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while len(_done_ids(out)) < kill_after and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the indexer finished before it could be killed"
        reported |= set(_done_ids(out))    # durable 'done' records at the instant of the kill
        coll = Collection.open(out)        # opens after the kill, and holds every video reported done
        assert reported <= set(coll.video_ids) and len(coll.video_ids) == len(set(coll.video_ids))
        coll.close()
    assert len(reported) < 7
    report = index_videos(videos, out, max_frames=2, progress=False, device="cpu")
    assert set(report.indexed).isdisjoint(reported) and not report.failed
    coll = Collection.open(out)
    assert sorted(coll.video_ids) == [f"v{i}" for i in range(7)] and len(set(coll.video_ids)) == 7
    assert coll.split("all") == coll.video_ids and not list((out / "staging").iterdir())
    for vid in coll.video_ids:             # every video holds its own features, whichever run wrote it
        want = extract_clip_features(videos / f"{vid}.mp4", cnn, max_frames=2)
        np.testing.assert_allclose(coll.features(vid), want, rtol=1e-2, atol=1e-3)
