"""The web app through gradio_client, against `python app.py` started once in a subprocess on a free port.

The collection is made in tests/appfixture.py: six short real videos (distinct colours and shapes) written with
moviepy, indexed with `hgr.indexer`, and a checkpoint trained for a few epochs with `hgr.train.train`. The
ground-truth tests are meaningful because the model only knows the videos through features the indexer computed
from the files: a re-worded, re-cased query must still rank its own clip first among six, and an uploaded copy of a
clip, whose features the app computes afresh, must rank that clip's captions first.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

# AppProcess and free_port are re-exported: tests/test_browser.py and benchmarks/app.py import them from here
from tests.appfixture import (  # noqa: F401
    CAPTIONS,
    CLIPS,
    REPO,
    TYPED,
    AppProcess,
    app_data,
    free_port,
    start_app,
    write_clip,
)


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


def test_search_takes_an_edited_graph_and_a_previous_query(client):
    """/search with the official graph /search returned (no re-parse) gives the same answer as the text; with a
    `previous` query each result says where that query ranked it."""
    typed = client.predict("a blue ball rolls across a white floor", 6, api_name="/search")
    nodes, edges = typed["role_graph"]
    assert nodes["ROOT"]["words"] == typed["query"].split() and all(len(e) == 3 for e in edges)
    by_graph = client.predict("", 6, graph=typed["role_graph"], api_name="/search")
    assert by_graph["query"] == typed["query"] and by_graph["results"] == typed["results"]
    moved = client.predict("a red square moves across a black screen", 6, previous=typed["query"],
                           api_name="/search")
    before = {r["video_id"]: r for r in typed["results"]}
    for r in moved["results"]:
        old = before[r["video_id"]]
        assert r["previous"]["rank"] == old["rank"] and r["previous"]["change"] == old["rank"] - r["rank"]
        assert r["previous"]["scores"] == pytest.approx(old["scores"], abs=1e-4)
        assert r["previous"]["new"] is False                                  # top 6 of 6: nothing is new
    assert moved["previous"]["query"] == typed["query"] and moved["previous"]["left"] == []


def test_compare_scores_as_search_does(client):
    """/compare of two captions on one clip: each side's scores are what /search gives that clip for that caption,
    and the winner and margin of each level follow from them."""
    true, other = CAPTIONS["clip2"][0], CAPTIONS["clip1"][0]
    out = client.predict(true, other, "clip2", api_name="/compare")
    assert out["video_id"] == "clip2" and out["a"]["caption"] == true and out["b"]["caption"] == other
    for side, caption in (("a", true), ("b", other)):
        searched = next(r for r in client.predict(caption, 6, api_name="/search")["results"]
                        if r["video_id"] == "clip2")
        assert out[side]["scores"] == pytest.approx(searched["scores"], abs=1e-4)
        assert out[side]["true"] is None                                     # not a demo-world clip
        assert set(out[side]["alignment"]) <= {n["id"] for n in out[side]["graph"]["nodes"]}
    for level in ("event", "action", "entity", "fused"):
        margin = out["a"]["scores"][level] - out["b"]["scores"][level]
        assert out["margin"][level] == pytest.approx(margin, abs=2e-4)
        assert out["winner"][level] == ("a" if margin > 0 else "b" if margin < 0 else "tie")
    assert out["winner"]["fused"] == "a"                                     # the clip's own caption wins
    assert out["a"]["differs"] and out["b"]["differs"]


def test_similar_clips(client):
    from gradio_client import handle_file

    out = client.predict(video_id="clip2", top_k=5, api_name="/similar")
    ranked = [r["video_id"] for r in out["results"]]
    assert len(ranked) == 5 and "clip2" not in ranked and set(ranked) <= set(CLIPS)
    fused = [r["scores"]["fused"] for r in out["results"]]
    assert fused == sorted(fused, reverse=True)
    upload = client.predict(video=handle_file(str(app_data() / "videos" / "clip3.mp4")), top_k=3,
                            api_name="/similar")
    assert upload["video_id"] is None and upload["results"][0]["video_id"] == "clip3"   # its own clip, first


def test_compare_similar_and_perturbations_say_what_is_wrong(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="give one clip"):
        client.predict("a red square", "a blue ball", api_name="/compare")
    with pytest.raises(AppError, match="no video 'nope'"):
        client.predict(video_id="nope", api_name="/similar")
    with pytest.raises(AppError, match="not a clip of a demo world"):
        client.predict("clip2", api_name="/perturbations")
    with pytest.raises(AppError, match="not valid JSON"):
        client.predict("", 3, graph="[{", api_name="/search")


def valid_figure(fig: dict) -> dict:
    """A gr.Plot value as plotly.js receives it, checked by plotly's own validation (the app skips it per request)."""
    import plotly.graph_objects as go

    assert fig["type"] == "plotly"
    spec = json.loads(fig["plot"])
    go.Figure(spec)                                                       # raises on any invalid property
    return spec


