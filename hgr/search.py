"""Exact HGR ranking of a collection: the one scoring path shared by evaluation, the CLI and the app.

The video side is encoded once (`VideoIndex`: event vectors, action/entity frame embeddings with their norms
and Gram matrices); captions are encoded in batches and scored against every video in chunks. Large collections
use two-stage search: a FAISS index over one key per video (`video_keys`: Eq. 13 with the attention of Eq. 12
made uniform) gives a pool, which the exact fused score re-ranks; `Searcher.choose_pool` sizes the pool from
recall measured against exact ranking. `plan_search` picks exact or two-stage for a collection (the app and
`hgr search` use it), `frame_storage` the dtype its frame embeddings are kept in.
"""
from __future__ import annotations

import hashlib
import pickle
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from hgr.checkpoint import Checkpoint, atomic_torch_save
from hgr.errors import HGRError
from hgr.inputs import CaptionInputs, caption_inputs, collate_captions, collate_frames
from hgr.model import LEVELS, TextEmbedding, VideoIndex
from hgr.model.matching import FrameStats

# pairs (video, caption) scored at once; bounds the [Bv, Bc, F, P] temporaries of local matching
PAIRS_PER_CHUNK = 200_000
# videos scored at once from half precision (bounds the float32 copy made off the CPU: 8,192 x 20 x 1024 x 4 B =
# 670 MB a level; on the CPU `frame_dots` widens a few rows at a time)
HALF_VIDEOS_PER_CHUNK = 8192
# collections at least this large keep their first-stage keys in float16 (half the memory and the reads of the
# flat scan; measured: an HNSW graph over these keys lost recall@10 at 20,000 videos and took minutes to build)
HALF_KEYS_FROM = 50_000
# videos whose frames are pooled into first-stage keys at once (bounds the float32 copy of half-precision frames)
KEY_VIDEOS_PER_CHUNK = 1024
# candidate pools `Searcher.choose_pool` measures recall at
POOLS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000)
# collections at least this large are searched two-stage unless told otherwise (`plan_search`): on the 2-core CPU,
# exact ranking took 43.9 ms for 10,000 videos and 603.6 ms for 100,000 (float16 frames), two-stage 7.8 and 25.9 ms,
# recall@10 1.000 (benchmarks/search.py)
TWO_STAGE_FROM = 20_000
# collections at least this large keep their frame embeddings in float16 unless told otherwise (`frame_storage`):
# 100,000 videos at official dims take 16.4 GB in float32. Measured (benchmarks/search.py): the same top 10 as
# float32 on every query, fused scores within 2.5e-2, and slower on this CPU (widening costs more than it saves)
HALF_FRAMES_FROM = 50_000
# captions of the collection that `plan_search` measures a two-stage pool's recall on
CALIBRATION_CAPTIONS = 20
STORAGES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
T = TypeVar("T")


