"""The Searcher: exact against the model's own forward pass, cached video side, two-stage search."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hgr
from hgr.evaluate import graph_lookup
from hgr.inputs import collection_inputs
from hgr.search import Searcher, index_cache_path
from hgr.vocab import Vocabulary
from tests import synthetic


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return synthetic.searcher_world(tmp_path_factory.mktemp("search"))


make = synthetic.searcher          # (world, video_ids=None, checkpoint=None, **Searcher's kw)


def test_search_is_exact_against_the_forward_pass(world):
    collection, ckpt = world
    searcher = make(world)
    sentence = collection.captions["video3"][0]
    ranked, trace = searcher.search(sentence, top_k=5)
    load = collection_inputs(collection, ckpt.config)
    from hgr.inputs import collate_captions, collate_frames
    with torch.no_grad():
        frames, lengths = collate_frames([load(v) for v in collection.video_ids], ckpt.config.max_frames)
        direct = ckpt.model.score(ckpt.model.encode_video(frames, lengths),
                                  ckpt.model.encode_text(collate_captions(searcher.inputs([sentence]))))
    best = torch.argsort(direct.fused[:, 0], descending=True)[:5]
    assert ranked.ids == [collection.video_ids[i] for i in best]
    for level in ("event", "action", "entity", "fused"):
        np.testing.assert_allclose(ranked.scores[level], direct.level(level)[best, 0].numpy(), atol=1e-5)
    assert ranked.action_alignment.shape[:2] == (5, 4) and ranked.entity_alignment.shape[:2] == (5, 6)
    assert len(trace.graph_attention) == 2 and trace.word_attention.shape == (6,)


def test_cache_is_reused_and_invalidated(world, tmp_path):
    collection, ckpt = world
    path = tmp_path / "index.pt"
    first = make(world, cache=path)
    reference = first.index.event.clone()
    assert path.exists()
    second = make(world, cache=path)
    second.encode_videos = None                                  # must not be called: the cache is valid
    torch.testing.assert_close(second.index.event, reference)
    other = Searcher(ckpt, collection_inputs(collection, ckpt.config), collection.video_ids[:10],
                     graph_lookup(collection.role_graphs), cache=path)
    assert other.index.event.shape[0] == 10                      # other videos: the stale cache was not used
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable video index cache"):
        torch.testing.assert_close(make(world, cache=path).index.event, reference)
    assert index_cache_path(collection, ckpt).parent == collection.root / "cache"


def test_two_stage_equals_exact_with_a_full_pool_and_keeps_order(world):
    collection, _ = world
    searcher = make(world)
    sentence = collection.captions["video7"][0]
    exact, _ = searcher.search(sentence, top_k=10)
    n = len(collection.video_ids)
    text = searcher.encode_captions([sentence]).text
    every = searcher.two_stage(text, pool=n, top_k=10)                  # two-stage over every video: exact
    assert [collection.video_ids[i] for i in every.tolist()] == exact.ids
    full, _ = searcher.search(sentence, top_k=10, pool=n - 1)            # all but the video with the worst key
    assert collection.video_ids[searcher.candidates(text, n).tolist()[-1]] not in exact.ids
    assert full.ids == exact.ids
    np.testing.assert_allclose(full.scores["fused"], exact.scores["fused"], atol=1e-6)
    small, _ = searcher.search(sentence, top_k=5, pool=20)
    assert all(np.diff(small.scores["fused"]) <= 0) and len(small.ids) == 5


def test_from_half_keys_the_first_stage_scans_the_keys_in_torch_and_finds_faiss_candidates(world, monkeypatch):
    """From HALF_KEYS_FROM videos the CPU first stage is a float16 copy of the keys in RAM scanned with one product
    (not FAISS): the same candidates as FAISS's flat index up to float16 rounding, and the same two-stage top 10."""
    import hgr.search.keys as keys_module

    collection, _ = world
    flat = make(world)
    texts = flat.encode_captions([collection.captions[v][0] for v in collection.video_ids[:8]]).text
    assert flat.first_stage.describe(flat.key_index()) == "FAISS IndexFlatIP"      # built below the threshold
    monkeypatch.setattr(keys_module, "HALF_KEYS_FROM", 0)
    half = make(world)
    mapped = flat.first_stage_keys().half()
    copied = keys_module.key_index_of(mapped)
    assert copied.dtype == torch.float16 and copied.data_ptr() != mapped.data_ptr()     # its own copy, in RAM
    assert half.first_stage.describe(half.key_index()) == "key scan in torch (float16, cpu)"
    from hgr.search.exact import select_captions
    for j in range(8):
        text = select_captions(texts, slice(j, j + 1))
        a, b = flat.candidates(text, 40).tolist(), half.candidates(text, 40).tolist()
        assert a[0] == b[0] and len(set(a) & set(b)) >= 38, (a, b)
        assert half.two_stage(text, 60).tolist() == flat.two_stage(text, 60).tolist()


