"""A small synthetic collection for training tests: frame features are a noisy sum of the vectors of the
caption's actor, action and object, so a model can learn the mapping within a few epochs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hgr.collection import CollectionWriter

ACTORS = ["dog", "cat", "man", "woman", "bird", "horse"]
ACTIONS = ["chasing", "pushing", "carrying", "kicking"]
OBJECTS = ["ball", "box", "car", "tree"]


def role_graph(actor: str, action: str, obj: str) -> tuple[str, list]:
    words = f"a {actor} is {action} a {obj}".split()
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


def untrained_checkpoint(collection):
    """An untrained small HGR (seed 0, two graph layers) with the vocabulary of `collection`'s captions."""
    import torch

    import hgr
    from hgr.vocab import Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build(c for caps in collection.captions.values() for c in caps)
    cfg = hgr.HGRConfig(dim_fts=collection.dim, dim_embed=32, dim_word=8, num_words=len(vocab), gcn_layers=2)
    return hgr.Checkpoint(hgr.HGR(cfg).eval(), vocab)