def index_cache_path(collection, checkpoint: Checkpoint, kind: str = "index", extra: str = "",
                     video_ids: Sequence[str] | None = None) -> Path:
    """Where the encoded video side (kind 'index'), caption side ('captions') or two-stage pool ('pool') of
    `video_ids` (default: every video) of `collection` under `checkpoint` is cached: the collection's cache/ folder
    (or ~/.cache/hgr when that is not writable). One file per collection, kind and set of videos (a split):
    `<kind>-<videos>-<digest>.pt`, the digest of the weights, config, videos, features and `extra` (what else the
    value depends on); `write_cache` removes the file it supersedes."""
    ids = list(collection.video_ids if video_ids is None else video_ids)
    digest = hashlib.sha256(f"{kind}\n{extra}".encode())
    for name, tensor in sorted(checkpoint.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(repr(sorted(checkpoint.config.to_dict().items())).encode())
    digest.update("\n".join(ids).encode())
    features = Path(collection.features_path)
    if features.exists():
        stat = features.stat()
        digest.update(f"{features.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    videos = "all"
    if ids != list(collection.video_ids):                                   # a split: its own file
        videos = "v" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]
    folder = Path(collection.root) / "cache" if collection.root is not None else None
    if folder is None or not _writable(folder):
        folder = Path.home() / ".cache" / "hgr"               # shared: the collection's folder is in the name
        where = str(Path(collection.root).resolve()) if collection.root is not None else str(features)
        videos = f"c{hashlib.sha256(where.encode()).hexdigest()[:8]}-{videos}"
    return folder / f"{kind}-{videos}-{digest.hexdigest()[:20]}.pt"


def write_cache(payload: dict, path: str | Path) -> None:
    """Write a cache file atomically, then remove the file it supersedes (same kind and videos, another digest)
    and caches named before the split was part of the name."""
    path = Path(path)
    atomic_torch_save(payload, path)
    kind_and_videos = path.name.rsplit("-", 1)[0]
    kind = kind_and_videos.split("-", 1)[0]
    superseded = re.compile(rf"({re.escape(kind_and_videos)}|{re.escape(kind)})-[0-9a-f]{{20}}\.pt")
    for other in path.parent.glob(f"{kind}-*.pt"):
        if other != path and superseded.fullmatch(other.name):
            other.unlink(missing_ok=True)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".probe"
        probe.touch()
        probe.unlink()
        return True
    except OSError:
        return False


def read_cache(path: str | Path | None, what: str, parse: Callable[[dict], T | None]) -> T | None:
    """`parse(obj)` of the cache file at `path` (None when it is for other inputs), or None when there is no file.
    A file that cannot be read or is not what `atomic_torch_save` wrote here is reported and treated as absent:
    the value is computed again and the file overwritten."""
    if path is None or not Path(path).is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict):
            raise TypeError(f"a {type(obj).__name__}, not a dict")
        return parse(obj)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError,
            AttributeError) as err:
        detail = (str(err).strip().splitlines() or [""])[0][:160]
        warnings.warn(f"{path}: unreadable {what} cache ({type(err).__name__}: {detail}); computing it again",
                      stacklevel=2)
        return None


def _pad_frames(t: torch.Tensor, width: int, dims: int) -> torch.Tensor:
    """Zero-pad the frame axis (dim 1, and dim 2 too for a Gram matrix) of `t` to `width`."""
    gap = width - t.shape[1]
    pads = {1: (0, gap), 2: (0, 0, 0, gap), 3: (0, gap, 0, gap)}[dims]
    return torch.nn.functional.pad(t, pads)


def _cat_stats(stats: list[FrameStats]) -> FrameStats:
    width = max(s.frames.shape[1] for s in stats)
    return FrameStats(frames=torch.cat([_pad_frames(s.frames, width, 2) for s in stats]),
                      inv_norms=torch.cat([_pad_frames(s.inv_norms, width, 1) for s in stats]),
                      gram=torch.cat([_pad_frames(s.gram, width, 3) for s in stats]),
                      mask=torch.cat([_pad_frames(s.mask, width, 1) for s in stats]))


def store_frames(index: VideoIndex, dtype: torch.dtype) -> VideoIndex:
    """`index` with its action and entity frame embeddings (the bulk of it) kept in `dtype`, changed in place."""
    for stats in (index.actions, index.entities):
        stats.frames = stats.frames.to(dtype)                     # a no-op when they are kept so already
    return index


def _cat_index(parts: list[VideoIndex]) -> VideoIndex:
    return VideoIndex(torch.cat([p.event for p in parts]), _cat_stats([p.actions for p in parts]),
                      _cat_stats([p.entities for p in parts]))


def _cat_text(parts: list[TextEmbedding]) -> TextEmbedding:
    return TextEmbedding(
        event=torch.cat([p.event for p in parts]), actions=torch.cat([p.actions for p in parts]),
        entities=torch.cat([p.entities for p in parts]), action_valid=torch.cat([p.action_valid for p in parts]),
        entity_valid=torch.cat([p.entity_valid for p in parts]), word_attention=torch.empty(0), graph_attention=[])


@dataclass
class Encoded:
    """Caption embeddings with the inputs they came from (node names for the demo's labels)."""
    text: TextEmbedding
    inputs: list[CaptionInputs]


@dataclass
class Ranked:
    """Top results of one query, with the trace the demo draws (numpy, on the CPU)."""
    ids: list[str]                       # ranked best first (video ids, or captions for video-to-text)
    scores: dict[str, np.ndarray]        # level -> [k], for event, action, entity, fused
    action_alignment: np.ndarray         # [k, num_verbs, F] frame weights phi of each action node (Eq. 12)
    entity_alignment: np.ndarray         # [k, num_nouns, F]
    frame_counts: list[int]              # real frames of each result's video


