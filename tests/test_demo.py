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
MIN_OWN_CLIP_FIRST = 15   # measured 19 of 20 with the shipped model (also without hard negatives); 15 paper's encoder


@pytest.fixture(scope="module")
def client():
    from gradio_client import Client

    app = AppProcess()                                    # no arguments: the embedded demo, as `make run`
    try:
        yield Client(app.url, verbose=False)
    finally:
        app.close()


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
