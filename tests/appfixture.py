"""What the app tests, the browser test, the hostile-input, security and load tests and benchmarks/ share.

A tiny real collection (six short videos with distinct colours and shapes, written with moviepy, indexed with
`hgr.indexer`, a checkpoint trained for a few epochs with `hgr.train.train`), built once per process, and
`AppProcess`: `python app.py` started in a subprocess on a free loopback port.
"""
from __future__ import annotations

import atexit
import collections
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import numpy as np

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
    """`python app.py ARGS` on a free port; `url` once it prints that it is running.

    `env` overrides the environment the tests give the app (a None value removes a variable). The app's output
    is read on a thread for its whole life (kept in `log`), so a chatty server never blocks on a full pipe.
    """

    def __init__(self, *args: str, timeout: float = 180.0, env: Mapping[str, str | None] | None = None) -> None:
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="hgr-app-gradio-"))
        full = dict(os.environ, GRADIO_TEMP_DIR=str(self.tmp), GRADIO_ANALYTICS_ENABLED="False",
                    HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        for key, value in (env or {}).items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        self.proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), *args, "--port", str(self.port),
                                      "--device", "cpu"], cwd=REPO, env=full, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.log: collections.deque[str] = collections.deque(maxlen=2000)
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
            raise RuntimeError("the app did not start:\n" + "".join(list(self.log)[-40:]))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line)

    def memory_mb(self) -> dict[str, float]:
        """The server process's resident memory now (VmRSS) and at its peak so far (VmHWM), in MB."""
        return process_memory_mb(self.proc.pid)

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


def process_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak resident set) of a live process, in MB, from /proc/<pid>/status (Linux)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024                     # kB -> MB
    return out


# A sitecustomize module that blocks and records every attempt of the process to reach the network: a connect to
# a non-loopback address, or a name lookup of anything but a loopback name. Logged to $HGR_NET_GUARD_LOG.
NET_GUARD = """
import os
import socket

_LOG = os.environ["HGR_NET_GUARD_LOG"]
_LOOPBACK = ("localhost", "::1", "0.0.0.0", "::", "")


def _local(host):
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in _LOOPBACK or host.startswith(("127.", "::ffff:127.")) or host.endswith(".localhost")


def _record(what, target):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(f"{what} {target!r} pid {os.getpid()}\\n")


def _guard(real, what):
    def call(self, address, *args, **kwargs):
        if isinstance(address, tuple) and not _local(address[0]):
            _record(what, address)
            if what == "connect_ex":
                return 101                                     # ENETUNREACH, as connect_ex reports errors
            raise OSError(101, "network access blocked by the hgr test guard")
        return real(self, address, *args, **kwargs)
    return call


socket.socket.connect = _guard(socket.socket.connect, "connect")
socket.socket.connect_ex = _guard(socket.socket.connect_ex, "connect_ex")
_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _local(host):
        _record("getaddrinfo", host)
        raise socket.gaierror(socket.EAI_NONAME, "name lookup blocked by the hgr test guard")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = getaddrinfo
"""


def net_guard_env(folder: Path) -> dict[str, str]:
    """Environment that loads NET_GUARD into a Python process (PYTHONPATH=folder); attempts go to folder/net.log."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(NET_GUARD)
    (folder / "net.log").touch()
    path = os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"PYTHONPATH": path, "HGR_NET_GUARD_LOG": str(folder / "net.log")}


@functools.lru_cache(maxsize=1)
def guarded_app() -> tuple[AppProcess, Path]:
    """One app for the hostile-input, security and load tests, started as a user would start it (none of the
    tests' gradio/HF environment switches) under NET_GUARD; (the app, its network-attempt log). Closed at exit."""
    root = app_data()
    guard = Path(tempfile.mkdtemp(prefix="hgr-net-guard-"))
    atexit.register(shutil.rmtree, guard, ignore_errors=True)
    env = {**net_guard_env(guard), "GRADIO_ANALYTICS_ENABLED": None, "HF_HUB_OFFLINE": None,
           "HF_HUB_DISABLE_TELEMETRY": None, "GRADIO_SHARE": "True"}
    app = AppProcess("--collection", str(root / "collection"), "--checkpoint", str(root / "model.pt"),
                     "--max-duration", "4", "--max-upload-mb", "1", env=env)
    atexit.register(app.close)
    return app, guard / "net.log"


def benchmark_data(tiny: bool, collection: Path | None, checkpoint: Path | None) -> tuple[Path, Path]:
    """(collection, checkpoint) a benchmark runs against: the tests' six-clip data, the given pair, or the demo."""
    from hgr.app.server import DEMO_CHECKPOINT, DEMO_COLLECTION

    if tiny:
        root = app_data()
        return root / "collection", root / "model.pt"
    return collection or DEMO_COLLECTION, checkpoint or DEMO_CHECKPOINT
