"""Collections on disk: the official release opened in place (parity), our format's validation and kill-safety."""
from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from hgr.collection import Collection, CollectionWriter, feature_key
from hgr.errors import CollectionError
from hgr.features import select_frames

EXTRACTOR = {"name": "test-cnn", "dim": 8, "weights_sha256": "0" * 64}


def make_collection(root, videos: dict[str, np.ndarray], commit: bool = True, **kw) -> CollectionWriter:
    kw = {"extractor": EXTRACTOR, "dim": 8, "sampling": {"policy": "uniform", "max_frames": 20}, **kw}
    w = CollectionWriter(root, **kw)
    for vid, feats in videos.items():
        w.add(vid, feats)
    if commit:
        w.close()
    return w


def random_videos(n: int, dim: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"v{i}": rng.random((int(rng.integers(1, 30)), dim), dtype=np.float32) for i in range(n)}


def test_official_root_matches_official_resampling(parity_dir, expected):
    coll = Collection.from_official(parity_dir / "root", split="tst", features_name="resnet152.pth")
    assert coll.video_ids == [str(v) for v in expected["video_names"]] and coll.dim == 64
    assert [coll.num_frames(v) for v in coll.video_ids] == list(expected["raw_num_frames"])
    padded, lens = [], []
    for vid in coll.video_ids:
        fts, n = coll.frame_features(vid)
        assert fts.shape == (n, 64) and fts.dtype == np.float32
        padded.append(np.concatenate([fts, np.zeros((20 - n, 64), np.float32)]))
        lens.append(n)
    np.testing.assert_array_equal(np.stack(padded), expected["attn_fts"])    # bit-exact, (n_vid, 20, 64)
    np.testing.assert_array_equal(lens, expected["attn_lens"])
    assert set(coll.captions) == set(coll.video_ids)
    assert set(coll.role_graphs) >= {c for caps in coll.captions.values() for c in caps}
    assert coll.split("tst") == coll.video_ids and coll.video_path(coll.video_ids[0]) is None
    with pytest.raises(CollectionError, match="no split 'trn'"):
        coll.split("trn")


def test_select_frames_is_the_spec_rule():
    """Spec section 2: idx = round(linspace(0, n-1, 20)), halves rounded to even; the frames written out here."""
    fts = np.arange(45 * 2, dtype=np.float32).reshape(45, 2)
    out, n = select_frames(fts, 20)
    np.testing.assert_array_equal(out[:, 0] / 2, [0, 2, 5, 7, 9, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 35, 37, 39,
                                                  42, 44])
    assert n == 20
    out, n = select_frames(fts[:11], 5)                     # linspace 0, 2.5, 5, 7.5, 10: halves go to even
    np.testing.assert_array_equal(out[:, 0] / 2, [0, 2, 5, 8, 10])
    assert n == 5
    out, n = select_frames(fts[:7], 20, pad=True)
    assert n == 7 and out.shape == (20, 2) and not out[7:].any()
    np.testing.assert_array_equal(out[:7], fts[:7])


def test_official_errors_name_the_file(parity_dir, tmp_path):
    with pytest.raises(CollectionError, match="tst_ft.hdf5"):
        Collection.from_official(parity_dir / "root", features_name="i3d.pth")
    with pytest.raises(CollectionError, match="val_names.npy"):
        Collection.from_official(parity_dir / "root", split="val")
    coll = Collection.from_official(parity_dir / "root")
    with pytest.raises(CollectionError, match=r"2048.*64.*tst_ft\.hdf5"):
        coll.check_dim(2048, "checkpoint x.pth")
    coll.check_dim(64, "checkpoint x.pth")