def test_half_precision_storage_changes_scores_little(world):
    collection, _ = world
    sentences = [collection.captions[v][0] for v in collection.video_ids[:20]]
    exact = make(world).score_matrix(sentences)["fused"]
    # Eq. 12 divides each phrase's clamped similarities by their norm over frames: when they are all small
    # (untrained models), rounding of the frame embeddings is amplified. Measured here: fp16 ~2e-3 on fused.
    for dtype, tolerance in ((torch.float16, 1e-2), (torch.bfloat16, 5e-2)):
        half = make(world, storage=dtype).score_matrix(sentences)["fused"]
        assert np.abs(half - exact).max() < tolerance, dtype


def test_caption_side_cache_round_trip(world, tmp_path):
    collection, _ = world
    sentences = [collection.captions[v][0] for v in collection.video_ids[:12]]
    path = tmp_path / "captions.pt"
    first = make(world).encode_captions(sentences, cache=path)
    assert path.exists()
    again = make(world).encode_captions(sentences, cache=path)
    torch.testing.assert_close(again.text.entities, first.text.entities)
    other = make(world).encode_captions(sentences[:5], cache=path)        # other sentences: not the cached ones
    assert other.text.event.shape[0] == 5


def test_frame_dots_is_the_matrix_product_for_every_path():
    from hgr.model.matching import ROWS_PER_CHUNK, frame_dots
    torch.manual_seed(0)
    frames = torch.randn(ROWS_PER_CHUNK * 2 + 37, 16)                # several chunks and a partial one
    for q in (1, 2, 3, 13):                                           # a lone (padded) column, a few, a wide batch
        columns = torch.randn(q, 16)
        for stored in (torch.float32, torch.float16):
            expected = columns @ frames.to(stored).float().T
            with torch.no_grad():
                torch.testing.assert_close(frame_dots(frames.to(stored), columns), expected, atol=1e-5, rtol=1e-5)


def synthetic_searcher(n: int, dim: int = 48, concepts: int = 40, seed: int = 0, storage=torch.float32):
    """A Searcher over a synthetic index whose levels share a concept structure (as in benchmarks/search.py)."""
    from hgr.model import VideoIndex
    from hgr.model.matching import FrameStats
    gen = torch.Generator().manual_seed(seed)
    basis = torch.nn.functional.normalize(torch.randn(concepts, dim, generator=gen), dim=1) * 3
    chosen = torch.stack([torch.randperm(concepts, generator=gen)[:3] for _ in range(n)])
    mask = torch.arange(8)[None] < torch.randint(3, 9, (n,), generator=gen)[:, None]
    levels = []
    for _ in range(2):
        frames = torch.einsum("nfc,ncd->nfd", torch.rand(n, 8, 3, generator=gen), basis[chosen])
        frames = (frames + 0.7 * torch.randn(n, 8, dim, generator=gen)) * mask[:, :, None]
        levels.append(FrameStats.of(frames, mask))
    index = VideoIndex(basis[chosen].sum(1) + 0.5 * torch.randn(n, dim, generator=gen), *levels)
    cfg = hgr.HGRConfig(dim_fts=8, dim_embed=dim, dim_word=8, num_words=3, gcn_layers=1)
    searcher = Searcher(hgr.Checkpoint(hgr.HGR(cfg).eval(), Vocabulary(["<BOS>", "<EOS>", "<UNK>"])), None,
                        [f"v{i}" for i in range(n)], None, storage=storage)
    for stats in (index.actions, index.entities):                     # as Searcher(storage=...) keeps them
        stats.frames = stats.frames.to(storage)
    searcher._index = index

    def queries(q: int):
        from hgr.model import TextEmbedding
        picks = torch.stack([torch.randperm(concepts, generator=gen)[:3] for _ in range(q)])
        c = basis[picks] + 0.4 * torch.randn(q, 3, dim, generator=gen)
        actions, entities = torch.zeros(q, 2, dim), torch.zeros(q, 3, dim)
        actions[:, 0], entities[:, :2] = c[:, 0], c[:, 1:]
        return TextEmbedding(basis[picks].sum(1) + 0.5 * torch.randn(q, dim, generator=gen), actions, entities,
                             actions.abs().sum(2) > 0, entities.abs().sum(2) > 0, torch.empty(0), [])
    return searcher, queries


