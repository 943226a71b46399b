"""Hostile model files and collections: each is refused with an hgr.errors class that names the file, and
nothing is half-loaded.

Already covered elsewhere (not repeated here): a malicious pickle in our format is refused and never runs, missing
and mis-shaped tensors are named, truncated and foreign checkpoints (tests/test_checkpoint.py); `hgr serve` with a
checkpoint for 24-d features against a 1280-d collection (tests/test_app.py::test_refuses_bad_paths_and_mismatched_
checkpoint); a manifest whose dim disagrees with features.h5, captions for unknown videos, a missing features.h5
(tests/test_collection.py::test_validation_errors_name_problem_and_file); a torn done.log line
(tests/test_collection.py::test_staged_videos_are_part_of_the_collection_before_commit).
"""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import hgr
from hgr import checkpoint
from hgr.collection import Collection
from hgr.errors import CheckpointError, CollectionError
from hgr.model import HGR, HGRConfig
from hgr.vocab import Vocabulary
from tests.synthetic import build
from tests.test_checkpoint import Payload


def tiny() -> tuple[HGR, Vocabulary]:
    vocab = Vocabulary(["<BOS>", "<EOS>", "<UNK>", "a", "dog"])
    return HGR(HGRConfig(dim_fts=8, dim_embed=12, num_words=5, dim_word=4, gcn_layers=2)), vocab


def official_state(model: HGR) -> dict:
    state = model.state_dict()
    return {part: {k[len(part) + 1:]: v for k, v in state.items() if k.startswith(part + ".")}
            for part in ("video_encoder", "text_encoder")}


# ------------------------------------------------------------------------------------------------ checkpoints
def test_malicious_pickle_in_the_official_format_is_refused_and_never_runs(tmp_path):
    model, vocab = tiny()
    np.save(tmp_path / "int2word.npy", np.array(vocab.words))
    marker = tmp_path / "ran"
    evil = {**official_state(model), "payload": Payload(marker)}
    torch.save(evil, tmp_path / "zip.pth")
    with open(tmp_path / "plain.pth", "wb") as f:
        pickle.dump(evil, f, protocol=2)
    for name in ("zip.pth", "plain.pth"):
        with pytest.raises(CheckpointError, match="refused to load"):
            hgr.load_official(tmp_path / name, tmp_path / "int2word.npy", device="cpu")
    assert not marker.exists()
    torch.save(official_state(model), tmp_path / "good.pth")                 # the same file, minus the payload
    assert hgr.load_official(tmp_path / "good.pth", tmp_path / "int2word.npy", device="cpu").config.dim_fts == 8


def _broken(obj: dict, change: str) -> dict:
    sd = obj["state_dict"]
    if change == "tensor is a number":
        sd["video_encoder.ft_attn.bias"] = 3
    elif change == "weights are a list":
        obj["state_dict"] = [1, 2]
    elif change == "dim is text":
        obj["config"]["dim_fts"] = "abc"
    elif change == "dim is negative":
        obj["config"]["dim_fts"] = -3
    elif change == "vocabulary is text":
        obj["vocab"] = "abcde"
    elif change == "vocabulary of numbers":
        obj["vocab"] = [1, 2, 3, 4, 5]
    elif change == "card is a list":
        obj["card"] = [1]
    elif change == "version is text":
        obj["version"] = "9"
    elif change == "NaN weights":
        sd["text_encoder.embedding.we.weight"][0, 0] = float("nan")
    elif change == "infinite weights":
        sd["video_encoder.ft_attn.bias"].fill_(float("inf"))
    return obj


@pytest.mark.parametrize("change, message", [
    ("tensor is a number", "not tensors: video_encoder.ft_attn.bias"), ("weights are a list", "not a dictionary"),
    ("dim is text", "invalid config"), ("dim is negative", "invalid config"),
    ("vocabulary is text", "vocabulary must be a list"), ("vocabulary of numbers", "vocabulary must be a list"),
    ("card is a list", "model card must be a dictionary"), ("version is text", "version '9' is not a number"),
    ("NaN weights", "NaN or infinite.*embedding.we.weight"), ("infinite weights", "NaN or infinite.*ft_attn.bias"),
])
def test_damaged_checkpoint_fields_are_clear_errors(tmp_path, change, message):
    model, vocab = tiny()
    path = checkpoint.save(tmp_path / "m.pt", model, vocab)
    torch.save(_broken(torch.load(path, weights_only=True), change), path)
    with pytest.raises(CheckpointError, match=message) as err:
        hgr.load(path, device="cpu")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("change", ["missing", "misshaped", "not a tensor", "not a dict"])