def test_roundtrip_dtypes_regions_captions(tmp_path):
    videos = random_videos(5)
    rng = np.random.default_rng(1)
    w = CollectionWriter(tmp_path / "c", extractor=EXTRACTOR, dim=8, sampling={"policy": "uniform"},
                         dtype="float32", regions=[1, 2], name="mine")
    regions = {}
    for vid, f in videos.items():
        regions[vid] = rng.random((len(f), 2, 8), dtype=np.float32)
        w.add(vid, f, regions[vid])
    assert w.set_captions({"v0": ["a dog runs"], "nope": ["x"]}) == ["nope"]
    w.close()
    coll = Collection.open(tmp_path / "c")
    assert coll.name == "mine" and coll.video_ids == list(videos) and coll.split("all") == list(videos)
    for vid, f in videos.items():
        got = coll.features(vid)
        assert got.dtype == np.float32 and got.shape == f.shape
        np.testing.assert_array_equal(got, f)                         # float32 storage is exact
        np.testing.assert_array_equal(coll.region_features(vid), regions[vid])
    assert coll.captions == {"v0": ["a dog runs"]} and coll.role_graphs == {}
    with h5py.File(tmp_path / "c" / "features.h5") as f:                # the official per-video layout
        assert f["v0"].shape == videos["v0"].shape and f["regions/v0"].shape == (len(videos["v0"]), 2, 8)


def test_float16_storage_and_official_key_rule(tmp_path):
    videos = {"cooking/v1": np.full((3, 8), 0.1234567, np.float32)}
    make_collection(tmp_path / "c", videos)
    with h5py.File(tmp_path / "c" / "features.h5") as f:
        assert f["cooking_v1"].dtype == np.float16
    coll = Collection.open(tmp_path / "c")
    np.testing.assert_allclose(coll.features("cooking/v1"), videos["cooking/v1"], rtol=1e-3)
    assert coll.region_features("cooking/v1") is None
    with pytest.raises(CollectionError, match="clashes"):
        make_collection(tmp_path / "c", {"cooking_v1": np.ones((2, 8), np.float32)})


def test_validation_errors_name_problem_and_file(tmp_path):
    root = tmp_path / "c"
    make_collection(root, random_videos(3))
    (root / "captions.json").write_text(json.dumps({"v0": ["fine"], "ghost": ["who?"]}))
    coll = Collection.open(root)
    with pytest.raises(CollectionError, match=r"captions\.json.*unknown video 'ghost'"):
        _ = coll.captions
    with pytest.raises(CollectionError, match=r"1280-d.*8-d.*features\.h5"):
        coll.check_dim(1280, "checkpoint demo.pt")
    with pytest.raises(CollectionError, match="not in collection"):
        coll.features("ghost")
    coll.close()
    os.rename(root / "features.h5", root / "moved.h5")
    with pytest.raises(CollectionError, match=r"missing features file .*features\.h5"):
        Collection.open(root)
    with pytest.raises(CollectionError, match=r"collection\.json"):
        Collection.open(tmp_path)
    manifest = json.loads((root / "collection.json").read_text())
    os.rename(root / "moved.h5", root / "features.h5")
    manifest["dim"] = 16
    (root / "collection.json").write_text(json.dumps(manifest))
    with pytest.raises(CollectionError, match=r"8-d .*says dim 16"):
        Collection.open(root)
    with pytest.raises(CollectionError, match="other settings"):          # resuming with another extractor
        make_collection(root, {}, extractor={**EXTRACTOR, "weights_sha256": "1" * 64})


