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
