"""Issue 16 item 7: the model says when it is out of its depth. A colour-bars clip (static, unlike any clip of the
collection) and a clip of the collection's kind fall on either side of the threshold calibrated on the collection;
a query of mostly unknown words gets a caveat and a caption of the collection does not; the JSON answers carry
`familiarity`, the page shows the caveat, `hgr search` prints it, and the calibration is cached beside the
collection, reused and invalidated like the other caches.

The collection is tests/appfixture.py's six clips (coloured shapes crossing plain backgrounds)."""
from __future__ import annotations

import atexit
import functools
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from hgr.demo_assets import DEMO_CHECKPOINT, DEMO_COLLECTION
from tests.appfixture import CAPTIONS, app_data

UNKNOWN_QUERY = "a zorblax quibbles the flimflam"


def write_colour_bars(path: Path, seconds: float = 2.0, fps: int = 8, width: int = 160, height: int = 96) -> Path:
    """The classic test card: seven vertical bars, the same picture in every frame."""
    from moviepy import VideoClip

    colours = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192), (192, 0, 0), (0, 0, 192)]
    card = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(colours):
        card[:, i * width // 7:(i + 1) * width // 7] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    VideoClip(lambda t: card, duration=seconds).with_fps(fps).write_videofile(str(path), codec="libx264",
                                                                              audio=False, logger=None)
    return path


def _open(root: Path):
    import hgr
    from hgr.app.service import DemoService
    from hgr.collection import Collection

    return DemoService(Collection.open(root / "collection"), hgr.load(root / "model.pt", device="cpu"))


@functools.cache
def _service():
    return _open(app_data())


@functools.cache
def _clips() -> dict[str, Path]:
    """A colour-bars clip, and a clip of the six-clip collection (its own frames: familiar)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="hgr-caveat-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return {"bars": write_colour_bars(folder / "bars.mp4"), "kin": app_data() / "videos" / "clip4.mp4"}


@functools.cache
def _demo():
    """The embedded demo searching its test split only: its test_novel clips are of the collection's kind (the same
    world, new compositions) and not in what is searched, as a user's clip would be."""
    import hgr
    from hgr.app.service import DemoService
    from hgr.collection import Collection

    return DemoService.open(Collection.open(DEMO_COLLECTION), hgr.load(DEMO_CHECKPOINT, device="cpu"), split="test")


needs_demo = pytest.mark.skipif(not (DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()),
                                reason="the embedded demo is not built (hgr demo-world ship)")


@needs_demo
def test_a_colour_bars_clip_and_a_clip_of_the_collections_kind_fall_on_either_side_of_the_threshold():
    service = _demo()
    novel = service.collection.split("test_novel")[0]
    bars = service.captions(_clips()["bars"], 3)["familiarity"]
    kin = service.captions(service.collection.video_path(novel), 3)["familiarity"]
    reference = service.frame_reference
    assert bars["nearest_cosine"] < bars["threshold"] <= kin["nearest_cosine"], (bars, kin)
    assert bars["threshold"] == pytest.approx(np.percentile(reference.scores, 5.0), abs=1e-4)
    assert bars["percentile"] < bars["threshold_percentile"] <= kin["percentile"]
    assert bars["calibration_clips"] == len(service.video_ids)     # every clip searched, leave-one-out
    assert not bars["familiar"] and "looks unlike the collection" in bars["caveat"]
    assert kin["familiar"] and kin["caveat"] is None


@needs_demo
def test_identical_frames_are_said_to_make_the_alignment_meaningless():
    from hgr.app.familiarity import frame_diversity

    service = _demo()
    bars = service.captions(_clips()["bars"], 3)["familiarity"]
    assert bars["frame_diversity"] < bars["min_frame_diversity"]
    assert "nearly identical" in bars["caveat"] and "alignment" in bars["caveat"]
    assert service.frame_reference.diversity.min() > bars["min_frame_diversity"]    # every clip of the demo moves
    assert frame_diversity(np.ones((10, 8), np.float32)) == pytest.approx(0.0, abs=1e-6)
    assert frame_diversity(np.eye(4, dtype=np.float32)) == pytest.approx(1.0)


