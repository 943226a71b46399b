"""Model inputs: a caption and its role graph -> node masks, roles and edges; frame features -> a padded batch.

Follows the official reader exactly (spec section 1 (c), section 2): verbs then arguments in the graph's JSON
order, first `num_verbs` V nodes and first `num_nouns` other nodes whose first word index is < max_words (and
that cover a word of the sentence at all: the official reader would give such a node a slot and an empty mask),
edges root->verb and verb<->argument, rel[target, source] row-normalised; words truncated to max_words and
padded with EOS.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hgr.model.config import ROLES, HGRConfig
from hgr.video_io import select_frames
from hgr.vocab import EOS, Vocabulary

_ROLE_IDS = {r: i for i, r in enumerate(ROLES)}
NOUN_ROLE = _ROLE_IDS["NOUN"]


def role_id(role: str) -> int:
    """Official role2int: R, 'C-'+R and 'R-'+R share R's id; anything else is NOUN."""
    base = role[2:] if role.startswith(("C-", "R-")) else role
    return _ROLE_IDS.get(base, NOUN_ROLE)


@dataclass
class CaptionInputs:
    """One caption ready for the text encoder (numpy, before batching)."""
    ids: np.ndarray          # [n] int64, n <= max_words
    verb_masks: np.ndarray   # [num_verbs, n] bool
    noun_masks: np.ndarray   # [num_nouns, n] bool
    node_roles: np.ndarray   # [num_verbs + num_nouns] int64, empty slots 0
    edges: np.ndarray        # [N, N] float32 rel[target, source], row-normalised; N = 1 + verbs + nouns
    verb_nodes: list[str]    # graph node names in the action slots (for the demo's labels)
    noun_nodes: list[str]    # graph node names in the entity slots


def caption_inputs(sentence: str, graph: Sequence, vocab: Vocabulary, cfg: HGRConfig) -> CaptionInputs:
    """`graph` is the official [graph_nodes, graph_edges] of `sentence` (an empty graph gives no nodes)."""
    tokens = sentence.split()[:cfg.max_words]
    n = max(len(tokens), 1)
    ids = np.full(n, EOS, dtype=np.int64)
    ids[:len(tokens)] = vocab.encode(tokens)
    nodes, edges_in = (graph[0], graph[1]) if graph else ({}, [])

    def mask_of(spans: Sequence[int]) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for w in spans:
            if 0 <= w < min(cfg.max_words, len(tokens)):
                mask[w] = True
        return mask

    def usable(node: dict) -> bool:
        """The official rule (first word index < max_words), and a word of the sentence to read: a node whose
        spans all lie past the sentence (a graph made for other text) would hold a slot with an empty mask."""
        return bool(node.get("spans")) and min(node["spans"]) < cfg.max_words and bool(mask_of(node["spans"]).any())

    verb_nodes = [k for k, v in nodes.items() if v.get("role") == "V" and usable(v)][:cfg.num_verbs]
    noun_nodes = [k for k, v in nodes.items() if v.get("role") not in ("ROOT", "V") and usable(v)][:cfg.num_nouns]
    verb_masks = np.zeros((cfg.num_verbs, n), dtype=bool)
    noun_masks = np.zeros((cfg.num_nouns, n), dtype=bool)
    node_roles = np.zeros(cfg.num_verbs + cfg.num_nouns, dtype=np.int64)
    rel = np.zeros((cfg.num_nodes, cfg.num_nodes), dtype=np.float32)
    slot = {}
    for k, name in enumerate(verb_nodes):
        verb_masks[k] = mask_of(nodes[name]["spans"])
        slot[name] = 1 + k
        rel[1 + k, 0] = 1                                            # event -> action
    for k, name in enumerate(noun_nodes):
        noun_masks[k] = mask_of(nodes[name]["spans"])
        node_roles[cfg.num_verbs + k] = role_id(nodes[name]["role"])
        slot[name] = 1 + cfg.num_verbs + k
    for v, a, *_ in edges_in:
        if v in slot and a in slot:
            rel[slot[a], slot[v]] = 1                                # action -> entity
            rel[slot[v], slot[a]] = 1                                # entity -> action
    rel = rel / np.maximum(rel.sum(1, keepdims=True), 1)
    return CaptionInputs(ids, verb_masks, noun_masks, node_roles, rel, verb_nodes, noun_nodes)


