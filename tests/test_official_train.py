"""Issue 20: training on the official release in place (`hgr train --official-root`), resuming after a kill, our
checkpoint read by `hgr evaluate`/`hgr serve --official-root`, and the recipe from release features to your own
videos: index them with an extractor that fits the checkpoint, search them, and a refusal when it does not fit."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import hgr
from hgr.cli import main
from hgr.collection import Collection, CollectionWriter
from hgr.errors import CollectionError, HGRError
from hgr.graph import graph_lookup
from hgr.train import validate
from tests import synthetic

REPO = Path(__file__).resolve().parents[1]
SMALL = {"dim_embed": 32, "dim_word": 16}      # the official preset's architecture (bi-GRU, 1 attention GCN layer)


def train_args(root: Path, out: Path, config: Path, epochs: int, features_name: str = "resnet152.pth") -> list[str]:
    config.write_text(json.dumps(SMALL))
    return ["train", "--official-root", str(root), "--features-name", features_name, "--preset", "official",
            "--config", str(config), "--epochs", str(epochs), "--batch-size", "16", "--lr", "3e-3", "--out",
            str(out), "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A small official-layout root and a model trained on it for two epochs with `hgr train --official-root`."""
    work = tmp_path_factory.mktemp("release")
    root = synthetic.build_official_root(work / "root")
    words = len(json.loads((root / "annotation" / "RET" / "word2int.json").read_text()))
    glove = root / "results" / "RET" / "word_embeds.glove32b.th"     # the release's word init, as it ships
    glove.parent.mkdir(parents=True)
    torch.save({"text_encoder": {"embedding.we.weight": torch.randn(words, SMALL["dim_word"]) * 0.3}}, glove)
    out = work / "model.pt"
    assert main(train_args(root, out, work / "small.json", epochs=2)) == 0
    return root, out


def test_two_epochs_on_the_release_beat_an_untrained_model(trained):
    root, out = trained
    best = hgr.load(out, device="cpu")
    release = best.card["release"]
    assert release["splits"] == {"train": "trn", "val": "val"} and release["videos"] == {"trn": 60, "val": 20}
    assert release["extractor"] == "resnet152" and release["vocabulary"] == "annotation/RET/word2int.json"
    assert release["word_embeddings"] == "results/RET/word_embeds.glove32b.th"
    assert release["role_graphs"] == "annotation/RET/sent2rolegraph.augment.json"
    assert best.card["features"]["extractor"] == "resnet152" and best.card["features"]["dim"] == 24
    words = json.loads((root / "annotation" / "RET" / "word2int.json").read_text())
    assert best.vocab.index == words                        # the release's vocabulary, not one rebuilt from captions
    assert (best.config.rnn_type, best.config.gcn_layers, best.config.margin) == ("gru", 1, 0.2)
    assert best.card["train"]["max_val_captions"] == 0      # the official protocol: every val caption
    history = hgr.load(out.with_suffix(".last.pt"), device="cpu").extra["train_state"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]

    collection = Collection.from_official(root, ["trn", "val"])
    val = collection.split("val")
    frames = {v: collection.frame_features(v)[0] for v in val}
    graphs = graph_lookup(collection.role_graphs)
    untrained = hgr.Checkpoint(hgr.HGR(best.config).eval(), best.vocab)
    before = validate(untrained, collection, val, frames, graphs, 0)["rsum"]
    after = validate(best, collection, val, frames, graphs, 0)["rsum"]
    assert after == pytest.approx(best.card["val"]["rsum"]) and after > before + 100, (before, after)