def test_video_path_stays_inside_the_collection(tmp_path):
    root = tmp_path / "c"
    make_collection(root, {"a": np.ones((2, 8), np.float32), "..": np.ones((2, 8), np.float32)})
    (root / "videos").mkdir()
    (root / "videos" / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    coll = Collection.open(root)
    assert coll.video_path("a") == (root / "videos" / "a.mp4").resolve()
    assert coll.video_path("..") is None


def test_staged_videos_are_part_of_the_collection_before_commit(tmp_path):
    videos = random_videos(4)
    make_collection(tmp_path / "c", dict(list(videos.items())[:2]))
    w = make_collection(tmp_path / "c", dict(list(videos.items())[2:]), commit=False)   # killed before commit
    coll = Collection.open(tmp_path / "c")
    assert coll.video_ids == list(videos)
    for vid, f in videos.items():
        np.testing.assert_allclose(coll.features(vid), f, rtol=1e-3)
    w._lock.close()                                                  # the process "dies": its lock goes
    with open(tmp_path / "c" / "staging" / "done.log", "a") as f:
        f.write('{"id": "torn')                                     # a line cut by the kill: never reported done
    CollectionWriter(tmp_path / "c", extractor=EXTRACTOR, dim=8,
                     sampling={"policy": "uniform", "max_frames": 20}).close()    # resume: commit the staged ones
    coll = Collection.open(tmp_path / "c")
    assert coll.video_ids == list(videos) and not list((tmp_path / "c" / "staging").iterdir())


@pytest.mark.parametrize("crash_at", range(9))
def test_commit_killed_at_any_step_loses_nothing(tmp_path, monkeypatch, crash_at):
    """Every file operation of a commit is interrupted in turn; the collection still holds each video once."""
    import hgr.atomic as atomic
    import hgr.collection.writer as hc

    videos = random_videos(6)
    first, second = dict(list(videos.items())[:3]), dict(list(videos.items())[3:])
    make_collection(tmp_path / "c", first)
    w = make_collection(tmp_path / "c", second, commit=False)
    calls = {"n": 0}

    class Killed(BaseException):
        pass

    def step(real):
        def wrapped(*a, **k):
            calls["n"] += 1
            if calls["n"] == crash_at + 1:
                raise Killed
            return real(*a, **k)
        return wrapped

    monkeypatch.setattr(hc.os, "replace", step(os.replace))
    monkeypatch.setattr(hc.shutil, "copyfile", step(hc.shutil.copyfile))
    monkeypatch.setattr(atomic, "fsync_dir", step(atomic.fsync_dir))
    monkeypatch.setattr(hc.Path, "unlink", step(hc.Path.unlink))
    with pytest.raises(Killed):              # 9 steps: copy, replace, fsync; manifest replace, fsync; 4 unlinks
        w.commit()
    monkeypatch.undo()
    w._lock.close()
    for _ in range(2):                       # as left by the kill, then after a resumed writer cleaned up
        coll = Collection.open(tmp_path / "c")
        assert sorted(coll.video_ids) == sorted(videos) and len(coll.video_ids) == len(set(coll.video_ids))
        for vid, f in videos.items():
            np.testing.assert_allclose(coll.features(vid), f, rtol=1e-3)
        coll.close()
        make_collection(tmp_path / "c", {})
    with h5py.File(tmp_path / "c" / "features.h5") as f:
        assert sorted(f) == sorted(feature_key(v) for v in videos)


def test_a_torn_log_line_loses_no_later_work(tmp_path):
    """A kill that tears the done-log's first line, then a resumed run that stages two videos and is killed
    before its commit: the next run commits both (the torn tail is cut before anything is appended)."""
    videos = random_videos(2)
    make_collection(tmp_path / "c", {})
    staging = tmp_path / "c" / "staging"
    staging.mkdir(exist_ok=True)
    (staging / "done.log").write_text('{"id": "torn", "fi')                 # killed mid-write of the first line
    w = make_collection(tmp_path / "c", videos, commit=False)              # resumed, then killed before commit
    w._lock.close()
    make_collection(tmp_path / "c", {})                                    # the next run commits what is staged
    coll = Collection.open(tmp_path / "c")
    assert coll.video_ids == list(videos)
    for vid, f in videos.items():
        np.testing.assert_allclose(coll.features(vid), f, rtol=1e-3)


def test_a_damaged_log_line_in_the_middle_is_refused(tmp_path):
    videos = random_videos(2)
    w = make_collection(tmp_path / "c", videos, commit=False)
    w._lock.close()
    log = tmp_path / "c" / "staging" / "done.log"
    first, second = log.read_text().splitlines(keepends=True)
    log.write_text(first + '{"id": "v9", "fi\n' + second)                  # finished work after a bad line
    with pytest.raises(CollectionError, match=r"done.log: damaged entry on line 2, .*remove that line"):
        Collection.open(tmp_path / "c")
    with pytest.raises(CollectionError, match="damaged entry on line 2"):
        make_collection(tmp_path / "c", {})
    assert sorted(p.name for p in log.parent.glob("*.npz")) == ["00000001.npz", "00000002.npz"]   # nothing deleted