def test_first_stage_keys_are_the_fused_score_with_uniform_attention():
    from hgr.search import caption_keys, video_keys
    searcher, queries = synthetic_searcher(30)
    index = searcher.index
    index.actions.mask[:] = False
    index.actions.mask[:, 0] = True                                   # one real frame: attention is uniform
    text = queries(4)
    text.entities[:, 1] = 0
    text.entity_valid[:, 1] = False                                   # one phrase per level
    with torch.no_grad():
        fused = searcher.model.score(index, text).fused                  # [30, 4]
        torch.testing.assert_close(video_keys(index) @ caption_keys(text).T, 3 * fused, atol=1e-5, rtol=1e-5)


def test_two_stage_recall_and_the_chosen_pool():
    searcher, queries = synthetic_searcher(1500)
    pool, curve = searcher.choose_pool(queries(10), target=0.99)
    assert pool < 1500 and curve[max(curve)] == pytest.approx(1.0)
    held_out = queries(10)
    exact = torch.from_numpy(searcher.score_encoded(held_out)["fused"])
    recall = []
    for j in range(10):
        found = searcher.two_stage(torch_select(held_out, j), pool)
        recall.append(len(set(found.tolist()) & set(torch.topk(exact[:, j], 10).indices.tolist())) / 10)
    assert np.mean(recall) >= 0.95, recall


def test_half_precision_frames_are_read_exactly_as_stored():
    searcher, queries = synthetic_searcher(300, storage=torch.float16)
    text = queries(3)
    index = searcher.index
    widened = index.to()                                              # the same tensors, frames widened below
    widened.actions.frames, widened.entities.frames = index.actions.frames.float(), index.entities.frames.float()
    with torch.no_grad():
        direct = searcher.model.score(widened, text).fused.numpy()
    np.testing.assert_allclose(searcher.score_encoded(text)["fused"], direct, atol=1e-5)


def torch_select(text, j: int):
    from hgr.search import select_captions
    return select_captions(text, slice(j, j + 1))


