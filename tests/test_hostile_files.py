"""Broken uploads, made here: each gets a clear error from the Python API, `hgr index` and the running app, and the
app keeps answering with bounded memory; paths that escape the upload folder are neither read nor deleted.

Already covered in tests/test_app.py (not repeated): through /captions, a text file named .mp4, an empty file, a
truncated mp4, a .txt file, a clip over --max-duration, a file over --max-upload-mb;
in tests/test_index.py: empty, audio-only, random-header and .txt files skipped or failed by `hgr index`.
"""
from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hgr.errors import VideoError
from tests.appfixture import app_data


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", *args], check=True)


# name -> what the error must say (None: a valid video, which must work)
EXPECTED = {
    "random-bytes.mp4": "not a readable video",
    "image.png": "not a video file type",
    "image-named.mp4": "not a readable video|no frames|truncated",
    "huge-resolution.mp4": "7680x4320 pixels are over the limit",
    "zero-frames.mp4": "not a readable video|no frames",
    "audio-only.mp4": "audio-only",
    "two-hours.mp4": "over the limit of 4 s",
    "one-frame.mp4": None,
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    from PIL import Image

    d = tmp_path_factory.mktemp("hostile-uploads")
    (d / "random-bytes.mp4").write_bytes(np.random.default_rng(5).bytes(200_000))
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(buf, format="PNG")
    (d / "image.png").write_bytes(buf.getvalue())
    (d / "image-named.mp4").write_bytes(buf.getvalue())
    lavfi = ["-f", "lavfi", "-i"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    ffmpeg(*lavfi, "color=c=red:s=7680x4320:r=2:d=1", *h264, str(d / "huge-resolution.mp4"))     # 8K, ~100 kB
    ffmpeg(*lavfi, "testsrc=s=64x64:r=5:d=1", "-frames:v", "0", *h264, str(d / "zero-frames.mp4"))
    ffmpeg(*lavfi, "testsrc=s=64x64:r=5:d=1", "-frames:v", "1", *h264, str(d / "one-frame.mp4"))
    ffmpeg(*lavfi, "sine=frequency=440:duration=1", "-c:a", "aac", str(d / "audio-only.mp4"))
    ffmpeg(*lavfi, "color=c=blue:s=16x16:r=1:d=7200", *h264, str(d / "two-hours.mp4"))          # 2 h at 1 fps
    return {name: d / name for name in EXPECTED}


@pytest.fixture(scope="module")
def service():
    import hgr
    from hgr.app.service import AppConfig, DemoService
    from hgr.collection import Collection

    root = app_data()
    coll = Collection.open(root / "collection")
    yield DemoService(coll, hgr.load(root / "model.pt", device="cpu"), config=AppConfig(max_duration_s=4))
    coll.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_python_api(service, corpus, name):
    if EXPECTED[name] is None:
        assert service.captions(corpus[name], 3)["results"]
        return
    with pytest.raises(VideoError, match=EXPECTED[name]) as err:
        service.captions(corpus[name], 3)
    assert name in str(err.value)


def test_hgr_index_reports_each_file(corpus, tmp_path):
    """`hgr index` on the corpus: the valid clips are indexed, every other file is skipped or failed with a reason."""
    from hgr.collection import Collection
    from hgr.indexer import index_videos

    videos = tmp_path / "videos"
    videos.mkdir()
    for name, path in corpus.items():
        if name not in ("huge-resolution.mp4", "two-hours.mp4"):       # valid, only slow; the app refuses them
            (videos / name).write_bytes(path.read_bytes())
    report = index_videos(videos, tmp_path / "coll", max_frames=2, progress=False, device="cpu")
    assert report.indexed == ["one-frame"]
    failed = {Path(f).name: why for f, why in report.failed}
    skipped = {Path(f).name: why for f, why in report.skipped}
    assert set(failed) == {"random-bytes.mp4", "image-named.mp4", "zero-frames.mp4", "audio-only.mp4"}
    for name, why in failed.items():
        assert why and any(p in why for p in EXPECTED[name].split("|")), (name, why)
    assert "not a video file extension" in skipped["image.png"]
    assert Collection.open(tmp_path / "coll").video_ids == ["one-frame"]


# ------------------------------------------------------------------------------------------------ the running app
# `app` and `client`: the shared guarded app (tests/conftest.py)


def test_app_answers_every_broken_upload_clearly(client, app, corpus):
    """Each file through /captions: its error (or, for the 1-frame clip, results) within a generous hang guard; the
    server's peak memory grows by less than one decoded 8K frame (about 100 MB) over the whole corpus."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client.predict(handle_file(str(corpus["one-frame.mp4"])), 2, api_name="/captions")     # warm: CNN loaded
    before = app.memory_mb()["VmHWM"]
    for name, expected in EXPECTED.items():
        job = client.submit(handle_file(str(corpus[name])), 3, api_name="/captions")
        if expected is None:
            assert job.result(timeout=120)["results"]
        else:
            with pytest.raises(AppError, match=expected):
                job.result(timeout=120)
        assert client.predict("a red square moves across a black screen", 1, api_name="/search")["results"]
    grown = app.memory_mb()["VmHWM"] - before
    assert grown < 100, f"peak memory grew by {grown:.0f} MB over the hostile uploads"


def _raw_call(app, api: str, data: list) -> str:
    """POST to gradio's queue API with a hand-made payload (as a hostile client would), return the event stream."""
    import json
    import urllib.request

    req = urllib.request.Request(f"{app.url.rstrip('/')}/gradio_api/call{api}", method="POST",
                                 data=json.dumps({"data": data}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        event = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{app.url.rstrip('/')}/gradio_api/call{api}/{event}", timeout=120) as r:
        return r.read().decode()


def test_paths_outside_the_upload_folder_are_refused_and_kept(app, tmp_path):
    """A client naming a server path (the model, a file via '..', a symlink) instead of uploading a file: refused,
    and the file is neither read as a video nor deleted (the app deletes no file; gradio sweeps its uploads)."""
    root = app_data()
    target = tmp_path / "victim.mp4"
    target.write_bytes((root / "videos" / "clip1.mp4").read_bytes())
    link = app.tmp / "link.mp4"                       # a symlink inside the upload area, pointing out of it
    link.symlink_to(target)
    paths = [str(target), str(root / "model.pt"), str(app.tmp / ".." / os.path.relpath(target, app.tmp.parent)),
             str(link)]
    for path in paths:
        out = _raw_call(app, "/captions", [{"path": path, "meta": {"_type": "gradio.FileData"}}, 3])
        assert "event: error" in out and "clip1" not in out, (path, out[-400:])
    assert target.read_bytes() == (root / "videos" / "clip1.mp4").read_bytes() and link.is_symlink()
    assert (root / "model.pt").is_file()
    link.unlink()
