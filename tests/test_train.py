"""A short training run on a tiny synthetic collection lowers the loss and raises recall; resume continues."""
from __future__ import annotations

import hgr
from hgr.collection import Collection
from hgr.evaluate import graph_lookup
from hgr.model import HGRConfig
from hgr.train import TrainConfig, train, validate
from tests import synthetic


def test_training_lowers_loss_raises_recall_and_resumes(tmp_path):
    collection = Collection.open(synthetic.build(tmp_path / "coll"))
    cfg = HGRConfig(dim_fts=collection.dim, dim_embed=32, dim_word=16, rnn_type="lstm", gcn_layers=2, num_words=0)
    tcfg = TrainConfig(epochs=4, batch_size=16, lr=3e-3, glove=False)
    out = tmp_path / "model.pt"
    first = train(collection, cfg, out, TrainConfig(**{**tcfg.__dict__, "epochs": 1}), device="cpu", progress=False)
    assert first.epochs_run == 1 and out.exists() and out.with_suffix(".last.pt").exists()
    result = train(collection, cfg, out, tcfg, device="cpu", progress=False)           # resumes at epoch 2
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.8, losses

    best = hgr.load(out, device="cpu")
    assert best.card["epoch"] == result.best_epoch and best.card["data"]["train_pairs"] == 60
    untrained = hgr.Checkpoint(hgr.HGR(best.config).eval(), best.vocab)
    val = collection.split("val")
    frames = {v: collection.frame_features(v)[0] for v in val}
    graphs = graph_lookup(collection.role_graphs)
    before = validate(untrained, collection, val, frames, graphs, 100)["rsum"]
    after = validate(best, collection, val, frames, graphs, 100)["rsum"]
    assert after > before + 30, (before, after)


def test_role_swapped_negatives_add_a_hinge_and_train(tmp_path):
    import torch

    from hgr.graph import role_swapped
    from hgr.inputs import caption_inputs, collate_captions, collate_frames, collection_inputs
    from hgr.vocab import Vocabulary

    collection = Collection.open(synthetic.build(tmp_path / "coll", n_train=16, n_val=8))
    graphs = graph_lookup(collection.role_graphs)
    vids = collection.split("train")[:8]
    captions = [collection.captions[v][0] for v in vids]
    twins = [role_swapped(c, graphs(c)) for c in captions]
    assert all(twins) and twins[0][0] != captions[0]                   # 'a dog is chasing a box' -> 'a box ...'
    vocab = Vocabulary.build(captions + [t[0] for t in twins])
    cfg = HGRConfig(dim_fts=collection.dim, dim_embed=16, dim_word=8, gcn_layers=2, num_words=len(vocab))
    torch.manual_seed(0)
    model = hgr.HGR(cfg).eval()
    frames, lengths = collate_frames([collection_inputs(collection, cfg)(v) for v in vids], cfg.max_frames)
    batch = collate_captions([caption_inputs(c, graphs(c), vocab, cfg) for c in captions])
    negatives = collate_captions([caption_inputs(*t, vocab, cfg) for t in twins])
    with torch.no_grad():
        plain = model(frames, lengths, batch)
        more = model(frames, lengths, batch, None, negatives, list(range(8)))
    assert more > plain                                   # untrained: s(v, c') ~ s(v, c), so every hinge is open

    result = train(collection, HGRConfig(dim_fts=collection.dim, dim_embed=16, dim_word=8, num_words=0),
                   tmp_path / "m.pt", TrainConfig(epochs=1, batch_size=8, glove=False, role_swap_negatives=True),
                   device="cpu", progress=False)
    assert result.epochs_run == 1 and hgr.load(tmp_path / "m.pt", device="cpu").card["train"]["role_swap_negatives"]


def test_hard_negatives_file_is_read_checked_and_trained_on(tmp_path):
    import json

    import pytest

    from hgr.errors import HGRError
    from hgr.train import read_negatives

    collection = Collection.open(synthetic.build(tmp_path / "coll", n_train=16, n_val=8))
    captions = [c for v in collection.split("train") for c in collection.captions[v]][:10]
    path = tmp_path / "negatives.json"
    path.write_text(json.dumps({"negatives": {c: [c.replace(" a ", " the other ", 1), "a box"] for c in captions}}))
    lines: list[str] = []
    result = train(collection, HGRConfig(dim_fts=collection.dim, dim_embed=16, dim_word=8, num_words=0),
                   tmp_path / "m.pt", TrainConfig(epochs=1, batch_size=8, glove=False, negatives=str(path)),
                   device="cpu", progress=False, log=lines.append)
    assert result.epochs_run == 1
    assert any(line.startswith(f"hard negatives from {path}: 10 of ") and "(20 in all)" in line for line in lines)
    assert hgr.load(tmp_path / "m.pt", device="cpu").card["train"]["negatives"] == str(path)

    for bad, says in ((tmp_path / "missing.json", "cannot read"), (tmp_path / "list.json", "not a hard-negatives"),
                      (tmp_path / "strings.json", "not a hard-negatives")):
        if bad.name == "list.json":
            bad.write_text("[1, 2]")
        elif bad.name == "strings.json":
            bad.write_text(json.dumps({"negatives": {"a dog": "a cat"}}))
        with pytest.raises(HGRError, match=says):
            read_negatives(bad)
