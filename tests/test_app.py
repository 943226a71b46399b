"""The web app through gradio_client, against `python app.py` started once in a subprocess on a free port.

The collection is made here: six short real videos (distinct colours and shapes) written with moviepy, indexed
with `hgr.indexer`, and a checkpoint trained for a few epochs with `hgr.train.train`. The ground-truth tests are
meaningful because the model only knows the videos through features the indexer computed from the files: a
re-worded, re-cased query must still rank its own clip first among six, and an uploaded copy of a clip, whose
features the app computes afresh, must rank that clip's captions first.
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# (foreground RGB, background RGB, shape); captions say it in words
CLIPS = {
    "clip0": ((200, 30, 30), (0, 0, 0), "square"),
    "clip1": ((30, 60, 220), (255, 255, 255), "circle"),
    "clip2": ((30, 180, 60), (240, 220, 40), "bar"),
    "clip3": ((255, 255, 255), (120, 40, 160), "circle"),
    "clip4": ((250, 140, 20), (128, 128, 128), "square"),
    "clip5": ((0, 0, 0), (250, 160, 200), "bar"),
}
CAPTIONS = {
    "clip0": ["a red square moves across a black screen", "a small red box slides to the right"],
    "clip1": ["a blue ball rolls across a white floor", "a blue circle moves over a white screen"],
    "clip2": ["a green bar sweeps over a yellow wall", "a green stripe crosses a yellow screen"],
    "clip3": ["a white ball drifts over a purple background", "a white circle floats across purple"],
    "clip4": ["an orange square slides over a grey floor", "an orange box moves across grey"],
    "clip5": ["a black stripe passes over a pink wall", "a dark bar crosses a pink screen"],
}
# typed the way a person would: capitals, punctuation; normalised they equal the first caption
TYPED = {v: caps[0].title() + "!" for v, caps in CAPTIONS.items()}


def write_clip(path: Path, fg, bg, shape: str, seconds: float = 2.0, fps: int = 8, size: int = 96) -> Path:
    """A short H.264 clip: a coloured shape crossing a plain background."""
    from moviepy import VideoClip

    def frame(t: float) -> np.ndarray:
        img = np.empty((size, size, 3), np.uint8)
        img[:] = bg
        x = int(t / seconds * (size - 24))
        if shape == "square":
            img[36:60, x:x + 24] = fg
        elif shape == "bar":
            img[:, x:x + 12] = fg
        else:
            yy, xx = np.mgrid[:size, :size]
            img[(yy - 48) ** 2 + (xx - x - 12) ** 2 < 144] = fg
        return img

    path.parent.mkdir(parents=True, exist_ok=True)
    VideoClip(frame, duration=seconds).with_fps(fps).write_videofile(str(path), codec="libx264", audio=False,
                                                                     logger=None)
    return path


@functools.lru_cache(maxsize=1)
def app_data() -> Path:
    """Videos, an indexed collection and a trained checkpoint in a temporary folder (built once per session)."""
    from hgr.collection import Collection
    from hgr.indexer import index_videos
    from hgr.model import preset
    from hgr.train import TrainConfig, train

    root = Path(tempfile.mkdtemp(prefix="hgr-app-test-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for vid, (fg, bg, shape) in CLIPS.items():
        write_clip(root / "videos" / f"{vid}.mp4", fg, bg, shape)
    (root / "captions.json").write_text(json.dumps(CAPTIONS))
    report = index_videos(root / "videos", root / "collection", captions=root / "captions.json", max_frames=6,
                          progress=False, device="cpu")
    assert sorted(report.indexed) == sorted(CLIPS), report.summary()
    cfg = preset("demo").replace(dim_embed=64, dim_word=32)
    tcfg = TrainConfig(epochs=8, batch_size=12, lr=2e-3, train_split="all", val_split="all", glove=False)
    with Collection.open(root / "collection") as coll:
        result = train(coll, cfg, root / "model.pt", tcfg, device="cpu", progress=False, log=lambda _: None)
    assert result.best_rsum > 300, f"the test model did not learn the six clips (rsum {result.best_rsum})"
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`python app.py ARGS` on a free port; `url` once it prints that it is running."""

    def __init__(self, *args: str, timeout: float = 180.0) -> None:
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="hgr-app-gradio-"))
        env = dict(os.environ, GRADIO_TEMP_DIR=str(self.tmp), GRADIO_ANALYTICS_ENABLED="False",
                   HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), *args, "--port", str(self.port),
                                      "--device", "cpu"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.log: list[str] = []
        deadline = time.monotonic() + timeout
        self.url = None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.append(line)
            if "running at" in line:
                self.url = line.split("running at", 1)[1].split()[0]
                break
        if self.url is None:
            self.close()
            raise RuntimeError("the app did not start:\n" + "".join(self.log[-40:]))

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_app(max_duration: float = 4.0, max_upload_mb: float = 1.0) -> AppProcess:
    root = app_data()
    return AppProcess("--collection", str(root / "collection"), "--checkpoint", str(root / "model.pt"),
                      "--max-duration", str(max_duration), "--max-upload-mb", str(max_upload_mb))


