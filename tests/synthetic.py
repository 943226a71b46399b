"""A small synthetic collection for training tests: frame features are a noisy sum of the vectors of the
caption's actor, action and object, so a model can learn the mapping within a few epochs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hgr.collection import CollectionWriter

ACTORS = ["dog", "cat", "man", "woman", "bird", "horse"]
ACTIONS = ["chasing", "pushing", "carrying", "kicking"]
OBJECTS = ["ball", "box", "car", "tree"]


def role_graph(actor: str, action: str, obj: str, article: str = "a") -> tuple[str, list]:
    words = f"{article} {actor} is {action} {article} {obj}".split()
    nodes = {"ROOT": {"role": "ROOT", "spans": list(range(6)), "words": words},
             "1": {"role": "V", "spans": [3], "words": [action]},
             "2": {"role": "ARG0", "spans": [0, 1], "words": words[:2]},
             "3": {"role": "ARG1", "spans": [4, 5], "words": words[4:]}}
    return " ".join(words), [nodes, [["1", "2", "ARG0"], ["1", "3", "ARG1"]]]


def build(root: Path, n_train: int = 60, n_val: int = 20, dim: int = 24, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    vectors = {w: rng.normal(size=dim) for w in ACTORS + ACTIONS + OBJECTS}
    captions, graphs, splits = {}, {}, {"train": [], "val": []}
    with CollectionWriter(root, extractor={"name": "synthetic"}, dim=dim, dtype="float32") as writer:
        for i in range(n_train + n_val):
            actor, action, obj = rng.choice(ACTORS), rng.choice(ACTIONS), rng.choice(OBJECTS)
            vid = f"video{i}"
            frames = np.stack([vectors[actor] + vectors[action] + vectors[obj] + rng.normal(size=dim)
                               for _ in range(int(rng.integers(3, 8)))]).astype(np.float32)
            writer.add(vid, frames)
            sentence, graph = role_graph(actor, action, obj)
            captions[vid] = [sentence]
            graphs[sentence] = graph
            splits["train" if i < n_train else "val"].append(vid)
        writer.set_captions(captions)
        writer.set_role_graphs(graphs)
        writer.set_splits(splits)
    return root


def build_official_root(root: Path, splits: dict[str, int] | None = None, dim: int = 24,
                        features_name: str = "resnet152.pth", seed: int = 0) -> Path:
    """A small official-layout data root (spec section 2) whose features carry the captions' content, as `build`'s:
    public_split/<split>_names.npy, ordered_feature/SA/<features_name>/<split>_ft.hdf5 (3 to 40 frames a video, so
    the 20-frame 'select' resampling is used), annotation/RET/ref_captions.json (two captions a video),
    sent2rolegraph.augment.json, and a vocabulary (int2word.npy, word2int.json) ordered unlike `Vocabulary.build`."""
    import json

    import h5py

    from hgr.collection import feature_key

    splits = splits or {"trn": 60, "val": 20, "tst": 10}
    rng = np.random.default_rng(seed)
    vectors = {w: rng.normal(size=dim) for w in ACTORS + ACTIONS + OBJECTS}
    ann = root / "annotation" / "RET"
    ann.mkdir(parents=True)
    (root / "public_split").mkdir()
    features_dir = root / "ordered_feature" / "SA" / features_name
    features_dir.mkdir(parents=True)
    captions, graphs, index = {}, {}, 0
    for split, count in splits.items():
        names = []
        with h5py.File(features_dir / f"{split}_ft.hdf5", "w") as f:
            for _ in range(count):
                actor, action, obj = rng.choice(ACTORS), rng.choice(ACTIONS), rng.choice(OBJECTS)
                name = f"video{index}"
                index += 1
                content = vectors[actor] + vectors[action] + vectors[obj]
                f[feature_key(name)] = np.stack([content + rng.normal(size=dim)
                                                 for _ in range(int(rng.integers(3, 41)))]).astype(np.float32)
                pairs = [role_graph(actor, action, obj, article) for article in ("a", "the")]
                captions[name] = [sentence for sentence, _ in pairs]
                graphs.update(pairs)
                names.append(name)
        np.save(root / "public_split" / f"{split}_names.npy", np.array(names))
    words = ["<BOS>", "<EOS>", "<UNK>"] + sorted({w for c in graphs for w in c.split()} | {"unused"})
    np.save(ann / "int2word.npy", np.array(words))
    (ann / "word2int.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    (ann / "ref_captions.json").write_text(json.dumps(captions))
    (ann / "sent2rolegraph.augment.json").write_text(json.dumps(graphs))
    return root


def untrained_checkpoint(collection):
    """An untrained small HGR (seed 0, two graph layers) with the vocabulary of `collection`'s captions."""
    import torch

    import hgr
    from hgr.vocab import Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build(c for caps in collection.captions.values() for c in caps)
    cfg = hgr.HGRConfig(dim_fts=collection.dim, dim_embed=32, dim_word=8, num_words=len(vocab), gcn_layers=2)
    return hgr.Checkpoint(hgr.HGR(cfg).eval(), vocab)


def searcher_world(folder: Path):
    """The Searcher tests' world: a 200-video synthetic collection (150 train, 50 val) under `folder` and an
    untrained checkpoint for it."""
    from hgr.collection import Collection

    collection = Collection.open(build(folder / "coll", n_train=150, n_val=50))
    return collection, untrained_checkpoint(collection)


def searcher(world, video_ids=None, checkpoint=None, **kw):
    """A Searcher over a `searcher_world` collection's videos (or `video_ids`), 64 to a batch; `checkpoint` in
    place of the world's (the same config), `kw` as Searcher takes them."""
    from hgr.evaluate import graph_lookup
    from hgr.inputs import collection_inputs
    from hgr.search import Searcher

    collection, ckpt = world
    return Searcher(checkpoint or ckpt, collection_inputs(collection, ckpt.config), video_ids or collection.video_ids,
                    graph_lookup(collection.role_graphs), batch_size=64, **kw)
