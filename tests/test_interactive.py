"""Asking the model why, without a browser, on the embedded demo: /compare agrees with `hgr evaluate`'s binary
selection, graph edits change what they say they change, re-ranking reports how results moved, and similar clips
find a clip's re-encoded copy."""
from __future__ import annotations

import subprocess

import pytest

from hgr.demo_assets import DEMO_CHECKPOINT, DEMO_COLLECTION
from hgr.model import LEVELS

pytestmark = pytest.mark.skipif(not (DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()),
                                reason="the embedded demo is not built (hgr demo-world ship)")
ROUNDING = 1.5e-4          # the JSON rounds scores to 4 decimals; a difference of two rounded values is within 1e-4


@pytest.fixture(scope="module")
def service():
    import hgr
    from hgr.app.service import DemoService
    from hgr.collection import Collection

    return DemoService.open(Collection.open(DEMO_COLLECTION), hgr.load(DEMO_CHECKPOINT, device="cpu"))


def test_compare_agrees_with_binary_selection(service):
    """A demo clip with its true caption and its switch-roles perturbation: the per-level scores and winners are
    those of `hgr evaluate`'s binary-selection scorer for the same pair."""
    from hgr.demo_world.binary_selection import binary_selection_pairs
    from hgr.evaluate import binary_wins
    from hgr.search import Searcher

    triplets = binary_selection_pairs(DEMO_COLLECTION, "test", "switch_roles", n=8)
    wins = binary_wins(service.searcher, triplets)
    videos = list(dict.fromkeys(v for v, _, _ in triplets))
    sentences = list(dict.fromkeys(c for _, t, f in triplets for c in (t, f)))
    scorer = Searcher(service.checkpoint, service.searcher.features, videos, service.searcher.graphs)
    matrix = scorer.score_matrix(sentences)                       # what binary_wins compares, by level
    for i, (video, true, false) in enumerate(triplets):
        out = service.compare(true, false, video_id=video)
        assert out["a"]["true"] is True and out["b"]["true"] is False, (true, false)
        for level in LEVELS:
            for side, caption in (("a", true), ("b", false)):
                expected = matrix[level][videos.index(video), sentences.index(caption)]
                assert out[side]["scores"][level] == pytest.approx(expected, abs=ROUNDING), (level, side, caption)
            if abs(out["margin"][level]) > 1e-3:                 # far from a tie: the same winner, whatever rounding
                assert (out["winner"][level] == "a") == bool(wins[level][i]), (level, true, false)
        assert set(out["a"]["differs"]) and set(out["b"]["differs"])          # the swapped entities
        assert out["a"]["graph"]["nodes"][0]["words"] == true.split()


def test_compare_per_node_scores_add_up_to_the_levels(service):
    video = service.collection.split("test")[0]
    caption = service.collection.captions[video][0]
    out = service.compare(caption, "a dog is sleeping on the grass", video_id=video)
    for side in ("a", "b"):
        nodes = out[side]["nodes"]
        for level in ("action", "entity"):
            shares = [n["contribution"] for n in nodes.values() if n["level"] == level]
            assert sum(shares) == pytest.approx(out[side]["scores"][level], abs=ROUNDING * max(len(shares), 1))
        for node_id, weights in out[side]["alignment"].items():
            assert node_id in nodes and len(weights) == out["frames"] and sum(weights) == pytest.approx(1, abs=1e-3)
    assert out["a"]["true"] is True and out["b"]["true"] is None          # the second was not made by the world


def _with_unlinked_entity(service) -> tuple[str, str]:
    """A test caption whose graph has an action, another entity and an entity node linked to nothing, and that
    entity's id (with one entity, removing it leaves no entity mean to compare)."""
    graphs = service.collection.role_graphs
    for video in service.collection.split("test"):
        for caption in service.collection.captions[video]:
            nodes, edges = graphs[caption]
            linked = {a for _, a, _ in edges}
            entities = [k for k, n in nodes.items() if n["role"] not in ("ROOT", "V")]
            unlinked = [k for k in entities if k not in linked]
            if unlinked and len(entities) > 1 and any(n["role"] == "V" for n in nodes.values()):
                return caption, unlinked[0]
    pytest.fail("no test caption with an unlinked entity node")


def test_removing_a_node_changes_exactly_its_contribution(service):
    """An entity node with no edge: removing it leaves the event and action scores of every video as they were and
    takes exactly its own term out of the entity level's mean."""
    from hgr.graph_edit import remove_node

    caption, node = _with_unlinked_entity(service)
    graph = service.prepare(caption).graph
    entities = [n.name for n in graph.entities]
    out = service.search("", 8, graph=remove_node(graph, node).to_json(), previous=caption)
    assert out["query"] == caption and node not in {n["id"] for n in out["graph"]["nodes"]}
    for r in out["results"]:
        before = r["previous"]["scores"]
        assert r["previous"]["delta"]["event"] == pytest.approx(0, abs=ROUNDING)
        assert r["previous"]["delta"]["action"] == pytest.approx(0, abs=ROUNDING)
        own = service.compare(caption, caption, video_id=r["video_id"])["a"]["nodes"][node]["score"]
        n = len(entities)
        assert r["scores"]["entity"] == pytest.approx((n * before["entity"] - own) / (n - 1), abs=n * ROUNDING)
        assert r["previous"]["delta"]["entity"] != pytest.approx(0, abs=ROUNDING)