@dataclass
class CaptionBatch:
    ids: torch.Tensor         # [B, L] int64, EOS padded; L = longest caption in the batch
    lengths: torch.Tensor     # [B] int64
    verb_masks: torch.Tensor  # [B, num_verbs, L] bool
    noun_masks: torch.Tensor  # [B, num_nouns, L] bool
    node_roles: torch.Tensor  # [B, num_verbs + num_nouns] int64
    edges: torch.Tensor       # [B, N, N] float32

    def to(self, device: torch.device | str) -> CaptionBatch:
        return CaptionBatch(*(t.to(device) for t in (self.ids, self.lengths, self.verb_masks, self.noun_masks,
                                                      self.node_roles, self.edges)))

    def __len__(self) -> int:
        return self.ids.shape[0]


def collate_captions(items: Sequence[CaptionInputs]) -> CaptionBatch:
    length = max(len(c.ids) for c in items)
    ids = np.full((len(items), length), EOS, dtype=np.int64)
    verb = np.zeros((len(items), items[0].verb_masks.shape[0], length), dtype=bool)
    noun = np.zeros((len(items), items[0].noun_masks.shape[0], length), dtype=bool)
    for i, c in enumerate(items):
        n = len(c.ids)
        ids[i, :n], verb[i, :, :n], noun[i, :, :n] = c.ids, c.verb_masks, c.noun_masks
    return CaptionBatch(
        ids=torch.from_numpy(ids),
        lengths=torch.tensor([len(c.ids) for c in items], dtype=torch.int64),
        verb_masks=torch.from_numpy(verb), noun_masks=torch.from_numpy(noun),
        node_roles=torch.from_numpy(np.stack([c.node_roles for c in items])),
        edges=torch.from_numpy(np.stack([c.edges for c in items])))


def collate_frames(features: Sequence[np.ndarray], max_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Already-resampled per-video features [n_i, dim] -> zero-padded [B, F, dim] and lengths [B].

    F is the longest video in the batch (at most max_frames), as the official collate does.
    """
    lengths = [min(len(f), max_frames) for f in features]
    if min(lengths, default=1) < 1:
        raise ValueError("a video with no frame features cannot be encoded")
    width = max(lengths)
    out = np.zeros((len(features), width, features[0].shape[1]), dtype=np.float32)
    for i, (f, n) in enumerate(zip(features, lengths)):
        out[i, :n] = f[:n]
    return torch.from_numpy(out), torch.tensor(lengths, dtype=torch.int64)


def frame_inputs(features: np.ndarray, regions: np.ndarray | None, cfg: HGRConfig) -> np.ndarray:
    """One video's model input [n, frame_dim] from raw features [num_frames, dim] (+ regions [num_frames, cells,
    dim]): the official frame resampling, then each frame's region cells appended when the model uses them."""
    frames, n = select_frames(features, cfg.max_frames)
    if not cfg.num_regions:
        return frames
    if regions is None or regions.ndim != 3 or regions.shape[1] != cfg.num_regions:
        got = None if regions is None else regions.shape
        raise ValueError(f"this model needs {cfg.num_regions} region cells per frame, the video has {got}; "
                         "index the collection with --regions 1x2")
    cells, _ = select_frames(regions.reshape(len(regions), -1), cfg.max_frames)
    return np.concatenate([frames, cells], axis=1)


def collection_inputs(collection, cfg: HGRConfig):
    """`video_id -> model input` for a collection, after checking that its features fit `cfg`."""
    collection.check_dim(cfg.dim_fts, what="the model")

    def load(video_id: str) -> np.ndarray:
        regions = collection.region_features(video_id) if cfg.num_regions else None
        return frame_inputs(collection.features(video_id), regions, cfg)
    return load