def test_damaged_official_checkpoint_is_a_clear_error(tmp_path, change):
    model, vocab = tiny()
    np.save(tmp_path / "int2word.npy", np.array(vocab.words))
    state = official_state(model)
    if change == "missing":
        del state["text_encoder"]["role_embedding.weight"]
    elif change == "misshaped":
        state["video_encoder"]["ft_attn.bias"] = torch.zeros(7)
    elif change == "not a tensor":
        state["video_encoder"]["level_embeds.0.weight"] = "weights"
    else:
        state["text_encoder"] = [1, 2, 3]
    torch.save(state, tmp_path / "off.pth")
    with pytest.raises(CheckpointError):
        hgr.load_official(tmp_path / "off.pth", tmp_path / "int2word.npy", device="cpu")


def test_a_refused_state_leaves_the_model_untouched(tmp_path):
    """Nothing half-loaded: every name, shape and value is checked before the first tensor is copied."""
    model, _ = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    good = {k: torch.full_like(v, 0.5) for k, v in before.items()}
    for bad in ({**good, "video_encoder.ft_attn.bias": torch.zeros(99)},                # mis-shaped, listed last
                {k: v for k, v in good.items() if k != "text_encoder.role_embedding.weight"},
                {**good, "text_encoder.role_embedding.weight": torch.full_like(good["text_encoder.role_embedding."
                                                                                    "weight"], float("nan"))}):
        with pytest.raises(CheckpointError):
            checkpoint._load_weights(model, bad, tmp_path / "x.pt")
        for k, v in model.state_dict().items():
            assert torch.equal(v, before[k]), f"{k} was changed by a refused load"


def test_checkpoint_for_another_feature_dimension(tmp_path, capsys):
    """The search CLI and DemoService refuse it and name the collection's features file (serve: test_app)."""
    from hgr.app.service import DemoService
    from hgr.cli import main

    coll_dir = build(tmp_path / "c", n_train=6, n_val=2, dim=24)
    model = HGR(HGRConfig(dim_fts=16, dim_embed=12, num_words=5, dim_word=4))
    path = checkpoint.save(tmp_path / "m16.pt", model, Vocabulary(["<BOS>", "<EOS>", "<UNK>", "a", "dog"]))
    with Collection.open(coll_dir) as coll, pytest.raises(CollectionError, match=r"16-d.*24-d.*features\.h5"):
        DemoService(coll, hgr.load(path, device="cpu"))
    assert main(["search", "a dog", "--collection", str(coll_dir), "--checkpoint", str(path), "--device", "cpu"]) == 2
    assert "expects 16-d frame features" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ collections
