"""The CUDA path: the same model, search, training and evaluation on a GPU give what they give on the CPU.

Skipped on a machine without a CUDA GPU (CI has none); run on one with `pytest tests/test_cuda.py`.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hgr
from hgr.collection import Collection
from hgr.evaluate import graph_lookup
from hgr.inputs import caption_inputs, collate_captions, collection_inputs
from hgr.search import Searcher
from tests import synthetic

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
ATOL = 1e-4      # CPU and GPU sum in different orders; cuDNN's GRU/LSTM kernels differ from the CPU's


def test_official_parity_case_on_the_gpu(parity_dir, expected, parity_graphs):
    ann = parity_dir / "root" / "annotation" / "RET"
    ckpt = hgr.load_official(parity_dir / "checkpoint.pth", ann / "int2word.npy", ann / "word2int.json",
                             device="cuda")
    assert ckpt.model.device.type == "cuda"
    assert torch.backends.cudnn.rnn.fp32_precision == "ieee"    # loading on the GPU keeps float32 RNNs float32
    items = [caption_inputs(str(s), parity_graphs[str(s)], ckpt.vocab, ckpt.config) for s in expected["captions"]]
    with torch.no_grad():
        video = ckpt.model.encode_video(torch.from_numpy(expected["attn_fts"]).cuda(),
                                        torch.from_numpy(expected["attn_lens"]).cuda())
        scores = ckpt.model.score(video, ckpt.model.encode_text(collate_captions(items).to("cuda")))
    for ours, theirs in [("event", "sent_scores"), ("action", "verb_scores"), ("entity", "noun_scores"),
                         ("fused", "fused_scores")]:
        np.testing.assert_allclose(scores.level(ours).cpu().numpy(), expected[theirs], atol=1e-5, err_msg=ours)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return synthetic.searcher_world(tmp_path_factory.mktemp("cuda"))


def searchers(world, **kw) -> tuple[Searcher, Searcher]:
    ckpt = world[1]
    out = []
    for device in ("cpu", "cuda"):
        model = hgr.HGR(ckpt.config).eval()
        model.load_state_dict(ckpt.model.state_dict())
        out.append(synthetic.searcher(world, checkpoint=hgr.Checkpoint(model.to(device), ckpt.vocab), **kw))
    return out[0], out[1]


def test_search_on_the_gpu_matches_the_cpu(world):
    collection, _ = world
    cpu, gpu = searchers(world)
    assert gpu.index.event.device.type == "cuda"
    for sentence in (collection.captions[v][0] for v in collection.video_ids[:10]):
        (a, trace_a), (b, trace_b) = cpu.search(sentence, top_k=20), gpu.search(sentence, top_k=20)
        for level in ("event", "action", "entity", "fused"):
            np.testing.assert_allclose(b.scores[level], a.scores[level], atol=ATOL, err_msg=level)
        assert b.ids[:5] == a.ids[:5]
        np.testing.assert_allclose(b.action_alignment, a.action_alignment, atol=ATOL)
        for la, lb in zip(trace_a.graph_attention, trace_b.graph_attention):
            np.testing.assert_allclose(np.asarray(lb), np.asarray(la), atol=ATOL)


def test_video_to_text_on_the_gpu_matches_the_cpu(world):
    collection, ckpt = world
    cpu, gpu = searchers(world)
    sentences = sorted({c for caps in collection.captions.values() for c in caps})
    load = collection_inputs(collection, ckpt.config)
    for vid in collection.video_ids[:5]:
        a = cpu.search_video(load(vid), sentences, cpu.encode_captions(sentences), top_k=10)
        b = gpu.search_video(load(vid), sentences, gpu.encode_captions(sentences), top_k=10)
        np.testing.assert_allclose(b.scores["fused"], a.scores["fused"], atol=ATOL)


def test_training_on_the_gpu_learns_and_loads_on_the_cpu(tmp_path):
    from hgr.train import TrainConfig, train

    collection = Collection.open(synthetic.build(tmp_path / "coll"))
    cfg = hgr.HGRConfig(dim_fts=collection.dim, dim_embed=32, dim_word=16, rnn_type="lstm", gcn_layers=2,
                        num_words=0)
    out = tmp_path / "model.pt"
    result = train(collection, cfg, out, TrainConfig(epochs=4, batch_size=16, lr=3e-3, glove=False),
                   device="cuda", progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.8, losses
    on_cpu, on_gpu = hgr.load(out, device="cpu"), hgr.load(out, device="cuda")
    assert on_gpu.model.device.type == "cuda" and on_cpu.model.device.type == "cpu"
    sentence = collection.captions[collection.video_ids[0]][0]
    graphs = graph_lookup(collection.role_graphs)
    texts = [m.model.encode_text(collate_captions([caption_inputs(sentence, graphs(sentence), m.vocab, m.config)])
                                 .to(m.model.device)).event for m in (on_cpu, on_gpu)]
    np.testing.assert_allclose(texts[1].detach().cpu().numpy(), texts[0].detach().numpy(), atol=ATOL)


def test_shipped_demo_figures_reproduce_on_the_gpu(tmp_path):
    from hgr.app.server import DEMO_CHECKPOINT, DEMO_COLLECTION
    from hgr.cli import main

    if not (DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()):
        pytest.skip("the embedded demo is not built")
    card = hgr.load(DEMO_CHECKPOINT, device="cpu").card
    out = tmp_path / "test.json"
    try:                                # binary selection parses its perturbed captions: it needs spaCy
        import spacy  # noqa: F401
        binary = []
    except ImportError:
        binary = ["--binary-selection", "0"]
    assert main(["evaluate", "--collection", str(DEMO_COLLECTION), "--checkpoint", str(DEMO_CHECKPOINT),
                 "--split", "test", "--device", "cuda", "--json", str(out), *binary]) == 0
    got, shipped = json.loads(out.read_text()), card["test"]["test"]
    assert got["rsum"] == pytest.approx(shipped["rsum"], abs=1e-6)
    for level in ("event", "action", "entity", "fused"):
        assert got["levels"][level]["rsum"] == pytest.approx(shipped["levels"][level]["rsum"], abs=1e-6)
    for kind, value in (shipped["binary_selection"].items() if not binary else ()):
        assert got["binary_selection"][kind] == pytest.approx(value, abs=1e-6), kind


def test_app_service_on_the_gpu_matches_the_cpu():
    from hgr.app.server import DEMO_CHECKPOINT, DEMO_COLLECTION
    from hgr.app.service import DemoService

    if not (DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()):
        pytest.skip("the embedded demo is not built")
    collection = Collection.open(DEMO_COLLECTION)
    cpu, gpu = (DemoService(collection, hgr.load(DEMO_CHECKPOINT, device=d)) for d in ("cpu", "cuda"))
    assert gpu.index.event.device.type == "cuda"
    queries = [collection.captions[v][0] for v in collection.split("test")[:5]]
    for query in queries:
        a, b = cpu.search(query, 10), gpu.search(query, 10)
        fused_a = [r["scores"]["fused"] for r in a["results"]]
        fused_b = [r["scores"]["fused"] for r in b["results"]]
        np.testing.assert_allclose(fused_b, fused_a, atol=ATOL)
        assert b["results"][0]["video_id"] == a["results"][0]["video_id"]
        np.testing.assert_allclose(np.asarray(b["attention"]), np.asarray(a["attention"]), atol=ATOL)
    features = cpu.frame_features(collection.split("test")[0])
    (_, a), (_, b) = cpu.captions_for_features(features, 5), gpu.captions_for_features(features, 5)
    np.testing.assert_allclose([r["scores"]["fused"] for r in b["results"]],
                               [r["scores"]["fused"] for r in a["results"]], atol=ATOL)


def test_frame_extractor_on_the_gpu_matches_the_cpu(tmp_path):
    from hgr.features import ResNet152, load_extractor

    weights = tmp_path / "resnet152.pth"
    torch.manual_seed(0)
    torch.save(ResNet152().state_dict(), weights)             # random weights: the arithmetic, not the features
    frames = [np.random.default_rng(i).integers(0, 256, (240, 320, 3), dtype=np.uint8) for i in range(5)]
    (ga, ra), (gb, rb) = (load_extractor("resnet152", weights, device=d, batch_size=2)(frames, grid=(1, 2))
                          for d in ("cpu", "cuda"))
    assert ga.shape == (5, 2048) and ra.shape == (5, 2, 2048)
    np.testing.assert_allclose(gb, ga, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(rb, ra, rtol=1e-3, atol=1e-3)


def test_two_stage_on_the_gpu_needs_no_faiss_and_matches_exact(world):
    collection, _ = world
    _, gpu = searchers(world)
    sentence = collection.captions["video7"][0]
    exact, _ = gpu.search(sentence, top_k=10)
    full, _ = gpu.search(sentence, top_k=10, pool=len(collection.video_ids))
    assert isinstance(gpu.key_index(), torch.Tensor) and gpu.key_index().device.type == "cuda"
    assert full.ids == exact.ids
    np.testing.assert_allclose(full.scores["fused"], exact.scores["fused"], atol=1e-6)