def test_evaluate_and_serve_take_our_checkpoint_with_the_official_root(trained, tmp_path, capsys):
    from hgr.app.server import add_data_arguments, load_service
    from hgr.app.views import about_markdown

    root, out = trained
    report = tmp_path / "val.json"
    assert main(["evaluate", "--official-root", str(root), "--checkpoint", str(out), "--split", "val", "--json",
                 str(report), "--device", "cpu"]) == 0
    assert json.loads(report.read_text())["rsum"] == pytest.approx(hgr.load(out).card["val"]["rsum"])
    assert main(["evaluate", "--official-root", str(root), "--checkpoint", str(out), "--official-checkpoint",
                 str(out)]) == 2
    assert "needs one checkpoint" in capsys.readouterr().err

    import argparse
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    args = parser.parse_args(["--official-root", str(root), "--checkpoint", str(out), "--device", "cpu"])
    service = load_service(args)
    assert len(service.video_ids) == 10                     # the tst split
    top = service.search("a dog is chasing a ball", top_k=3)["results"]
    assert len(top) == 3
    about = about_markdown(service)
    assert "release" in about and "trn" in about and "word2int.json" in about


def test_a_killed_training_run_resumes_from_its_last_epoch(trained, tmp_path, capsys):
    root = trained[0]
    out = tmp_path / "model.pt"
    cmd = [sys.executable, "-m", "hgr", *train_args(root, out, tmp_path / "small.json", epochs=50)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    for line in proc.stdout:                               # killed once epoch 1 is saved, somewhere in epoch 2+
        if line.startswith("epoch 1:") or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    saved = hgr.load(out.with_suffix(".last.pt"), device="cpu").extra["train_state"]
    done = saved["epoch"]
    assert done >= 1 and [h["epoch"] for h in saved["history"]] == list(range(1, done + 1))

    capsys.readouterr()
    assert main(train_args(root, out, tmp_path / "small.json", epochs=done + 1)) == 0
    assert f"resuming from {out.with_suffix('.last.pt')} after epoch {done}" in capsys.readouterr().out
    history = hgr.load(out.with_suffix(".last.pt"), device="cpu").extra["train_state"]["history"]
    assert [h["epoch"] for h in history] == list(range(1, done + 2))
    assert history[:done] == saved["history"]              # the epochs before the kill are kept, not rerun


def test_recipe_release_features_to_your_own_videos(tmp_path):
    """Train on release features of an extractor we have, index a folder of clips with it, search them; a
    collection of other features (extractor or preprocessing) is refused with a message that says what to do."""
    from hgr.app.service import DemoService
    from hgr.app.views import about_markdown
    from hgr.features import EXTRACTORS
    from hgr.indexer import index_videos
    from tests.appfixture import write_clip

    name = "efficientnet-lite0"                  # the only extractor whose weights ship with a package
    dim = EXTRACTORS[name].dim
    root = synthetic.build_official_root(tmp_path / "root", {"trn": 24, "val": 8}, dim=dim, features_name=name)
    out = tmp_path / "model.pt"
    assert main(train_args(root, out, tmp_path / "small.json", epochs=1, features_name=name)) == 0
    ckpt = hgr.load(out, device="cpu")
    assert ckpt.card["features"]["extractor"] == name and ckpt.card["release"]["preprocessing"] == "as hgr's extractor"

    videos = tmp_path / "my_videos"
    for i, (fg, bg, shape) in enumerate([((255, 0, 0), (0, 0, 0), "square"), ((0, 0, 255), (255, 255, 255), "ball"),
                                         ((0, 255, 0), (255, 255, 0), "bar")]):
        write_clip(videos / f"clip{i}.mp4", fg, bg, shape, seconds=1.0)
    report = index_videos(videos, tmp_path / "mine", extractor=name, every=4, device="cpu", progress=False)
    assert len(report.indexed) == 3 and not report.failed
    mine = Collection.open(tmp_path / "mine")
    service = DemoService(mine, ckpt)
    results = service.search("a dog is chasing a ball", top_k=3)["results"]
    assert sorted(r["video_id"] for r in results) == ["clip0", "clip1", "clip2"]
    assert "release" in about_markdown(service)

    other = dict(mine.manifest["extractor"], preprocessing=dict(mine.manifest["extractor"]["preprocessing"], crop=192))
    for extractor, says in ((other, "preprocessing crop 224 vs 192"), ({"name": "resnet152"}, f"extractor {name} vs "
                                                                                                "resnet152")):
        folder = tmp_path / f"other-{len(says)}"
        with CollectionWriter(folder, extractor=extractor, dim=dim, dtype="float32") as writer:
            writer.add("clip0", np.ones((3, dim), np.float32))
        with pytest.raises(CollectionError, match=says) as err, Collection.open(folder) as coll:
            DemoService(coll, ckpt)
        assert "hgr index VIDEOS --out DIR --extractor efficientnet-lite0" in str(err.value)


def test_captions_file_to_a_collection_that_trains(tmp_path):
    """A user's CSV of captions becomes the collection's captions.json, role graphs (hgr parse's parser, recorded)
    and splits; JSON works the same, and a file naming no video is refused."""
    from hgr.collection.captions import add_captions, read_captions
    from hgr.parsing import parser_id
    from hgr.train import TrainConfig, train

    folder = synthetic.build(tmp_path / "coll", n_train=16, n_val=4)
    with Collection.open(folder) as coll:
        truth = {v: caps[0] for v, caps in coll.captions.items()}
    rows = ["video,caption"] + [f"{v}.mp4,\"{c.replace('a ', 'A ', 1)}!\"" for v, c in truth.items()]
    (tmp_path / "caps.csv").write_text("\n".join(rows + ["elsewhere.mp4,a cat"]) + "\n")
    assert read_captions(tmp_path / "caps.csv")["video0.mp4"] == [truth["video0"].replace("a ", "A ", 1) + "!"]
    assert main(["captions", str(tmp_path / "caps.csv"), "--collection", str(folder), "--val", "0.2", "--test",
                 "0.1"]) == 0
    with Collection.open(folder) as coll:
        assert coll.captions == {v: [c] for v, c in truth.items()}            # normalised: the words the graph reads
        assert set(coll.role_graphs) == set(truth.values()) and coll.manifest["parser"] == parser_id()
        assert {k: len(v) for k, v in coll.splits.items()} == {"all": 20, "train": 14, "val": 4, "test": 2}
        result = train(coll, hgr.HGRConfig(dim_fts=coll.dim, dim_embed=16, dim_word=8, num_words=0),
                       tmp_path / "m.pt", TrainConfig(epochs=1, batch_size=8, glove=False), device="cpu",
                       progress=False)
        assert result.epochs_run == 1

    (tmp_path / "caps.json").write_text(json.dumps({"video0": ["a horse is kicking a tree"]}))
    assert main(["captions", str(tmp_path / "caps.json"), "--collection", str(folder), "--keep-splits"]) == 0
    with Collection.open(folder) as coll:
        assert coll.captions["video0"] == ["a horse is kicking a tree"] and len(coll.captions) == 20
        assert "a horse is kicking a tree" in coll.role_graphs and len(coll.splits["train"]) == 14
    (tmp_path / "none.json").write_text(json.dumps({"nobody": ["a cat"]}))
    with pytest.raises(HGRError, match="no caption names a video"):
        add_captions(folder, read_captions(tmp_path / "none.json"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_the_release_runs_on_a_gpu(tmp_path):
    """`--device auto` trains on the GPU when there is one; the checkpoint then loads and scores on the CPU."""
    root = synthetic.build_official_root(tmp_path / "root", {"trn": 32, "val": 8})
    out = tmp_path / "model.pt"
    args = train_args(root, out, tmp_path / "small.json", epochs=1)
    torch.cuda.reset_peak_memory_stats()
    assert main([a if a != "cpu" else "auto" for a in args]) == 0
    assert torch.cuda.max_memory_allocated() > 0                     # the model and its batches were on the GPU
    state = hgr.load(out.with_suffix(".last.pt"), device="cpu").extra["train_state"]
    assert state["optimizer"]["state"] and state["history"][0]["val_rsum"] > 0
    assert main(["evaluate", "--official-root", str(root), "--checkpoint", str(out), "--split", "val",
                 "--device", "cpu"]) == 0