@pytest.fixture(scope="module")
def app():
    proc = start_app()
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url, verbose=False)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    good = app_data() / "videos" / "clip0.mp4"
    truncated = d / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (d / "text.mp4").write_text("this is not a video\n" * 20)
    (d / "notes.txt").write_text("not a video either")
    (d / "empty.mp4").write_bytes(b"")
    write_clip(d / "long.mp4", (255, 0, 0), (0, 0, 0), "bar", seconds=6.0, fps=4)     # over --max-duration 4
    (d / "huge.mp4").write_bytes(os.urandom(int(1.5 * 2**20)))                        # over --max-upload-mb 1
    return {p.stem: p for p in d.iterdir()} | {"truncated": truncated}


# ------------------------------------------------------------------------------------------------ endpoints
def check_graph(out: dict) -> None:
    nodes, edges = out["graph"]["nodes"], out["graph"]["edges"]
    assert {"id", "level", "role", "words", "spans", "slot"} <= set(nodes[0])
    assert nodes[0]["level"] == "event" and nodes[0]["slot"] == 0
    ids = {n["id"] for n in nodes}
    assert all(e["source"] in ids and e["target"] in ids and e["role"] for e in edges)
    n = len(out["attention_nodes"])
    assert set(out["attention_nodes"]) <= ids
    assert len(out["attention"]) == 2                                     # the test model has 2 graph layers
    for layer in out["attention"]:
        m = np.asarray(layer)
        assert m.shape == (n, n) and (m >= 0).all()
        rows = m.sum(1)
        assert np.allclose(rows[rows > 0], 1, atol=1e-3)                  # softmax over each node's neighbours


def test_search_shape_and_order(client):
    out = client.predict("a blue ball rolls across a white floor", 4, api_name="/search")
    assert {"query", "graph", "attention", "results"} <= set(out)
    check_graph(out)
    assert [r["rank"] for r in out["results"]] == [1, 2, 3, 4]
    fused = [r["scores"]["fused"] for r in out["results"]]
    assert fused == sorted(fused, reverse=True)
    for r in out["results"]:
        s = r["scores"]
        assert set(s) == {"event", "action", "entity", "fused"}
        assert s["fused"] == pytest.approx((s["event"] + s["action"] + s["entity"]) / 3, abs=2e-4)   # Eq. 13
        assert r["video_id"] in CLIPS
        for weights in r["alignment"].values():                          # phi over the clip's frames (Eq. 12)
            assert len(weights) == r["frames"] and sum(weights) == pytest.approx(1, abs=1e-3)


def test_query_is_normalised(client):
    typed = client.predict("A Blue ball ROLLS across a white floor!!", 6, api_name="/search")
    plain = client.predict("a blue ball rolls across a white floor", 6, api_name="/search")
    assert typed["query"] == plain["query"] == "a blue ball rolls across a white floor"
    assert typed["results"] == plain["results"]


@pytest.mark.parametrize("video_id", sorted(CLIPS))
def test_query_finds_its_own_clip(client, video_id):
    out = client.predict(TYPED[video_id], 6, api_name="/search")
    assert out["results"][0]["video_id"] == video_id, out["results"]


def test_uploaded_clip_finds_its_captions(client):
    from gradio_client import handle_file

    for vid in ("clip2", "clip4"):
        out = client.predict(handle_file(str(app_data() / "videos" / f"{vid}.mp4")), 3, api_name="/captions")
        results = out["results"]
        assert len(results) == 3 and {"caption", "video_id", "scores"} <= set(results[0])
        assert [r["scores"]["fused"] for r in results] == sorted((r["scores"]["fused"] for r in results),
                                                                 reverse=True)
        assert results[0]["video_id"] == vid and results[0]["caption"] in CAPTIONS[vid]