def test_removing_a_linked_node_reaches_its_neighbours_only_through_the_graph(service):
    """The event node gathers nothing from the graph (Eq. 7-9: actions and entities attend, the event does not), so
    removing any node leaves the event score alone; a linked entity's action moves with it."""
    from hgr.graph_edit import remove_node

    query = "a dog chases a cat on the grass"
    graph = service.prepare(query).graph
    patient = next(a for v, a, r in graph.edges if r == "ARG1")
    out = service.search("", 5, graph=remove_node(graph, patient).to_json(), previous=query)
    assert all(r["previous"]["delta"]["event"] == pytest.approx(0, abs=ROUNDING) for r in out["results"])
    assert any(abs(r["previous"]["delta"]["action"]) > 1e-3 for r in out["results"])


def test_swapping_arguments_in_the_graph_equals_parsing_the_swapped_sentence(service):
    """ARG0 and ARG1 swapped in a caption's graph give the scores of the swapped sentence typed and parsed, for every
    caption where the parser finds the same nodes in the swapped sentence."""
    from hgr.errors import ParseError
    from hgr.graph import graph_json_equal
    from hgr.graph_edit import sentence_of, swap_arguments

    checked = 0
    for video in service.collection.split("test")[:40]:
        caption = service.collection.captions[video][0]
        graph = service.prepare(caption).graph
        action = next((v for v, _, r in graph.edges if r == "ARG0"), None)
        try:
            swapped = swap_arguments(graph, action) if action else None
        except ParseError:
            continue                                        # not two contiguous arguments
        if swapped is None:
            continue
        parsed = service.prepare(sentence_of(swapped)).graph
        if not graph_json_equal(swapped.to_json(), parsed.to_json()):
            continue
        edited = service.search("", 10, graph=swapped.to_json())
        typed = service.search(sentence_of(swapped), 10)
        assert edited["query"] == typed["query"] and edited["results"] == typed["results"]
        assert edited["graph"] == typed["graph"]
        checked += 1
    assert checked >= 3, f"only {checked} captions parse to the swapped graph"


def test_rerank_reports_rank_changes_and_deltas(service):
    query, edited = "a dog chases a cat", "a cat chases a dog"
    same = service.search(query, 10, previous=query)
    assert all(r["previous"]["change"] == 0 and not r["previous"]["new"] for r in same["results"])
    assert all(d == 0 for r in same["results"] for d in r["previous"]["delta"].values())
    before = service.search(query, 50)
    rank_before = {r["video_id"]: r["rank"] for r in before["results"]}
    after = service.search(edited, 10, previous=query)
    for r in after["results"]:
        prev = r["previous"]
        if r["video_id"] in rank_before:
            assert prev["rank"] == rank_before[r["video_id"]] and prev["change"] == prev["rank"] - r["rank"]
        assert prev["new"] == (prev["rank"] > 10)
        for level in LEVELS:
            assert r["scores"][level] - prev["scores"][level] == pytest.approx(prev["delta"][level], abs=ROUNDING)
    top10 = {r["video_id"] for r in before["results"][:10]}
    assert set(after["previous"]["left"]) == top10 - {r["video_id"] for r in after["results"]}


def test_similar_clips_are_symmetric_and_leave_the_clip_out(service):
    a, b = service.video_ids[:2]
    out = service.similar(video_id=a, top_k=50)
    assert a not in {r["video_id"] for r in out["results"]}
    fused = [r["scores"]["fused"] for r in out["results"]]
    assert fused == sorted(fused, reverse=True)
    for r in out["results"]:
        assert r["scores"]["fused"] == pytest.approx(sum(r["scores"][lv] for lv in LEVELS[:3]) / 3, abs=ROUNDING)
    back = {r["video_id"]: r for r in service.similar(video_id=b, top_k=50)["results"]}
    forth = {r["video_id"]: r for r in out["results"]}
    if b in forth and a in back:                                   # the similarity is symmetric at every level
        assert forth[b]["scores"] == back[a]["scores"]


def test_similar_ranks_a_re_encoded_copy_of_a_clip_first(service, tmp_path):
    """An upload that is a clip of the collection re-encoded at a lower quality (H.264 at CRF 32, the demo's clips
    are CRF 22): its features are computed afresh from the file, and the clip it came from is the most similar."""
    import imageio_ffmpeg

    for video in service.collection.split("test")[:4]:
        copy = tmp_path / f"{video}-copy.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(service.video_path(video)),
                        "-c:v", "libx264", "-crf", "32", str(copy)], check=True)
        out = service.similar(video=str(copy), top_k=3)
        assert out["video_id"] is None and out["clip"] == copy.name
        assert out["results"][0]["video_id"] == video, out["results"]


def test_bad_requests_say_what_to_do(service):
    from hgr.errors import HGRError

    video = service.video_ids[0]
    with pytest.raises(HGRError, match="give one clip"):
        service.compare("a dog runs", "a cat runs")
    with pytest.raises(HGRError, match="no video 'nope'"):
        service.similar(video_id="nope")
    with pytest.raises(HGRError, match="the query is empty"):
        service.compare("", "a cat runs", video_id=video)
    with pytest.raises(HGRError, match="not valid JSON"):
        service.search("", 5, graph="[{")
    with pytest.raises(HGRError, match="spans"):
        service.search("", 5, graph=[{"ROOT": {"role": "ROOT", "spans": [0, 1], "words": ["a", "dog"]},
                                      "1": {"role": "ARG0", "spans": [1], "words": ["cat"]}}, []])