@dataclass
class QueryTrace:
    """How a sentence was encoded: its graph inputs, word attention and per-layer graph attention."""
    sentence: str
    inputs: CaptionInputs
    word_attention: np.ndarray           # [num_words]
    graph_attention: list[np.ndarray]    # per layer [N, N], row = receiving node


def _top(fused: torch.Tensor, k: int) -> torch.Tensor:
    return torch.topk(fused, min(k, fused.shape[0])).indices


def _select(text: TextEmbedding, rows: torch.Tensor | slice) -> TextEmbedding:
    """Some captions of an encoded batch (the matching inputs only)."""
    return TextEmbedding(text.event[rows], text.actions[rows], text.entities[rows], text.action_valid[rows],
                         text.entity_valid[rows], torch.empty(0), [])


def _ranked(model, index: VideoIndex, text: TextEmbedding, order: torch.Tensor, ids: list[str],
            video_to_text: bool) -> Ranked:
    """Re-score the chosen pairs with the frame alignment kept (cheap: k pairs)."""
    if not video_to_text:                                         # text -> video: k videos x 1 caption
        s = model.score(index[order], text, alignment=True)
        pick = (slice(None), 0)
        lengths = index.actions.mask[order].sum(1)
    else:                                                         # video -> text: 1 video x k captions
        s = model.score(index, _select(text, order), alignment=True)
        pick = (0, slice(None))
        lengths = index.actions.mask.sum(1).expand(len(order))
    scores = {level: s.level(level)[pick].cpu().numpy() for level in LEVELS}
    if s.action_alignment is None:                                # global matching has no frame alignment
        return Ranked([ids[i] for i in order.tolist()], scores, np.zeros((len(order), 0, 0)),
                      np.zeros((len(order), 0, 0)), [int(n) for n in lengths.tolist()])
    return Ranked(ids=[ids[i] for i in order.tolist()], scores=scores,
                  action_alignment=s.action_alignment[pick].cpu().numpy(),
                  entity_alignment=s.entity_alignment[pick].cpu().numpy(),
                  frame_counts=[int(n) for n in lengths.tolist()])


def trace_of(encoded: Encoded, i: int, sentence: str) -> QueryTrace:
    text = encoded.text
    n = len(encoded.inputs[i].ids)
    return QueryTrace(sentence, encoded.inputs[i], text.word_attention[i, :n].cpu().numpy(),
                      [a[i].cpu().numpy() for a in text.graph_attention])


def _pooled_frames(stats: FrameStats) -> torch.Tensor:
    """Unit mean of a level's unit frame embeddings over real frames: [Bv, D] (uniform attention in Eq. 12)."""
    weights = stats.inv_norms * stats.mask / stats.mask.sum(1, keepdim=True).clamp(min=1)    # [Bv, F]
    pooled = torch.bmm(weights[:, None, :], stats.frames.to(weights.dtype))[:, 0]            # [Bv, D]
    return torch.nn.functional.normalize(pooled, dim=1)


def video_keys(index: VideoIndex) -> torch.Tensor:
    """First-stage keys [Bv, 3D]: unit event vector, unit pooled action frames, unit pooled entity frames."""
    parts = []
    for start in range(0, index.event.shape[0], KEY_VIDEOS_PER_CHUNK):
        part = index[start:start + KEY_VIDEOS_PER_CHUNK]
        parts.append(torch.cat([torch.nn.functional.normalize(part.event.float(), dim=1),
                                _pooled_frames(part.actions), _pooled_frames(part.entities)], dim=1))
    return torch.cat(parts)