def test_ui_search_returns_the_page(client):
    gallery, scores, alignment, info, graph, attention, _, edits, changes = client.predict(
        "a green bar sweeps over a yellow wall", 3, api_name="/ui_search")
    assert len(gallery) == 3 and "clip2" in gallery[0]["caption"]
    assert valid_figure(graph)["data"]
    assert "score-bars" in scores and "Graph attention" in attention and "<table>" in attention   # HTML panels
    strip = re.findall(r"<img src='([^']*)'", alignment)                 # the frame strip above the weights
    assert strip and all(uri.startswith("data:image/jpeg;base64,") for uri in strip)
    assert "clip2" in info
    assert "Pick an edit" in edits and changes == ""                     # a typed query starts a new edit history


def test_ui_captions_returns_the_page(client):
    rows, scores, alignment, info = client.predict(None, "clip4", 3, api_name="/ui_captions")
    assert rows["data"][0][2] == "clip4" and "clip4" in info
    assert "score-bars" in scores and "<img src='data:image/jpeg;base64," in alignment


def test_ui_compare_and_similar_return_the_page(client):
    """The Compare and Similar tabs' page endpoints with an uploaded clip: valid figures, the differing nodes ringed."""
    from gradio_client import handle_file

    clip = handle_file(str(app_data() / "videos" / "clip2.mp4"))
    verdict, graph_a, graph_b, align_a, align_b = client.predict(
        clip, None, CAPTIONS["clip2"][0], CAPTIONS["clip1"][0], api_name="/ui_compare")
    assert "clip2.mp4" in verdict and "<table>" in verdict
    for graph in (graph_a, graph_b):
        rings = [t for t in valid_figure(graph)["data"] if t.get("marker", {}).get("symbol") == "circle-open"]
        assert len(rings) == 1 and rings[0]["x"]                           # the nodes the other caption lacks
    assert all("<img src='data:image/jpeg;base64," in align for align in (align_a, align_b))   # the upload's frames
    gallery, scores, info = client.predict(clip, None, 3, api_name="/ui_similar")
    assert [item["caption"] for item in gallery][0].startswith("#1 clip2 · ") and len(gallery) == 3
    assert "score-bars" in scores and "clip2.mp4" in info


