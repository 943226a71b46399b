"""The embedded demo (assets/demo + checkpoints/demo.pt): the app finds clips by their own captions, and the
shipped model card's figures (the README's tables) reproduce with `hgr evaluate`."""
from __future__ import annotations

import json

import pytest

from hgr.app.server import DEMO_CHECKPOINT, DEMO_COLLECTION
from tests.appfixture import AppProcess

pytestmark = pytest.mark.skipif(not (DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()),
                                reason="the embedded demo is not built (hgr demo-world ship)")
QUERIES = 20              # the longest caption of each of the first test clips
MIN_OWN_CLIP_FIRST = 15   # measured 17 of 20 with the shipped model (13 with the paper's encoder of the same world)


@pytest.fixture(scope="module")
def app():
    app = AppProcess()                                    # no arguments: the embedded demo, as `make run`
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url, verbose=False)


def test_a_clip_is_found_by_its_own_caption(client):
    from hgr.collection import Collection

    with Collection.open(DEMO_COLLECTION) as coll:
        clips = coll.split("test")[:QUERIES]
        queries = {v: max(coll.captions[v], key=len) for v in clips}
    first = {v: client.predict(q.capitalize() + ".", 3, api_name="/search")["results"][0]["video_id"]
             for v, q in queries.items()}
    assert sum(first[v] == v for v in clips) >= MIN_OWN_CLIP_FIRST, first


def test_shipped_figures_reproduce(tmp_path, capsys):
    from hgr import load
    from hgr.cli import main

    card = load(DEMO_CHECKPOINT, device="cpu").card
    out = tmp_path / "test.json"
    assert main(["evaluate", "--collection", str(DEMO_COLLECTION), "--checkpoint", str(DEMO_CHECKPOINT),
                 "--split", "test", "--json", str(out)]) == 0
    got, shipped = json.loads(out.read_text()), card["test"]["test"]
    assert got["rsum"] == pytest.approx(shipped["rsum"], abs=1e-6)
    for level in ("event", "action", "entity", "fused"):
        assert got["levels"][level]["rsum"] == pytest.approx(shipped["levels"][level]["rsum"], abs=1e-6)
    for kind, value in shipped["binary_selection"].items():
        assert got["binary_selection"][kind] == pytest.approx(value, abs=1e-6), kind


def test_the_api_docs_example_runs(app, tmp_path, capsys):
    """docs/api.md's Python example, as written, against the demo (its URL and clip swapped for real ones)."""
    from pathlib import Path

    from hgr.collection import Collection

    docs = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    code = docs.split("```python\n", 1)[1].split("```", 1)[0]
    with Collection.open(DEMO_COLLECTION) as coll:
        clip = coll.video_path(coll.split("test")[0])
    assert '"http://127.0.0.1:7860/"' in code and '"my_clip.mp4"' in code
    code = code.replace('"http://127.0.0.1:7860/"', repr(app.url)).replace('"my_clip.mp4"', repr(str(clip)))
    exec(compile(code, "docs/api.md", "exec"), {})
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("Loaded as API")]
    assert printed[0].startswith("a dog is chasing a cat -> dw") and "'fused':" in printed[0]
    assert "from video dw" in printed[1] and printed[2].startswith("[('event', ")


def test_the_api_docs_why_example_runs(app, capsys):
    """docs/api.md's second Python example (/perturbations, /compare, /search with an edited graph and a previous
    query, /similar), as written, against the demo (its URL swapped for the app's)."""
    from pathlib import Path

    from hgr.collection import Collection

    docs = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    code = docs.split("```python\n")[2].split("```", 1)[0]
    assert '"http://127.0.0.1:7860/"' in code and "/compare" in code and "/similar" in code and "graph=" in code
    with Collection.open(DEMO_COLLECTION) as coll:
        assert 'clip = "dw00004"' in code and "dw00004" in coll.video_ids     # the example's clip is the demo's
    exec(compile(code.replace('"http://127.0.0.1:7860/"', repr(app.url)), "docs/api.md", "exec"), {})
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("Loaded as API")]
    assert len(printed) == 3 and printed[0].startswith("{'event': (") and "'fused': (" in printed[0]
    assert printed[1].startswith("[('dw") and printed[2].startswith("[('dw")
    assert "'dw00004'" not in printed[2]                                   # a clip is left out of its own list


def test_the_api_docs_curl_example_runs(app):
    """docs/api.md's plain-HTTP example, as written, with bash and curl against the demo (URL and clip swapped)."""
    import shutil
    import subprocess
    from pathlib import Path

    from hgr.collection import Collection

    if shutil.which("curl") is None or shutil.which("bash") is None:
        pytest.skip("curl or bash is not installed: the docs' curl example cannot run here")
    docs = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    script = docs.split("```bash\n", 1)[1].split("```", 1)[0]
    with Collection.open(DEMO_COLLECTION) as coll:
        vid = coll.split("test")[0]
        clip = coll.video_path(vid)
    assert "URL=http://127.0.0.1:7860\n" in script and "@my_clip.mp4" in script
    script = script.replace("URL=http://127.0.0.1:7860", f"URL={app.url.rstrip('/')}").replace("my_clip.mp4",
                                                                                                  str(clip))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    events = [block for block in out.split("\n\n") if block.strip()]
    assert [b.splitlines()[0] for b in events] == ["event: complete"] * 2, out[:500]
    search, captions = (json.loads(b.split("data: ", 1)[1])[0] for b in events)
    assert search["query"] == "a dog is chasing a cat" and len(search["results"]) == 5
    assert set(search["results"][0]["scores"]) == {"event", "action", "entity", "fused"}
    assert len(captions["results"]) == 5 and captions["results"][0]["video_id"] == vid


def test_the_binary_selection_breakdown_adds_up_to_the_shipped_figures():
    from hgr import load
    from hgr.collection import Collection
    from hgr.demo_world.breakdown import breakdown
    from hgr.demo_world.world import load_world
    from hgr.evaluate import graph_lookup
    from hgr.inputs import collection_inputs
    from hgr.search import Searcher

    ckpt = load(DEMO_CHECKPOINT, device="cpu")
    shipped = ckpt.card["test"]["test"]["binary_selection"]
    with Collection.open(DEMO_COLLECTION) as coll:
        ids = coll.split("test")
        searcher = Searcher(ckpt, collection_inputs(coll, ckpt.config), ids, graph_lookup(coll.role_graphs,
                                                                                        coll.manifest["parser"]))
        world = load_world(DEMO_COLLECTION)
        for kind in ("switch_roles", "incomplete_events"):
            b = breakdown(searcher, world, "test", kind)
            assert b["levels"]["fused"] == pytest.approx(shipped[kind], abs=1e-6), kind
            n = sum(count for count, _ in b["groups"].values())
            assert sum(count * acc for count, acc in b["groups"].values()) / n == pytest.approx(shipped[kind]), kind
            assert len(b["groups"]) > 1, kind