@pytest.fixture(scope="module")
def good_collection(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("coll") / "c", n_train=6, n_val=2, dim=8)


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _damage_datasets(path: Path) -> None:
    """Overwrite the second half of features.h5 (dataset headers and chunks), keeping the superblock."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2:-64] = b"\xff" * (len(data) // 2 - 64 + len(data) % 2)
    path.write_bytes(bytes(data))


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


DAMAGE = {  # what is done to a good collection -> (the file the error must name, a phrase of the message)
    "features.h5 truncated": (lambda r: _cut(r / "features.h5", 3000), "features.h5", "cannot be opened as HDF5"),
    "features.h5 random bytes": (lambda r: (r / "features.h5").write_bytes(np.random.default_rng(0).bytes(5000)),
                                 "features.h5", "cannot be opened as HDF5"),
    "features.h5 datasets damaged": (lambda r: _damage_datasets(r / "features.h5"), "features.h5",
                                     "damaged|cannot be read"),
    "manifest dim is text": (lambda r: _edit_json(r / "collection.json", dim="1280"), "collection.json",
                             "dim must be a positive whole number"),
    "manifest dim is 0": (lambda r: _edit_json(r / "collection.json", dim=0), "collection.json", "positive"),
    "manifest frame_counts is a list": (lambda r: _edit_json(r / "collection.json", frame_counts=["video0"]),
                                        "collection.json", "frame_counts must map"),
    "manifest lists a video features.h5 lacks": (
        lambda r: _edit_json(r / "collection.json", frame_counts={
            **json.loads((r / "collection.json").read_text())["frame_counts"], "ghost": 3}),
        "features.h5", "holds 8 videos but .*collection.json lists 9"),
    "manifest splits is a list": (lambda r: _edit_json(r / "collection.json", splits=["train"]), "collection.json",
                                  "splits must map"),
    "manifest truncated": (lambda r: _cut(r / "collection.json", 50), "collection.json", "not valid JSON"),
    "captions truncated": (lambda r: _cut(r / "captions.json", 50), "captions.json", "not valid JSON"),
    "captions for an unknown video": (lambda r: _edit_json(r / "captions.json", ghost=["a dog is running"]),
                                      "captions.json", "unknown video 'ghost'"),
    "role graph is not [nodes, edges]": (lambda r: _edit_json(r / "sent2rolegraph.json", **{"a dog": "evil"}),
                                         "sent2rolegraph.json", "not \\[graph_nodes, graph_edges\\]"),
    "done.log entry without a file": (lambda r: ((r / "staging").mkdir(exist_ok=True),
                                                 (r / "staging" / "done.log").write_text('{"id": "x"}\n')),
                                      "done.log", "damaged entry"),
}


def _use(root: Path) -> None:
    """What a search does with a collection: open it, read every video's features, its captions and graphs."""
    with Collection.open(root) as coll:
        for vid in coll.video_ids:
            coll.features(vid)
        _ = coll.captions, coll.role_graphs


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_collection_is_a_clear_error_naming_the_file(good_collection, tmp_path, damage):
    root = tmp_path / "c"
    shutil.copytree(good_collection, root)
    _use(root)                                                         # the copy is fine before the damage
    apply, file, phrase = DAMAGE[damage]
    apply(root)
    with pytest.raises(CollectionError, match=phrase) as err:
        _use(root)
    assert file in str(err.value)


def test_damaged_collection_through_the_cli_is_one_line(good_collection, tmp_path, capsys):
    """`hgr search` on a damaged collection exits 2 with the message, never a traceback."""
    from hgr.cli import main

    model, vocab = tiny()
    ckpt = checkpoint.save(tmp_path / "m.pt", model, vocab)
    for damage in ("features.h5 datasets damaged", "role graph is not [nodes, edges]", "captions for an unknown video"):
        root = tmp_path / damage.replace(" ", "-")
        shutil.copytree(good_collection, root)
        DAMAGE[damage][0](root)
        code = main(["search", "a dog is running", "--collection", str(root), "--checkpoint", str(ckpt),
                     "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == 2 and DAMAGE[damage][1] in err and "Traceback" not in err, (damage, err)


@pytest.mark.parametrize("damage", ["a list", "a tensor missing", "tensors for other videos"])
def test_damaged_search_cache_is_rebuilt(tmp_path, damage):
    """The encoded-collection cache (collection/cache/) is derived data: damaged, it is rebuilt, never a crash."""
    from hgr.app.service import DemoService
    from hgr.search import index_cache_path

    root = build(tmp_path / "c", n_train=6, n_val=2, dim=8)
    model, vocab = tiny()
    ckpt = hgr.load(checkpoint.save(tmp_path / "m.pt", model, vocab), device="cpu")
    with Collection.open(root) as coll:
        want = DemoService(coll, ckpt).search("a dog is chasing a ball", 3)
        cache = index_cache_path(coll, ckpt)
        assert cache.is_file()
        obj = torch.load(cache, weights_only=True)
        if damage == "a list":
            obj = [1, 2]
        elif damage == "a tensor missing":
            del obj["tensors"]["event"]
        else:
            obj["tensors"] = {k: v[:2] for k, v in obj["tensors"].items()}
        torch.save(obj, cache)
        assert DemoService(coll, ckpt).search("a dog is chasing a ball", 3) == want
