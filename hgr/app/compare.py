"""Asking the model why, for the app: two captions on one clip (which wins at each level, and which nodes made the
difference), a re-ranking against a previous query (rank changes and per-level deltas), and similar clips.

Each function takes the `DemoService` and returns the API's JSON (docs/api.md: /compare, /search with `graph` and
`previous`, /similar); `DemoService.compare`, `.search` and `.similar` call them. The scoring is the model's own
(`model.score`, `local_attentive_matching`), so a pair scores here what it scores in `hgr evaluate`.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hgr.app.service import attention_json, graph_json
from hgr.errors import HGRError
from hgr.graph_edit import differing_nodes
from hgr.model import LEVELS, TextEmbedding, VideoIndex
from hgr.model.matching import local_attentive_matching
from hgr.search import select_captions, trace_of
from hgr.similar import encode_clip

if TYPE_CHECKING:
    from hgr.app.service import DemoService, Prepared
    from hgr.demo_world.world import World

CAPTIONS = ("a", "b")     # the two sides of a comparison, in the JSON's order


def node_scores(model, index: VideoIndex, text: TextEmbedding) -> dict[str, torch.Tensor]:
    """Each action and entity node's own similarity r_i = cos(u_i, c_i) of Eq. 12 with each video:
    {"action": [Bv, Bc, num_verbs], "entity": [Bv, Bc, num_nouns]}, 0 in empty slots. A level's score is their mean
    over the caption's nodes (their sum with `phrase_pooling='sum'`). Each node is scored as a one-node caption by
    the model's own `local_attentive_matching`."""
    out = {}
    for level, stats, phrases, valid in (("action", index.actions, text.actions, text.action_valid),
                                         ("entity", index.entities, text.entities, text.entity_valid)):
        captions, slots, dim = phrases.shape
        one_each, _ = local_attentive_matching(stats, phrases.reshape(captions * slots, 1, dim),
                                               valid.reshape(captions * slots, 1), model.cfg.sigma)
        out[level] = one_each.view(-1, captions, slots)                            # [Bv, Bc, slots]
    return out


def node_json(per_node: dict[str, torch.Tensor], video: int, caption: int, inputs, pooling: str) -> dict[str, dict]:
    """{node id: {"level", "score": r_i, "contribution": its share of the level score}} for one (video, caption)."""
    out = {}
    for level, names in (("action", inputs.verb_nodes), ("entity", inputs.noun_nodes)):
        scores = per_node[level][video, caption, :len(names)].tolist()
        for name, score in zip(names, scores):
            share = score / len(names) if pooling == "mean" else score
            out[name] = {"level": level, "score": round(score, 4), "contribution": round(share, 4)}
    return out


def _round(x) -> float:
    return round(float(x), 4)


# ------------------------------------------------------------------------------------------------------ the clip
def clip_index(service: DemoService, video=None, video_id: str | None = None) -> tuple[VideoIndex, dict]:
    """The one clip a comparison or a similar-clips query is about: a collection video or an uploaded file.

    Returns its encoded video side [1 video] and {"video_id" (None for an upload), "clip" (a name to show),
    "frames", "row" (its row in the collection's index, or None), "familiarity" (how like the collection's clips
    it is, `DemoService.clip_familiarity`: a collection video against the others)}.
    """
    if bool(video) == bool(video_id):
        raise HGRError("give one clip: a collection video id (video_id) or an uploaded file (video), not "
                       + ("both" if video else "neither"))
    if video_id:
        row = service.video_row(video_id)
        index = service.searcher.index[[row]]
        name, familiarity = video_id, service.clip_familiarity(service.frame_features(video_id), video_id)
    else:
        features = service.clip_features(video)
        index = encode_clip(service.checkpoint.model, features)
        row, name, familiarity = None, Path(video).name, service.clip_familiarity(features)
    frames = int(index.actions.mask.sum())
    return index, {"video_id": video_id or None, "clip": name, "frames": frames, "row": row,
                   "familiarity": familiarity}


# ------------------------------------------------------------------------------------------------------ compare
@functools.cache
def _world(root: Path) -> World | None:
    from hgr.demo_world.world import load_world

    return load_world(root) if (root / "world.json").is_file() else None


def demo_world(service: DemoService) -> World | None:
    """The demo world the collection was rendered from, when it has one (world.json beside it)."""
    root = service.collection.root
    return _world(Path(root).resolve()) if root is not None else None


def perturbations(service: DemoService, video_id: str, caption: str | None = None) -> dict:
    """For a demo-world clip: a true caption and one false caption per Table 6 perturbation that applies to it."""
    world = demo_world(service)
    if world is None or video_id not in world.clips:
        raise HGRError(f"{video_id!r} is not a clip of a demo world, so there is no ground truth to perturb; type "
                       "both captions instead")
    from hgr.demo_world.binary_selection import clip_perturbations

    true, false = clip_perturbations(world, video_id, caption)
    return {"video_id": video_id, "true": true, "perturbations": false}


def _truths(service: DemoService, video_id: str | None, texts: list[str]) -> list[bool | None]:
    """Whether each caption is true of a demo-world clip: True for its own captions, False for a perturbation of
    one of them, None when unknown (not a demo-world clip, or a caption the world did not make)."""
    world = demo_world(service)
    if world is None or video_id not in (world.clips if world else {}):
        return [None] * len(texts)
    own = set(world.captions.get(video_id, []))
    from hgr.demo_world.binary_selection import clip_perturbations

    false = {f for t in texts if t in own for f in clip_perturbations(world, video_id, t)[1].values()}
    return [True if t in own else False if t in false else None for t in texts]