def test_parse(client):
    out = client.predict("A man is slicing a tomato in the kitchen.", api_name="/parse")
    assert out["query"] == "a man is slicing a tomato in the kitchen"
    check_graph(out)
    levels = {n["level"] for n in out["graph"]["nodes"]}
    assert levels == {"event", "action", "entity"}
    action = next(n for n in out["graph"]["nodes"] if n["level"] == "action")
    assert action["words"] == ["slicing"] and action["slot"] == 1
    assert any(e["source"] == action["id"] and e["role"].startswith("ARG") for e in out["graph"]["edges"])


def test_ui_search_returns_the_page(client):
    gallery, scores, alignment, info, graph, attention, _ = client.predict(
        "a green bar sweeps over a yellow wall", 3, api_name="/ui_search")
    assert len(gallery) == 3 and "clip2" in gallery[0]["caption"]
    assert all(json.loads(fig["plot"])["data"] for fig in (scores, alignment, graph, attention))
    assert "clip2" in info


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("query, message", [
    ("", "empty"), ("   \n ", "empty"), ("?!... ;;", "no words"),
    ("qwertzuiop blorfle", "vocabulary"), ("a red square moves " * 600, "characters long"),
])
def test_bad_queries(client, query, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(query, 5, api_name="/search")
    with pytest.raises(AppError, match=message):
        client.predict(query, api_name="/parse")


def test_query_without_verb_warns(client):
    out = client.predict("a red square", 3, api_name="/search")
    assert any("no verb" in w for w in out["warnings"])
    assert all(r["scores"]["action"] == 0 for r in out["results"])


@pytest.mark.parametrize("name, message", [
    ("text", "not a readable video"), ("empty", "empty file"), ("truncated", "truncated|not a readable"),
    ("notes", "not a video file type"), ("long", "over the limit of 4 s"),
])
def test_bad_uploads(client, app, bad_files, name, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(bad_files[name])), 3, api_name="/captions")
    assert not [p for p in app.tmp.rglob(bad_files[name].name) if p.is_file()], "upload kept after use"
    assert client.predict("a red square moves across a black screen", 1, api_name="/search")["results"]


def test_upload_over_the_size_limit(client, bad_files):
    from gradio_client import handle_file

    with pytest.raises(Exception, match="(?i)size|large|exceed|413"):
        client.predict(handle_file(str(bad_files["huge"])), 3, api_name="/captions")
    assert client.predict("a red square moves across a black screen", 1, api_name="/search")["results"]


def test_good_upload_is_deleted(client, app):
    from gradio_client import handle_file

    src = app_data() / "videos" / "clip3.mp4"
    copy = app.tmp.parent / f"uploaded-{app.port}.mp4"
    shutil.copy(src, copy)
    try:
        client.predict(handle_file(str(copy)), 2, api_name="/captions")
    finally:
        copy.unlink()
    assert not [p for p in app.tmp.rglob(copy.name) if p.is_file()]


def test_only_the_video_folder_is_served(app):
    root = app_data()
    assert app.get(f"/gradio_api/file={root / 'videos' / 'clip0.mp4'}") == 200
    assert app.get(f"/gradio_api/file={root / 'model.pt'}") == 403
    assert app.get(f"/gradio_api/file={root / 'collection' / 'collection.json'}") == 403
    assert app.get(f"/gradio_api/file={REPO / 'app.py'}") == 403


# ------------------------------------------------------------------------------------------------ start-up
def test_refuses_bad_paths_and_mismatched_checkpoint(tmp_path, capsys):
    from hgr import checkpoint
    from hgr.cli import main
    from hgr.model import HGR, preset
    from hgr.vocab import Vocabulary

    root = app_data()
    assert main(["serve", "--collection", str(tmp_path / "nope"), "--checkpoint", str(root / "model.pt")]) == 2
    assert "collection folder not found" in capsys.readouterr().err
    assert main(["serve", "--collection", str(root / "collection"), "--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    small = preset("demo").replace(dim_fts=24, dim_embed=16, dim_word=8, num_words=5)
    checkpoint.save(tmp_path / "small.pt", HGR(small), Vocabulary(["<BOS>", "<EOS>", "<UNK>", "a", "b"]))
    assert main(["serve", "--collection", str(root / "collection"), "--checkpoint", str(tmp_path / "small.pt"),
                 "--device", "cpu"]) == 2
    assert "expects 24-d frame features" in capsys.readouterr().err


def test_missing_demo_says_how_to_build_it(capsys):
    from hgr.app import server
    from hgr.cli import main

    if server.DEMO_COLLECTION.exists() and server.DEMO_CHECKPOINT.exists():
        pytest.skip("the embedded demo is built; its absence cannot be tested here")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "demo is not built yet" in err and "--collection DIR --checkpoint FILE" in err