def test_a_collection_clip_is_not_compared_with_itself():
    """A clip picked from the collection scores against the other clips: its calibration value, not 1.0."""
    service = _service()
    video = service.video_ids[2]
    _, answer = service.captions_for_features(service.frame_features(video), 3, video_id=video)
    score = answer["familiarity"]["nearest_cosine"]
    assert score < 0.999
    assert np.abs(service.frame_reference.scores - score).min() < 1e-3
    _, itself = service.captions_for_features(service.frame_features(video), 3)
    assert itself["familiarity"]["nearest_cosine"] > 0.999


def test_a_one_video_collection_judges_only_the_frames():
    """Nothing to calibrate on with one video: no nearest-frame figures, the identical-frames caveat still."""
    import hgr
    from hgr.app.service import DemoService
    from hgr.collection import Collection

    root = app_data()
    service = DemoService(Collection.open(root / "collection"), hgr.load(root / "model.pt", device="cpu"), ["clip0"])
    bars = service.captions(_clips()["bars"], 1)["familiarity"]
    assert bars["nearest_cosine"] is None and bars["threshold"] is None and bars["calibration_clips"] == 0
    assert not bars["familiar"] and "nearly identical" in bars["caveat"]
    assert service.captions(_clips()["kin"], 1)["familiarity"]["familiar"]


def test_a_query_of_unknown_words_gets_a_caveat_and_a_collection_caption_does_not():
    service = _service()
    vocab = service.checkpoint.vocab
    unknown = [w for w in UNKNOWN_QUERY.split() if w not in vocab]
    assert unknown == ["zorblax", "quibbles", "flimflam"]
    odd = service.search(UNKNOWN_QUERY, 3)["familiarity"]
    assert odd["known_words"] == 2 and odd["words"] == 5 and odd["known_share"] == pytest.approx(0.4)
    assert odd["unknown"] == unknown and not odd["familiar"]
    assert "2 of this query's 5 words" in odd["caveat"] and "zorblax" in odd["caveat"]
    normal = service.search(CAPTIONS["clip2"][0], 3)["familiarity"]
    assert normal["known_share"] == 1.0 and normal["familiar"] and normal["caveat"] is None
    one_unknown = service.search("a green bar sweeps over a yellow zorblax", 3)["familiarity"]
    assert one_unknown["known_share"] == pytest.approx(7 / 8) and one_unknown["caveat"] is None  # above 75%


def test_the_json_answers_carry_familiarity():
    from hgr.app.api import Api

    api = Api(_service())
    bars = api.captions(str(_clips()["bars"]), 2)["familiarity"]
    assert bars["kind"] == "clip" and bars["familiar"] is False and isinstance(bars["caveat"], str)
    assert api.captions(str(_clips()["kin"]), 2)["familiarity"]["familiar"] is True
    odd = api.search(UNKNOWN_QUERY, 2)["familiarity"]
    assert odd["kind"] == "query" and odd["familiar"] is False and odd["threshold"] == 0.75
    assert api.search(CAPTIONS["clip0"][0], 2)["familiarity"]["caveat"] is None


def _strings(outputs) -> str:
    return "\n".join(x for x in outputs if isinstance(x, str))


def test_the_page_shows_the_caveat():
    from hgr.app.views import Views, caveat_html

    views = Views(_service())
    assert "frames are nearly identical" in _strings(views.captions(str(_clips()["bars"]), None, 3))
    assert "class='caveat'" not in _strings(views.captions(str(_clips()["kin"]), None, 3))
    shown = _strings(views.search(UNKNOWN_QUERY, 3))
    assert "class='caveat'" in shown and "2 of this query" in shown and "zorblax" in shown
    assert "class='caveat'" not in _strings(views.search(CAPTIONS["clip1"][0], 3))
    line = caveat_html({"caveat": "reads <UNK> & <b>x</b> as unknown"})           # the words are the user's
    assert "<b>x</b>" not in line and "&lt;UNK&gt; &amp;" in line
    assert caveat_html(None) == caveat_html({"caveat": None}) == ""