def compare(service: DemoService, caption_a: str, caption_b: str, video=None, video_id: str | None = None) -> dict:
    """Two captions scored against one clip at every level: the winner and margin per level, each caption's graph
    (with the nodes the other lacks), per-node scores and frame alignment; for a demo-world clip, which is true."""
    index, clip = clip_index(service, video, video_id)
    prepared = [service.prepare(c) for c in (caption_a, caption_b)]
    encoded = service.searcher.encode_captions([p.text for p in prepared], graphs=[p.graph.to_json() for p in prepared])
    model = service.checkpoint.model
    with torch.no_grad():
        scores = model.score(index, encoded.text, alignment=True)                # [1 video, 2 captions]
        per_node = node_scores(model, index, encoded.text)
    only = differing_nodes(prepared[0].graph, prepared[1].graph)
    truths = _truths(service, clip["video_id"], [p.text for p in prepared])
    frames = clip["frames"]
    sides = []
    for j, p in enumerate(prepared):
        inputs = encoded.inputs[j]
        graph = graph_json(p.graph, inputs, model.cfg.num_verbs)
        ids, attention = attention_json(trace_of(encoded, j, p.text), graph)
        alignment = {}
        if scores.action_alignment is not None:
            alignment = {name: np.round(scores.action_alignment[0, j, k, :frames].cpu().numpy(), 4).tolist()
                         for k, name in enumerate(inputs.verb_nodes)}
            alignment.update({name: np.round(scores.entity_alignment[0, j, k, :frames].cpu().numpy(), 4).tolist()
                              for k, name in enumerate(inputs.noun_nodes)})
        sides.append({"caption": p.text, "scores": {lv: _round(scores.level(lv)[0, j]) for lv in LEVELS},
                      "graph": graph, "attention_nodes": ids, "attention": attention,
                      "nodes": node_json(per_node, 0, j, inputs, model.cfg.phrase_pooling),
                      "differs": only[j], "alignment": alignment, "true": truths[j], "warnings": p.warnings})
    winner, margin = {}, {}
    for level in LEVELS:
        a, b = (float(scores.level(level)[0, j]) for j in (0, 1))
        winner[level] = "a" if a > b else "b" if b > a else "tie"
        margin[level] = _round(a - b)
    return {"video_id": clip["video_id"], "clip": clip["clip"], "frames": frames, "a": sides[0], "b": sides[1],
            "winner": winner, "margin": margin, "familiarity": clip["familiarity"]}


# ------------------------------------------------------------------------------------------------------ re-rank
def previous_ranks(service: DemoService, text: TextEmbedding) -> dict[int, int]:
    """Row -> rank (1 = best) of every video the previous query ranked, the way search ranks: every video when the
    collection is searched exactly, the two-stage pool otherwise (a video outside it has no previous rank)."""
    searcher, pool = service.searcher, service.plan.pool
    with torch.no_grad():
        if pool is None or pool >= len(service.video_ids):
            fused = torch.from_numpy(searcher.score_encoded(text)["fused"][:, 0])
            order = torch.argsort(fused, descending=True, stable=True)
        else:
            order = searcher.two_stage(text, pool, pool)
    return {row: rank for rank, row in enumerate(order.tolist(), start=1)}


def rank_changes(service: DemoService, answer: dict, previous: Prepared) -> None:
    """Add to a /search answer how each result moved against the `previous` query: its previous rank, the change
    (positive = up), whether it is new to the top k, its previous scores and per-level deltas; and the videos that
    left the top k (with where they are now)."""
    prev = service.searcher.encode_captions([previous.text], graphs=[previous.graph.to_json()]).text
    ranks = previous_ranks(service, prev)
    results = answer["results"]
    rows = torch.tensor([service.video_row(r["video_id"]) for r in results], dtype=torch.long)
    with torch.no_grad():
        before = service.checkpoint.model.score(service.searcher.index[rows.to(service.searcher.device)],
                                                select_captions(prev, slice(0, 1)))
    k = len(results)
    for i, r in enumerate(results):
        rank = ranks.get(int(rows[i]))
        old = {lv: _round(before.level(lv)[i, 0]) for lv in LEVELS}
        r["previous"] = {"rank": rank, "change": None if rank is None else rank - r["rank"],
                         "new": rank is None or rank > k, "scores": old,
                         "delta": {lv: _round(r["scores"][lv] - old[lv]) for lv in LEVELS}}
    shown = {r["video_id"] for r in results}
    left = [service.video_ids[row] for row, rank in sorted(ranks.items(), key=lambda x: x[1])
            if rank <= k and service.video_ids[row] not in shown]
    answer["previous"] = {"query": previous.text, "left": left}


# ------------------------------------------------------------------------------------------------------ similar
def similar(service: DemoService, k: int, video=None, video_id: str | None = None) -> dict:
    """The `k` clips of the collection most like one clip (`hgr.similar`): per-level scores, best first by fused
    score; a collection clip is left out of its own list."""
    index, clip = clip_index(service, video, video_id)
    rows, scores = service.similar_clips.rank(index, k, exclude=clip["row"])
    frames = service.searcher.index.actions.mask[rows].sum(1).tolist() if rows else []
    ids = [service.video_ids[row] for row in rows]
    results = [{"video_id": vid, "rank": i + 1, "description": service.describe(vid),
                "scores": {lv: _round(scores[lv][i]) for lv in LEVELS}, "frames": int(frames[i])}
               for i, vid in enumerate(ids)]
    return {"video_id": clip["video_id"], "clip": clip["clip"], "frames": clip["frames"], "results": results,
            "familiarity": clip["familiarity"]}