def caption_keys(text: TextEmbedding) -> torch.Tensor:
    """First-stage keys [Bc, 3D]: unit event vector and the mean unit action / entity phrase (zero when none).

    keys(video) . keys(caption) = cos(events) + cos(pooled action frames, mean phrase) + same for entities:
    Eq. 13 with the frame attention of Eq. 12 made uniform, so it ranks videos much as the fused score does.
    """
    def mean_phrase(phrases: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:     # [Bc, P, D] -> [Bc, D]
        weights = valid.to(phrases.dtype) / valid.sum(1, keepdim=True).clamp(min=1)
        return (torch.nn.functional.normalize(phrases, dim=2) * weights[:, :, None]).sum(1)
    return torch.cat([torch.nn.functional.normalize(text.event, dim=1), mean_phrase(text.actions, text.action_valid),
                      mean_phrase(text.entities, text.entity_valid)], dim=1)


class Searcher:
    """Scores captions against the videos of a collection with one checkpoint."""

    def __init__(self, checkpoint: Checkpoint, features: Callable[[str], np.ndarray], video_ids: Sequence[str],
                 graphs: Callable[[str], list], batch_size: int = 128, cache: str | Path | None = None,
                 storage: torch.dtype = torch.float32) -> None:
        """`features(video_id)` gives a video's model input [n, frame_dim]; `graphs(sentence)` its role graph.

        `cache`: a file for the encoded video side (see `index_cache_path`); read when present and valid for
        these videos, written after the first encoding. `storage`: dtype the frame embeddings are kept in
        (float16/bfloat16 halve the memory; scoring still computes in float32).
        """
        self.checkpoint = checkpoint
        self.model = checkpoint.model
        self.cfg = checkpoint.model.cfg
        self.video_ids = list(video_ids)
        self.features = features
        self.graphs = graphs
        self.batch_size = batch_size
        self.cache = Path(cache) if cache else None
        self.storage = storage
        self._index: VideoIndex | None = None
        self._key_index = None                         # FAISS index over first-stage keys, built on first use
        self._buffers: dict[str, torch.Tensor] = {}    # reused by `_gather`
        self._gather_lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def index(self) -> VideoIndex:
        """The encoded video side, from the cache file when it is valid, else encoded (and cached) now."""
        if self._index is None:
            index = self._read_cache()
            if index is None:
                index = self.encode_videos(self.video_ids)
                self._write_cache(index)
            self._index = store_frames(index.to(self.device), self.storage)
        return self._index

    def _read_cache(self) -> VideoIndex | None:
        def parse(obj: dict) -> VideoIndex | None:
            if obj.get("video_ids") != self.video_ids:
                return None                            # another collection's videos: rebuilt and overwritten
            t = obj["tensors"]
            if any(not isinstance(v, torch.Tensor) or len(v) != len(self.video_ids) for v in t.values()):
                raise ValueError("its tensors do not hold one row per video")
            return VideoIndex(t["event"], FrameStats(t["actions"], t["actions_inv"], t["actions_gram"], t["mask"]),
                              FrameStats(t["entities"], t["entities_inv"], t["entities_gram"], t["mask"]))
        return read_cache(self.cache, "video index", parse)

    def _write_cache(self, index: VideoIndex) -> None:
        if self.cache is None:
            return
        tensors = {"event": index.event, "actions": index.actions.frames, "actions_inv": index.actions.inv_norms,
                   "actions_gram": index.actions.gram, "entities": index.entities.frames,
                   "entities_inv": index.entities.inv_norms, "entities_gram": index.entities.gram,
                   "mask": index.actions.mask}
        write_cache({"video_ids": self.video_ids, "tensors": {k: v.cpu() for k, v in tensors.items()}}, self.cache)

    @torch.no_grad()
    def encode_videos(self, video_ids: Sequence[str]) -> VideoIndex:
        parts = []
        for start in range(0, len(video_ids), self.batch_size):
            feats = [self.features(v) for v in video_ids[start:start + self.batch_size]]
            frames, lengths = collate_frames(feats, self.cfg.max_frames)
            part = VideoIndex.of(self.model.encode_video(frames.to(self.device), lengths.to(self.device)))
            parts.append(store_frames(part, self.storage))        # batch by batch: no float32 copy of the whole
        return _cat_index(parts)

    def inputs(self, sentences: Sequence[str], graphs: Sequence[list] | None = None) -> list[CaptionInputs]:
        """Model inputs of `sentences`, with their role graphs `graphs` (official JSON) or else `self.graphs`'."""
        if graphs is None:
            graphs = [self.graphs(s) for s in sentences]
        return [caption_inputs(s, g, self.checkpoint.vocab, self.cfg) for s, g in zip(sentences, graphs, strict=True)]

    @torch.no_grad()
    def encode_captions(self, sentences: Sequence[str], cache: str | Path | None = None,
                        graphs: Sequence[list] | None = None) -> Encoded:
        """Encode captions in batches (with their role `graphs` when already known, else looked up); with `cache`,
        the embeddings are read from / written to that file."""
        items = self.inputs(sentences, graphs)
        key = hashlib.sha256("\n".join(sentences).encode()).hexdigest()

        def parse(obj: dict) -> TextEmbedding | None:
            if obj.get("sentences") != key:
                return None                            # other captions: re-encoded and overwritten
            t = {k: v.to(self.device) for k, v in obj["tensors"].items()}
            return TextEmbedding(t["event"], t["actions"], t["entities"], t["action_valid"], t["entity_valid"],
                                 torch.empty(0), [])
        text = read_cache(cache, "caption", parse)
        if text is not None:
            return Encoded(text, items)
        parts = [self.model.encode_text(collate_captions(items[i:i + self.batch_size]).to(self.device))
                 for i in range(0, len(items), self.batch_size)]
        encoded = Encoded(parts[0] if len(parts) == 1 else _cat_text(parts), items)
        if cache is not None:
            t = encoded.text
            write_cache({"sentences": key, "tensors": {
                "event": t.event.cpu(), "actions": t.actions.cpu(), "entities": t.entities.cpu(),
                "action_valid": t.action_valid.cpu(), "entity_valid": t.entity_valid.cpu()}}, cache)
        return encoded

    def score_matrix(self, sentences: Sequence[str]) -> dict[str, np.ndarray]:
        """Every video (rows, `video_ids` order) against every sentence (columns): {level: [n_vid, n_cap]}."""
        return self.score_encoded(self.encode_captions(sentences).text)

    @torch.no_grad()
    def score_encoded(self, text: TextEmbedding) -> dict[str, np.ndarray]:
        """Every video against every encoded caption: {level: [n_vid, n_cap]}, in chunks of bounded memory."""
        n_vid, n_cap = len(self.video_ids), text.event.shape[0]
        out = {level: np.empty((n_vid, n_cap), dtype=np.float32) for level in LEVELS}
        cap_chunk = max(1, min(n_cap, PAIRS_PER_CHUNK // max(n_vid, 1)))
        vid_chunk = max(1, min(n_vid, PAIRS_PER_CHUNK // cap_chunk))
        if self.storage != torch.float32:                 # half-precision frames are widened chunk by chunk
            vid_chunk = min(vid_chunk, HALF_VIDEOS_PER_CHUNK)
        for c in range(0, n_cap, cap_chunk):
            sub = _select(text, slice(c, c + cap_chunk))
            for v in range(0, n_vid, vid_chunk):
                scores = self.model.score(self._rows(slice(v, v + vid_chunk)), sub)
                for level in LEVELS:
                    out[level][v:v + vid_chunk, c:c + cap_chunk] = scores.level(level).cpu().numpy()
        return out

    def _rows(self, rows: torch.Tensor | slice) -> VideoIndex:
        """Some videos of the index (half-precision frames stay so: `frame_dots` widens them as it reads)."""
        return self.index[rows]

    def key_index(self):
        """FAISS flat inner-product index over the first-stage keys of every video (float16 from `HALF_KEYS_FROM`);
        on a GPU, the keys themselves: one exact matrix-vector product there beats a copy to FAISS on the host."""
        if self._key_index is None:
            with torch.no_grad():
                keys = video_keys(self.index)                                      # [n_vid, 3D]
            if keys.device.type != "cpu":
                self._key_index = keys
                return keys
            import faiss

            keys = keys.numpy()
            if len(keys) >= HALF_KEYS_FROM:
                index = faiss.IndexScalarQuantizer(keys.shape[1], faiss.ScalarQuantizer.QT_fp16,
                                                   faiss.METRIC_INNER_PRODUCT)
                index.train(keys[:1])
            else:
                index = faiss.IndexFlatIP(keys.shape[1])
            index.add(keys)
            self._key_index = index
        return self._key_index

    def candidates(self, text: TextEmbedding, pool: int) -> torch.Tensor:
        """Rows [pool] of the videos whose first-stage keys best match the first caption's, best first."""
        index, query, k = self.key_index(), caption_keys(_select(text, slice(0, 1))), min(pool, len(self.video_ids))
        if isinstance(index, torch.Tensor):                                       # GPU: exact, on the device
            return torch.topk(index @ query[0].to(index), k).indices
        _, rows = index.search(query.float().cpu().numpy(), k)
        rows = rows[0][rows[0] >= 0]
        return torch.from_numpy(rows.astype(np.int64)).to(self.device)

    @torch.no_grad()
    def two_stage(self, text: TextEmbedding, pool: int, top_k: int = 10) -> torch.Tensor:
        """Rows of the best `top_k` videos for the first caption among `pool` candidates, by exact fused score."""
        rows = self.candidates(text, pool)
        with self._gather_lock:                        # the gather buffers are shared by the app's threads
            fused = self.model.score(self._gather(rows), _select(text, slice(0, 1))).fused[:, 0]
        return rows[_top(fused, top_k)]

    def _gather(self, rows: torch.Tensor) -> VideoIndex:
        """Videos `rows` of the index copied into buffers kept between calls (valid until the next call): a pool
        of scattered videos is gathered without allocating (and page-faulting) fresh memory on every query."""
        index, n = self.index, len(rows)
        fields = {"event": index.event, "a.frames": index.actions.frames, "a.inv": index.actions.inv_norms,
                  "a.gram": index.actions.gram, "e.frames": index.entities.frames, "e.inv": index.entities.inv_norms,
                  "e.gram": index.entities.gram, "mask": index.actions.mask}
        if any(k not in self._buffers or len(self._buffers[k]) < n or self._buffers[k].shape[1:] != v.shape[1:]
               or self._buffers[k].dtype != v.dtype for k, v in fields.items()):
            self._buffers = {k: v.new_empty(n, *v.shape[1:]) for k, v in fields.items()}
        t = {k: torch.index_select(v, 0, rows, out=self._buffers[k][:n]) for k, v in fields.items()}
        return VideoIndex(t["event"], FrameStats(t["a.frames"], t["a.inv"], t["a.gram"], t["mask"]),
                          FrameStats(t["e.frames"], t["e.inv"], t["e.gram"], t["mask"]))

    @torch.no_grad()
    def choose_pool(self, text: TextEmbedding, target: float = 0.99, top_k: int = 10,
                    pools: Sequence[int] = POOLS) -> tuple[int, dict[int, float]]:
        """Pool for two-stage search from its recall@`top_k` against exact ranking on these captions: twice the
        smallest pool that reaches `target` (a few captions overstate the recall of the rest), or the whole
        collection (exact search) when none does. Returns (pool, {pool: mean recall}).
        """
        fused = torch.from_numpy(self.score_encoded(text)["fused"])                # [n_vid, n_cap]
        n = len(self.video_ids)
        pools = sorted({min(p, n) for p in pools})
        curve = {p: 0.0 for p in pools}
        for j in range(fused.shape[1]):
            exact = set(_top(fused[:, j], top_k).tolist())
            rows = self.candidates(_select(text, slice(j, j + 1)), pools[-1]).cpu()
            for p in pools:                              # re-ranking is exact: its top-k is the pool's best by score
                found = rows[:p][_top(fused[rows[:p], j], top_k)]
                curve[p] += len(exact & set(found.tolist())) / len(exact) / fused.shape[1]
        return min(n, 2 * next((p for p in pools if curve[p] >= target), n)), curve

    @torch.no_grad()
    def search(self, sentence: str, top_k: int = 10, pool: int | None = None,
               graph: list | None = None) -> tuple[Ranked, QueryTrace]:
        """Rank the indexed videos for one (already normalised) sentence by fused score, best first.

        `graph`: the sentence's role graph (official JSON) when the caller has it already, else looked up (parsed).
        Exact over every video by default; with `pool`, two-stage: the `pool` videos whose first-stage keys best
        match the caption (FAISS), re-ranked by the exact fused score.
        """
        encoded = self.encode_captions([sentence], graphs=None if graph is None else [graph])
        if pool is None or pool >= len(self.video_ids):
            fused = torch.from_numpy(self.score_encoded(encoded.text)["fused"][:, 0])
            order = _top(fused, top_k).to(self.device)
        else:
            order = self.two_stage(encoded.text, pool, top_k)
        ranked = _ranked(self.model, self._rows(order), encoded.text, torch.arange(len(order)),
                         [self.video_ids[i] for i in order.tolist()], False)
        return ranked, trace_of(encoded, 0, sentence)

    @torch.no_grad()
    def search_video(self, features: np.ndarray, captions: Sequence[str], encoded: Encoded,
                     top_k: int = 10) -> Ranked:
        """Rank `captions` (encoded once, as `encoded`) for one clip's resampled frame features [n, dim]."""
        frames, lengths = collate_frames([features], self.cfg.max_frames)
        index = VideoIndex.of(self.model.encode_video(frames.to(self.device), lengths.to(self.device)))
        fused = self.model.score(index, encoded.text).fused[0]
        return _ranked(self.model, index, encoded.text, _top(fused, top_k), list(captions), True)


def frame_storage(videos: int, storage: str = "auto") -> torch.dtype:
    """The dtype a collection of `videos` keeps its frame embeddings in: `storage` by name, or with 'auto' float16
    from `HALF_FRAMES_FROM` videos (half the memory) and float32 below."""
    if storage == "auto":
        return torch.float16 if videos >= HALF_FRAMES_FROM else torch.float32
    if storage not in STORAGES:
        raise HGRError(f"unknown frame storage {storage!r}: use auto, {', '.join(STORAGES)}")
    return STORAGES[storage]


@dataclass
class SearchPlan:
    """How text-to-video search ranks a collection: exact over every video, or two-stage over a candidate pool."""
    mode: str                                   # "exact" or "two-stage"
    videos: int
    pool: int | None = None                     # two-stage: candidates re-ranked exactly
    curve: dict[int, float] | None = None       # pool -> recall@10 against exact, measured on the collection's captions
    note: str = ""                              # why the plan is what it is, when that is not obvious

    def to_json(self) -> dict:
        out = {"mode": self.mode, "videos": self.videos}
        if self.mode == "two-stage":
            out["pool"] = self.pool
            if self.curve:
                out["calibration_recall10"] = {str(p): round(r, 4) for p, r in self.curve.items()}
        return out

    def describe(self) -> str:
        if self.mode == "exact":
            return f"exact over all {self.videos:,} videos" + (f" ({self.note})" if self.note else "")
        text = (f"two-stage: the {self.pool:,} of {self.videos:,} videos whose first-stage keys match best, re-ranked "
                "exactly")
        measured = [p for p in (self.curve or {}) if p <= self.pool]
        if measured:
            text += (f" (recall@10 against exact ranking {self.curve[max(measured)]:.3f} with {max(measured):,} "
                     "candidates, on the collection's captions)")
        return text


def plan_search(searcher: Searcher, mode: str = "auto", pool: int | None = None,
                captions: Sequence[str] = (), cache: str | Path | None = None) -> SearchPlan:
    """Exact or two-stage for `searcher`'s collection. 'auto': two-stage from `TWO_STAGE_FROM` videos. A two-stage
    pool is `pool` when given, else chosen by `Searcher.choose_pool` on up to `CALIBRATION_CAPTIONS` of `captions`
    (the collection's own; read from / written to `cache`, since it costs an exact ranking per caption)."""
    n = len(searcher.video_ids)
    if mode not in ("auto", "exact", "two-stage"):
        raise HGRError(f"unknown search mode {mode!r}: use auto, exact or two-stage")
    if pool is not None and pool < 1:
        raise HGRError(f"the two-stage pool must be at least 1 video, got {pool}")
    if mode == "exact" or mode == "auto" and n < TWO_STAGE_FROM:
        return SearchPlan("exact", n)
    if pool is not None:
        return SearchPlan("two-stage", n, min(pool, n))
    if not captions:
        if mode == "two-stage":
            raise HGRError("two-stage search needs a candidate pool, and this collection has no captions to measure "
                           "one on: give --pool N (e.g. 1000)")
        return SearchPlan("exact", n, note="no captions to measure a two-stage pool on; give --pool N for two-stage")
    picks = sorted({int(i) for i in np.linspace(0, len(captions) - 1, min(CALIBRATION_CAPTIONS, len(captions)))})
    chosen = [captions[i] for i in picks]
    key = hashlib.sha256("\n".join(chosen).encode()).hexdigest()

    def parse(obj: dict) -> SearchPlan | None:
        if obj.get("captions") != key:
            return None                                # measured on other captions: measured again
        return SearchPlan("two-stage", n, int(obj["pool"]), {int(p): float(r) for p, r in obj["curve"].items()})
    cached = read_cache(cache, "two-stage pool", parse)
    if cached is not None:
        return cached
    chosen_pool, curve = searcher.choose_pool(searcher.encode_captions(chosen).text)
    if cache is not None:
        write_cache({"captions": key, "pool": chosen_pool, "curve": curve}, cache)
    return SearchPlan("two-stage", n, chosen_pool, curve)
