"""Faults without data loss: processes killed with SIGKILL at seeded random instants, then resumed.

1. The indexer's write path (CollectionWriter.add / commit / the resume-commit in its constructor: the real code,
   fed synthetic features) in a worker process that adds videos without end, killed 24 times at a random instant
   in [0, 0.3) s. After every kill the collection opens, every video the worker reported done (after `add`
   returned) is present exactly once with its exact features; a last run, not killed, adds 5 more and finishes.
2. The real `hgr index` command (decode, CNN, writer) on 40 tiny clips, killed 3 times: once at a random instant
   of its start-up ([0.5, 5) s), twice at a random instant in [0, 0.6) s after its run indexed its first video
   (decoding, the CNN or a commit), then resumed to completion. A run is killed sooner if it has indexed its share
   of what is left (a quarter, a third, a half), so that a fast machine still leaves each later run work to do.
   (tests/test_index.py::test_sigkill_midway_then_resume_loses_nothing kills it twice after a set number of videos.)
3. `checkpoint.save`, the atomic write behind both of `hgr train`'s files (best and <out>.last.pt), killed 20 times
   while saving in a loop: the file on disk always loads and is the last reported save or the one after it.

Workers are forked from a forkserver that imported hgr once, so a trial costs milliseconds, not an interpreter
start. Kill instants come from `random.Random(seed)`; the assertions are about data, never about timing.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hgr.collection import Collection, CollectionWriter

REPO = Path(__file__).resolve().parents[1]
EXTRACTOR = {"name": "synthetic", "dim": 16, "weights_sha256": "0" * 64}


def features_of(video_id: str) -> np.ndarray:
    """The features a video must have, whichever run wrote it: (1..8 frames, 16) float32 from its id."""
    rng = np.random.default_rng(int(video_id[1:]))
    return rng.standard_normal((int(rng.integers(1, 9)), 16)).astype(np.float32)


def writer_worker(root: str, limit: int | None, conn) -> None:
    """Index v00000, v00001, ... (up to `limit`, None: until killed) into `root`, resuming; report each video once
    `add` has returned (durable)."""
    conn.send("started")
    with CollectionWriter(root, extractor=EXTRACTOR, dim=16, dtype="float32") as writer:
        for i in itertools.count() if limit is None else range(limit):
            vid = f"v{i:05d}"
            if vid in writer.done_ids:
                continue
            writer.add(vid, features_of(vid))
            conn.send(vid)
            if i % 5 == 4:
                writer.commit()
    conn.send("finished")


def tiny_model():
    from hgr.model import HGR, HGRConfig
    from hgr.vocab import Vocabulary

    words = ["<BOS>", "<EOS>", "<UNK>"] + [f"w{i}" for i in range(3997)]
    return HGR(HGRConfig(dim_fts=256, dim_embed=256, num_words=len(words), dim_word=64)), Vocabulary(words)


def saver_worker(path: str, first: int, conn) -> None:
    """Save checkpoints version first, first+1, ... (every weight = the version); report each once saved."""
    import torch

    from hgr import checkpoint

    model, vocab = tiny_model()
    conn.send("started")
    version = first
    while True:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(version)
        checkpoint.save(path, model, vocab, card={"version": version})
        conn.send(version)
        version += 1


@pytest.fixture(scope="module")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.test_faults", "hgr.checkpoint"])
    return ctx


def run_and_kill(ctx, target, args: tuple, delay: float | None) -> tuple[list, bool]:
    """Start `target(*args, conn)` in a worker, SIGKILL it `delay` s after it says 'started' (None: let it end);
    returns (everything it reported, whether it was killed before finishing)."""
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, send))
    proc.start()
    send.close()
    assert receive.poll(60) and receive.recv() == "started"
    if delay is None:
        proc.join(120)
    else:
        time.sleep(delay)
        proc.kill()
        proc.join(30)
    reports = []
    while receive.poll(0):
        try:
            reports.append(receive.recv())
        except EOFError:
            break
    return reports, proc.exitcode == -signal.SIGKILL


def check_collection(root: Path, reported: set[str]) -> list[str]:
    with Collection.open(root) as coll:
        ids = coll.video_ids
        assert len(ids) == len(set(ids)), "a video is present twice"
        assert reported <= set(ids), f"reported done but lost: {sorted(reported - set(ids))[:5]}"
        for vid in ids:
            np.testing.assert_array_equal(coll.features(vid), features_of(vid))
    return ids


def test_collection_writer_killed_at_random_instants(forkserver, tmp_path):
    rng = random.Random(20240605)
    root = tmp_path / "coll"
    reported: set[str] = set()
    killed, per_trial = 0, []
    for _ in range(24):
        reports, was_killed = run_and_kill(forkserver, writer_worker, (str(root), None), rng.uniform(0, 0.3))
        killed += was_killed
        new = [r for r in reports if r not in ("started", "finished")]
        reported |= set(new)
        per_trial.append(len(check_collection(root, reported)))
    limit = len(per_trial) and max(per_trial) + 5
    reports, _ = run_and_kill(forkserver, writer_worker, (str(root), limit), None)
    assert reports[-1] == "finished"
    ids = check_collection(root, reported)
    assert sorted(ids) == [f"v{i:05d}" for i in range(limit)]
    assert not list((root / "staging").iterdir())
    assert killed == 24
    print(f"\nCollectionWriter: {killed} SIGKILLs, collection sizes after each: {per_trial}; "
          f"{len(reported)} videos reported done before a kill, 0 lost, 0 duplicated")


def test_checkpoint_save_killed_at_random_instants(forkserver, tmp_path):
    import hgr

    rng = random.Random(7)
    path = tmp_path / "model.pt"
    last_reported, version, killed, litter = -1, 0, 0, 0
    for _ in range(20):
        reports, was_killed = run_and_kill(forkserver, saver_worker, (str(path), version + 1), rng.uniform(0.2, 1.2))
        killed += was_killed
        saved = [r for r in reports if isinstance(r, int)]
        last_reported = max(saved, default=last_reported)
        if not path.exists():
            assert last_reported == -1
            continue
        ckpt = hgr.load(path, device="cpu")                      # never torn: always a complete checkpoint
        version = ckpt.card["version"]
        assert last_reported <= version <= last_reported + 1, (last_reported, version)
        assert all(bool((p == version).all()) for p in ckpt.model.parameters()), "weights of another save"
        litter = len(list(tmp_path.glob(".model.pt.*.tmp")))
        assert litter <= 1, f"{litter} temporary files: the next save must remove those of killed saves"
    assert killed == 20 and last_reported >= 10
    print(f"\ncheckpoint.save: {killed} SIGKILLs, {last_reported} saves reported, the file always loaded and "
          f"held the last reported save or the next; at most {litter} temporary file left (the last kill's)")


def _tiny_clips(folder: Path, n: int) -> None:
    import imageio_ffmpeg

    folder.mkdir(parents=True)
    for i in range(n):
        colour = f"0x{(37 * i + 20) % 256:02x}{(91 * i + 60) % 256:02x}{(53 * i + 100) % 256:02x}"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc=s=64x64:r=5:d=0.6,drawbox=c={colour}:t=fill:w=32:h=64", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", str(folder / f"c{i}.mp4")], check=True)


def _done_log_ids(out: Path) -> set[str]:
    try:                          # the indexer removes staging/ when it commits, possibly between two reads
        lines = (out / "staging" / "done.log").read_text().splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    return {json.loads(line)["id"] for line in lines if line.endswith("\n")}


CLIPS = 40   # tiny clips indexed at about 50 ms each (2-core EPYC), after a start-up of about 1.2 s


def test_hgr_index_killed_at_random_instants_then_resumed(tmp_path):
    from hgr.features import extract_clip_features
    from hgr.indexer import index_videos

    rng = random.Random(11)
    videos, out = tmp_path / "videos", tmp_path / "coll"
    _tiny_clips(videos, CLIPS)
    cmd = [sys.executable, "-m", "hgr", "index", str(videos), "--out", str(out), "--max-frames", "2",
           "--device", "cpu"]
    reported: set[str] = set()
    for trial in range(3):
        before = set(reported)
        share = (CLIPS - len(before)) // (4 - trial)          # new videos this run may index before it is killed
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + (rng.uniform(0.5, 5) if trial == 0 else 600)
        delay = rng.uniform(0, 0.6)
        while time.monotonic() < deadline and proc.poll() is None:
            logged = _done_log_ids(out)
            reported |= logged
            if len(logged - before) >= share:                  # (a 40-clip run takes about 2 s here: without this,
                break                                          # the third run could finish within its delay)
            if trial > 0 and deadline - time.monotonic() > delay and logged - before:
                deadline = time.monotonic() + delay                   # its first video is in: kill soon after
            time.sleep(0.005)
        proc.kill()
        assert proc.wait() == -signal.SIGKILL, "the indexer finished before it could be killed"
        reported |= _done_log_ids(out)                           # durable 'done' records at the kill
        if (out / "collection.json").exists():
            with Collection.open(out) as coll:
                assert reported <= set(coll.video_ids) and len(coll.video_ids) == len(set(coll.video_ids))
                reported |= set(coll.video_ids)
    report = index_videos(videos, out, max_frames=2, progress=False, device="cpu")
    assert not report.failed and set(report.indexed).isdisjoint(reported)
    with Collection.open(out) as coll:
        assert sorted(coll.video_ids) == sorted(f"c{i}" for i in range(CLIPS))
        for vid in coll.video_ids:
            want = extract_clip_features(videos / f"{vid}.mp4", "efficientnet-lite0", max_frames=2, device="cpu")
            np.testing.assert_allclose(coll.features(vid), want, rtol=1e-2, atol=1e-3)
    print(f"\nhgr index: 3 SIGKILLs; {len(reported)} of {CLIPS} videos done before the last kill, all {CLIPS} "
          "present once with their features after resuming")
