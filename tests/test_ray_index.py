"""`hgr index --engine ray`: Ray Data actors build the local indexer's collection (same ids, features within 1e-6,
the same failed and skipped files), a SIGKILLed run resumes to it, and bad addresses are refused. One local Ray
cluster of 2 CPUs serves the module (it needs loopback only: no dashboard, no usage report)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

from hgr.collection import Collection
from hgr.errors import DeviceError, HGRError
from hgr.index_ray import check_address, plan_actors
from hgr.indexer import index_videos
from tests.test_index import REPO, _done_ids, write_video

SETTINGS = {"max_frames": 3, "regions": "1x2", "dtype": "float32", "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster for the module; yields its GCS address, which another process can join."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ray_videos")
    for i in range(3):
        write_video(d / f"clip{i}.mp4", seed=40 + i)
    write_video(d / "sub" / "clip3.mp4", seed=43, seconds=0.6)
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    (d / "notes.txt").write_text("not a video")
    return d


def index_locally(videos: Path, out: Path, **settings):
    """The local engine with one torch thread, as each Ray actor runs, so that both sum in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return index_videos(videos, out, **settings)
    finally:
        torch.set_num_threads(threads)


def assert_same_collection(a_root: Path, b_root: Path) -> None:
    with Collection.open(a_root) as a, Collection.open(b_root) as b:
        assert sorted(a.video_ids) == sorted(b.video_ids)
        for key in ("extractor", "sampling", "regions", "dim", "dtype"):
            assert a.manifest[key] == b.manifest[key], key
        for vid in a.video_ids:
            np.testing.assert_allclose(b.features(vid), a.features(vid), rtol=0, atol=1e-6)
            if a.manifest["regions"]:
                np.testing.assert_allclose(b.region_features(vid), a.region_features(vid), rtol=0, atol=1e-6)


def test_ray_index_equals_local_and_reports_the_same(folder, tmp_path, ray_cluster):
    local = index_locally(folder, tmp_path / "local", **SETTINGS)
    on_ray = index_videos(folder, tmp_path / "ray", engine="ray", **SETTINGS)
    assert sorted(on_ray.indexed) == sorted(local.indexed) == ["clip0", "clip1", "clip2", "sub/clip3"]
    assert on_ray.failed == local.failed and [f for f, _ in on_ray.failed] == [str(folder / "broken.mp4")]
    assert sorted(on_ray.skipped) == sorted(local.skipped) == [(str(folder / "notes.txt"),
                                                                "not a video file extension (.txt)")]
    assert on_ray.frames == local.frames == 12 and on_ray.frames_per_s > 0 and on_ray.extract_seconds > 0
    assert "failed 1" in on_ray.summary()
    assert_same_collection(tmp_path / "local", tmp_path / "ray")
    again = index_videos(folder, tmp_path / "ray", engine="ray", **SETTINGS)      # resumed: nothing left to do
    assert not again.indexed and sorted(f for f, why in again.skipped if why == "already indexed") == sorted(
        str(folder / p) for p in ("clip0.mp4", "clip1.mp4", "clip2.mp4", "sub/clip3.mp4"))


def test_sigkilled_ray_run_resumes_to_the_local_collection(tmp_path, ray_cluster):
    videos = tmp_path / "videos"
    for i in range(8):
        write_video(videos / f"v{i}.mp4", seed=60 + i, seconds=0.6)
    out = tmp_path / "coll"
    cmd = [sys.executable, "-m", "hgr", "index", str(videos), "--out", str(out), "--max-frames", "2", "--device",
           "cpu", "--dtype", "float32", "--engine", "ray", "--address", ray_cluster]   # joins the module's cluster
    log = tmp_path / "stderr.txt"                      # a file, not a pipe: Ray's logs must never block the run
    with open(log, "w") as stderr:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.time() + 120
    while len(_done_ids(out)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the Ray run ended before it was killed: {log.read_text()[-2000:]}"
    reported = set(_done_ids(out))                     # durable 'done' records at the instant of the kill
    assert 2 <= len(reported) < 8
    report = index_videos(videos, out, engine="ray", max_frames=2, dtype="float32", device="cpu", progress=False)
    assert set(report.indexed) == {f"v{i}" for i in range(8)} - reported and not report.failed
    assert len([why for _, why in report.skipped if why == "already indexed"]) == len(reported)
    local = index_locally(videos, tmp_path / "local", max_frames=2, dtype="float32", device="cpu", progress=False)
    assert len(local.indexed) == 8
    assert_same_collection(tmp_path / "local", out)


def test_bad_addresses_are_refused_with_what_to_give(tmp_path):
    for bad in ("nonsense", "ray:/head:10001", "http://head:10001", "head:port", "ray://head"):
        with pytest.raises(HGRError, match="is not a Ray cluster address.*auto.*ray://HOST:PORT"):
            index_videos(tmp_path, tmp_path / "coll", engine="ray", address=bad)
    with pytest.raises(HGRError, match="needs --engine ray"):
        index_videos(tmp_path, tmp_path / "coll", address="auto")
    with pytest.raises(HGRError, match="unknown engine 'spark'"):
        index_videos(tmp_path, tmp_path / "coll", engine="spark")
    assert not (tmp_path / "coll").exists()            # refused before anything was written
    for good in ("auto", "10.0.0.2:6379", "ray://head-node.example:10001", None):
        assert check_address(good) == good
    cli = subprocess.run([sys.executable, "-m", "hgr", "index", str(tmp_path), "--out", str(tmp_path / "coll"),
                          "--engine", "ray", "--address", "head"], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 2 and "--address 'head' is not a Ray cluster address" in cli.stderr


def test_actor_pool_follows_the_cluster():
    assert plan_actors({"CPU": 64, "GPU": 4}, "auto", files=100) == plan_actors({"CPU": 8, "GPU": 4}, "cuda", 100)
    gpu_pool = plan_actors({"CPU": 64, "GPU": 4}, "auto", files=100)
    assert (gpu_pool.actors, gpu_pool.gpus) == (4, 1)                      # one GPU per actor
    cpu_pool = plan_actors({"CPU": 64, "GPU": 4}, "cpu", files=100)
    assert (cpu_pool.actors, cpu_pool.gpus) == (64, 0)                     # --device cpu: the GPUs stay free
    assert plan_actors({"CPU": 16.0}, "auto", files=3).actors == 3          # never more actors than files
    assert plan_actors({"CPU": 2.0}, "auto", files=100).actors == 2
    with pytest.raises(DeviceError, match="has no GPU"):
        plan_actors({"CPU": 16.0}, "cuda", files=10)