def test_hgr_search_prints_the_caveat(capsys):
    from hgr.cli import main

    root = app_data()
    args = ["--collection", str(root / "collection"), "--checkpoint", str(root / "model.pt"), "--device", "cpu",
            "--top-k", "2"]
    assert main(["search", UNKNOWN_QUERY, *args]) == 0
    assert any(line.startswith("caveat: ") and "zorblax" in line for line in capsys.readouterr().out.splitlines())
    assert main(["search", CAPTIONS["clip3"][0], *args]) == 0
    assert "caveat:" not in capsys.readouterr().out


def test_the_calibration_is_cached_beside_the_collection_reused_and_invalidated(tmp_path, monkeypatch):
    from hgr.app import familiarity
    from hgr.search import index_cache_path

    root = tmp_path / "data"
    shutil.copytree(app_data() / "collection", root / "collection")
    shutil.copy(app_data() / "model.pt", root / "model.pt")
    built = []
    build = familiarity.FrameReference.build.__func__
    monkeypatch.setattr(familiarity.FrameReference, "build",
                        classmethod(lambda cls, *a, **k: built.append(1) or build(cls, *a, **k)))

    first = _open(root)
    scores = first.frame_reference.scores
    path = index_cache_path(first.collection, first.checkpoint, "familiarity", video_ids=first.video_ids)
    assert path.parent == root / "collection" / "cache" and path.is_file() and built == [1]

    again = _open(root)
    assert np.array_equal(again.frame_reference.scores, scores) and built == [1]        # read, not rebuilt

    features = Path(again.collection.features_path)
    stat = features.stat()
    os.utime(features, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))                   # the features changed
    changed = _open(root)
    assert changed.frame_reference.scores.shape == scores.shape
    new_path = index_cache_path(changed.collection, changed.checkpoint, "familiarity", video_ids=changed.video_ids)
    assert built == [1, 1] and new_path != path and new_path.is_file() and not path.exists()

    new_path.write_bytes(b"not a cache")                                                   # damaged: rebuilt
    with pytest.warns(UserWarning, match="unreadable familiarity cache"):
        assert len(_open(root).frame_reference.scores) == len(scores)
    assert built == [1, 1, 1]


def test_compare_and_similar_say_when_their_clip_is_unlike_the_collection():
    """The Compare and Similar tabs' clip gets the same familiarity as /captions: the colour-bars upload a caveat in
    the JSON and on the page, a clip of the collection's kind (uploaded or picked) none."""
    from hgr.app.views import Views

    service, views = _service(), Views(_service())
    caption_a, caption_b = CAPTIONS["clip2"][0], CAPTIONS["clip3"][0]
    bars = service.compare(caption_a, caption_b, video=_clips()["bars"])["familiarity"]
    assert bars["kind"] == "clip" and not bars["familiar"] and "nearly identical" in bars["caveat"]
    assert service.compare(caption_a, caption_b, video=_clips()["kin"])["familiarity"]["caveat"] is None
    picked = service.compare(caption_a, caption_b, video_id="clip2")["familiarity"]
    assert picked["familiar"] and picked["nearest_cosine"] < 0.999            # not compared with itself
    assert "nearly identical" in service.similar(video=_clips()["bars"], top_k=2)["familiarity"]["caveat"]
    assert service.similar(video_id="clip1", top_k=2)["familiarity"]["caveat"] is None

    shown = views.compare(str(_clips()["bars"]), None, caption_a, caption_b)[0]
    assert "class='caveat'" in shown and "nearly identical" in shown
    assert "class='caveat'" not in views.compare(None, "clip2", caption_a, caption_b)[0]
    assert "class='caveat'" in views.similar(str(_clips()["bars"]), None, 2)[2]
    assert "class='caveat'" not in views.similar(None, "clip1", 2)[2]