def test_plan_search_exact_or_two_stage(world, tmp_path, monkeypatch):
    import hgr.search.planning as search
    from hgr.errors import HGRError
    from hgr.search import plan_search

    collection, _ = world
    searcher, captions = make(world), sorted({c for caps in collection.captions.values() for c in caps})
    assert plan_search(searcher, "auto", captions=captions).mode == "exact"              # 200 videos: small
    assert plan_search(searcher, "two-stage", pool=500).pool == 200                      # a pool is at most all
    monkeypatch.setattr(search, "TWO_STAGE_FROM", 100)
    cache = tmp_path / "pool.pt"
    plan = plan_search(searcher, "auto", captions=captions, cache=cache)
    assert plan.mode == "two-stage" and plan.pool < 200 and cache.is_file()
    assert min(r for p, r in plan.curve.items() if p >= plan.pool // 2) >= 0.99        # what choose_pool promises
    assert "two-stage" in plan.describe() and plan.to_json()["pool"] == plan.pool
    searcher.choose_pool = None                                     # must not be called: the cached pool is valid
    assert plan_search(searcher, "auto", captions=captions, cache=cache).pool == plan.pool
    assert plan_search(searcher, "exact", captions=captions).mode == "exact"
    no_captions = plan_search(searcher, "auto")
    assert no_captions.mode == "exact" and "--pool" in no_captions.note
    for kwargs, message in (({"mode": "two-stage"}, "--pool N"), ({"mode": "fast"}, "unknown search mode"),
                            ({"mode": "two-stage", "pool": 0}, "at least 1")):
        with pytest.raises(HGRError, match=message):
            plan_search(searcher, **kwargs)


def test_a_first_stage_no_pool_can_rescue_is_planned_as_exact_and_says_so(world, monkeypatch):
    """When no calibrated pool reaches recall@10 0.99 (a lossy first stage: Milvus IVF_FLAT measured 0.79 at any
    pool over 100,000 synthetic videos), the plan is exact search over every video, and it says why."""
    import hgr.search.planning as search
    from hgr.search import plan_search

    collection, _ = world
    searcher, captions = make(world), sorted({c for caps in collection.captions.values() for c in caps})
    monkeypatch.setattr(search, "TWO_STAGE_FROM", 100)
    monkeypatch.setattr(searcher, "choose_pool", lambda text: (200, {50: 0.7, 100: 0.79, 200: 0.79}))
    plan = plan_search(searcher, "auto", captions=captions)
    assert plan.mode == "exact" and plan.videos == 200 and plan.to_json() == {"mode": "exact", "videos": 200}
    assert "no two-stage pool reached recall@10 0.99" in plan.describe() and "0.790 with 100 candidates" in plan.note


def test_frame_storage_by_size_or_name(monkeypatch):
    import hgr.search.planning as search
    from hgr.errors import HGRError
    from hgr.search import frame_storage

    assert frame_storage(100) == torch.float32 and frame_storage(100, "bfloat16") == torch.bfloat16
    monkeypatch.setattr(search, "HALF_FRAMES_FROM", 50)
    assert frame_storage(100) == torch.float16 and frame_storage(100, "float32") == torch.float32
    with pytest.raises(HGRError, match="unknown frame storage"):
        frame_storage(100, "int8")


def test_half_precision_index_is_encoded_and_cached_in_half(world, tmp_path):
    path = tmp_path / "index.pt"
    searcher = make(world, cache=path, storage=torch.float16)
    assert searcher.index.actions.frames.dtype == torch.float16
    stored = torch.load(path, weights_only=True)["tensors"]
    assert stored["actions"].dtype == stored["entities"].dtype == torch.float16           # half the file too
    again = make(world, cache=path, storage=torch.float16)
    again.encode_videos = None                                   # must not be called: the cache is valid
    torch.testing.assert_close(again.index.entities.frames, searcher.index.entities.frames)


def test_the_app_searches_two_stage_when_told(world):
    from hgr.app.service import AppConfig, DemoService

    collection, ckpt = world
    query = collection.captions["video7"][0]
    exact = DemoService(collection, ckpt).search(query, 10)
    assert exact["search"] == {"mode": "exact", "videos": 200}
    whole = DemoService(collection, ckpt, config=AppConfig(search="two-stage", pool=200)).search(query, 10)
    assert [r["video_id"] for r in whole["results"]] == [r["video_id"] for r in exact["results"]]
    few = DemoService(collection, ckpt, config=AppConfig(search="two-stage", pool=4)).search(query, 10)
    assert few["search"] == {"mode": "two-stage", "videos": 200, "pool": 4} and len(few["results"]) == 4
    full = DemoService(collection, ckpt, config=AppConfig(top_k=200, max_top_k=200)).search(query, 200)
    fused = {r["video_id"]: r["scores"]["fused"] for r in full["results"]}
    assert len(fused) == 200
    for r in few["results"]:                                     # re-ranked by the exact score
        assert r["scores"]["fused"] == pytest.approx(fused[r["video_id"]], abs=1e-4)


def test_hgr_search_command_line_two_stage(world, tmp_path, capsys):
    import json

    from hgr.checkpoint import save
    from hgr.cli import main

    collection, ckpt = world
    path = save(tmp_path / "m.pt", ckpt.model, ckpt.vocab)
    query = collection.captions["video7"][0]
    args = ["search", query, "--collection", str(collection.root), "--checkpoint", str(path), "--device", "cpu"]
    assert main([*args, "--search", "two-stage", "--pool", "3", "--storage", "float16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["search"] == {"mode": "two-stage", "videos": 200, "pool": 3} and len(out["results"]) == 3
    assert main([*args, "--top-k", "2"]) == 0
    assert "search: exact over all 200 videos" in capsys.readouterr().out
    assert main([*args, "--search", "two-stage", "--pool", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_the_app_parses_a_typed_query_once(world, monkeypatch):
    """service.search and service.parse hand the graph `prepare` made to the searcher instead of parsing again."""
    import hgr.parsing
    from hgr.app.service import DemoService

    collection, ckpt = world
    service = DemoService(collection, ckpt)
    calls = []
    real = hgr.parsing.parse

    def counted(sentence, *args, **kwargs):
        calls.append(sentence)
        return real(sentence, *args, **kwargs)

    monkeypatch.setattr(hgr.parsing, "parse", counted)
    query = "a dog is chasing a cat on the grass"                 # not one of the collection's captions
    assert query not in collection.role_graphs
    out = service.search(query, 3)
    assert calls == [query] and len(out["results"]) == 3
    service.parse(query)
    assert calls == [query, query]