def test_gallery_clips_are_served_in_place(app):
    """The gallery points at the collection's own files (no per-request copy into gradio's cache)."""
    from gradio_client import Client

    gallery = Client(app.url, verbose=False, download_files=False).predict(
        "a green bar sweeps over a yellow wall", 2, api_name="/ui_search")[0]
    videos = (app_data() / "videos").resolve()
    assert [Path(item["video"]["path"]).parent for item in gallery] == [videos, videos]
    assert app.get(f"/gradio_api/file={gallery[0]['video']['path']}") == 200


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("query, message", [
    ("", "empty"), ("   \n ", "empty"), ("?!... ;;", "no words"),
    ("qwertzuiop blorfle", "vocabulary"), ("a red square moves " * 600, "characters long"),
    ("the the the the", "only function words"), ("It is over there.", "only function words"),
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

    with pytest.raises(AppError, match=message) as err:
        client.predict(handle_file(str(bad_files[name])), 3, api_name="/captions")
    assert bad_files[name].name in str(err.value)
    assert str(app.tmp) not in str(err.value)          # not the server's temporary upload path (issue 16 item 6)
    assert client.predict("a red square moves across a black screen", 1, api_name="/search")["results"]


def test_upload_over_the_size_limit(client, bad_files):
    from gradio_client import handle_file

    with pytest.raises(Exception, match="(?i)size|large|exceed|413"):
        client.predict(handle_file(str(bad_files["huge"])), 3, api_name="/captions")
    assert client.predict("a red square moves across a black screen", 1, api_name="/search")["results"]


def test_only_the_video_folder_is_served(app):
    root = app_data()
    assert app.get(f"/gradio_api/file={root / 'videos' / 'clip0.mp4'}") == 200
    assert app.get(f"/gradio_api/file={root / 'model.pt'}") == 403
    assert app.get(f"/gradio_api/file={root / 'collection' / 'collection.json'}") == 403
    assert app.get(f"/gradio_api/file={REPO / 'app.py'}") == 403


def test_served_clip_named_as_input_is_read_not_deleted(app):
    """Static video folders are also accepted as /captions input paths (gradio's rule): read, never deleted."""
    import httpx

    def call(path: str) -> str:
        base = app.url.rstrip("/") + "/gradio_api/call/captions"
        event = httpx.post(base, json={"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, 2]}).json()
        with httpx.stream("GET", f"{base}/{event['event_id']}", timeout=60) as stream:
            return "".join(stream.iter_text())

    clip = app_data() / "videos" / "clip4.mp4"
    assert '"video_id": "clip4"' in call(str(clip)) and clip.is_file()
    assert "not uploaded by a user" in call(str(app_data() / "model.pt"))


# ------------------------------------------------------------------------------------------------ frame strips
def test_frame_strips_are_decoded_once(tmp_path):
    import base64
    import io

    from PIL import Image

    from hgr.app.frames import FrameStrips
    from hgr.video_io import Sampling

    video = Path(shutil.copy(app_data() / "videos" / "clip1.mp4", tmp_path / "clip1.mp4"))
    paths = {"clip1": video}

    def store() -> FrameStrips:
        return FrameStrips(paths.get, Sampling(max_frames=4), 4, 24, tmp_path / "cache")

    strips = store()
    assert strips.warm(["clip1", "no-file"]) == (2, 1)                   # decoded: clip1; no file: nothing to do
    strip = strips("clip1")
    assert strips("no-file") == [] and len(strip) == 4
    assert [t for _, t in strip] == sorted(t for _, t in strip) and strip[0][1] > 0
    head = len("data:image/jpeg;base64,")
    assert all(Image.open(io.BytesIO(base64.b64decode(uri[head:]))).height == 24 for uri, _ in strip)
    again = store()                                                       # a restart reads the disk cache
    assert again.warm(["clip1"]) == (1, 0) and again("clip1") == strip
    shutil.copy(app_data() / "videos" / "clip2.mp4", video)              # the file changed: decoded afresh
    assert store().warm(["clip1"]) == (1, 1)
    memory_only = FrameStrips(paths.get, Sampling(max_frames=4), 4, 24, None, memory=1)
    assert memory_only("clip1") and memory_only.warm(["clip1", "no-file"]) == (1, 0)   # bounded by memory


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


def test_missing_demo_says_how_to_build_it(capsys, monkeypatch, tmp_path):
    from hgr.app import server
    from hgr.cli import main

    monkeypatch.setattr(server, "DEMO_COLLECTION", tmp_path / "no-demo")           # as on a checkout without it
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "demo is not built yet" in err and "--collection DIR --checkpoint FILE" in err


def test_result_cards_say_what_each_clip_is(client):
    """Issue 16 item 4: a result says what the clip is (its first caption), in /search and /similar's JSON and on
    the page's cards, beside its rank and fused score."""
    out = client.predict("a green bar sweeps over a yellow wall", 3, api_name="/search")
    assert [r["description"] for r in out["results"]] == [CAPTIONS[r["video_id"]][0] for r in out["results"]]
    similar = client.predict(video_id="clip2", top_k=3, api_name="/similar")
    assert all(r["description"] == CAPTIONS[r["video_id"]][0] for r in similar["results"])
    gallery, _, _, info, *_ = client.predict("a green bar sweeps over a yellow wall", 3, api_name="/ui_search")
    for item, r in zip(gallery, out["results"], strict=True):
        assert item["caption"] == f"#{r['rank']} {r['video_id']} · {r['scores']['fused']:.3f}\n{r['description']}"
    assert CAPTIONS[out["results"][0]["video_id"]][0] in info              # the selected clip's description too


def test_a_clip_without_captions_is_described_by_its_file_name():
    import hgr
    from hgr.app.service import DemoService
    from hgr.collection import Collection

    root = app_data()
    service = DemoService(Collection.open(root / "collection"), hgr.load(root / "model.pt", device="cpu"))
    assert service.describe("clip1") == CAPTIONS["clip1"][0]
    service.collection._captions = {}                                      # as a collection indexed without captions
    assert service.describe("clip1") == "clip1.mp4"


def test_hgr_search_says_what_each_clip_is(capsys):
    from hgr.cli import main

    root = app_data()
    assert main(["search", "a green bar sweeps over a yellow wall", "--collection", str(root / "collection"),
                 "--checkpoint", str(root / "model.pt"), "--device", "cpu", "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[lines.index(next(line for line in lines if line.lstrip().startswith("rank"))) + 1:]
    assert len(rows) == 3
    for row in rows:
        video_id = row.split()[1]
        assert row.endswith("  " + CAPTIONS[video_id][0]), row


def test_about_reads_as_text():
    """Issue 16 item 8: the About tab shows the model card's values as text (not Python dicts cut at 200
    characters) and the checkpoint's file name, not its absolute path on the server."""
    import hgr
    from hgr.app.service import DemoService
    from hgr.app.views import about_markdown
    from hgr.collection import Collection

    root = app_data()
    checkpoint = hgr.load(root / "model.pt", device="cpu")
    about = about_markdown(DemoService(Collection.open(root / "collection"), checkpoint))
    assert "model.pt" in about and str(root) not in about
    assert "{" not in about and "}" not in about and "': " not in about
