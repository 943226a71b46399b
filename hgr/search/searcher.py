"""The Searcher: a collection's videos encoded once under one checkpoint, ranked for captions exactly or in two
stages (first-stage keys, then the exact score); the one scoring path of evaluation, training, the CLI and the app."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from hgr.checkpoint import Checkpoint
from hgr.inputs import CaptionInputs, caption_inputs, collate_captions, collate_frames
from hgr.model import TextEmbedding, VideoIndex
from hgr.model.matching import FrameStats
from hgr.search import calibration
from hgr.search.cache import read_cache, update_with_checkpoint, write_cache
from hgr.search.exact import (
    Encoded,
    QueryTrace,
    Ranked,
    cat_index,
    cat_text,
    rescore_with_alignment,
    score_all,
    select_captions,
    store_frames,
    top_rows,
    trace_of,
)
from hgr.search.first_stage import first_stage_for
from hgr.search.keys import caption_keys, video_keys
from hgr.search.planning import uses_frame_store
from hgr.search.store import (
    FrameStore,
    Layout,
    StoreWriter,
    dtype_name,
    key_dtype_for,
    open_or_none,
    remove_superseded,
    store_path,
)

# videos read from the on-disk frame store at once by exact search (2,048 at official dims: 168 MB of float16 frames
# mapped, or 335 MB widened from int8, then dropped)
STORE_VIDEOS_PER_CHUNK = 2048


class Searcher:
    """Scores captions against the videos of a collection with one checkpoint."""

    def __init__(self, checkpoint: Checkpoint, features: Callable[[str], np.ndarray], video_ids: Sequence[str],
                 graphs: Callable[[str], list], batch_size: int = 128, cache: str | Path | None = None,
                 storage: torch.dtype = torch.float32, store: str = "auto", vector_db: str | Path | None = None
                 ) -> None:
        """`features(video_id)` gives a video's model input [n, frame_dim]; `graphs(sentence)` its role graph.

        `cache`: a file for the encoded video side (see `index_cache_path`); read when present and valid for
        these videos, written after the first encoding. `storage`: dtype the frame embeddings are kept in
        (float16/bfloat16 halve the memory; scoring still computes in float32; int8 in the frame store only).
        `store`: 'memory' keeps the encoded side in RAM; 'disk' in the memory-mapped frame store beside `cache`
        (`hgr.search.store`), RAM then holding the first-stage keys and the videos being scored; 'auto' (default)
        uses the store from `planning.DISK_FROM` videos when there is a cache path (`planning.uses_frame_store`).
        `vector_db`: where two-stage search finds its candidates (`hgr.search.first_stage`): None for the key index
        in this process, milvus://HOST:PORT for a Milvus server or cluster, or a Milvus Lite path ending in .db.
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
        self.on_disk = uses_frame_store(len(self.video_ids), store, self.cache is not None, storage)
        self._store: FrameStore | None = None
        self._index: VideoIndex | None = None
        self.first_stage = first_stage_for(vector_db)  # in this process, or Milvus (`hgr.search.first_stage`)
        self._key_index = None                         # the first stage's index over the keys, built on first use
        self._buffers: dict[str, torch.Tensor] = {}    # reused by `_gather`
        self._gather_lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def index(self) -> VideoIndex:
        """The encoded video side, from the cache file when it is valid, else encoded (and cached) now. With the
        frame store: views of its mapped files, on the CPU (read as they are used)."""
        if self._index is None and self.on_disk:
            self._index = self.frame_store.whole()
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

    @property
    def frame_store(self) -> FrameStore:
        """The on-disk store of the encoded video side (`hgr.search.store`): opened when valid for this checkpoint
        and these videos, else encoded into it now (a damaged or stale one is reported and rebuilt)."""
        if self._store is None:
            if not self.on_disk:
                raise RuntimeError("this Searcher keeps its encoded videos in memory (store='memory')")
            path, key = store_path(self.cache), self._store_key()
            self._store = open_or_none(path, key, len(self.video_ids)) or self._build_store(path, key)
        return self._store

    def _store_key(self) -> str:
        """What the store's contents depend on: weights and config, the videos in order, the frame dtype (the
        cache path's name holds the features file's stamp)."""
        digest = hashlib.sha256(f"{self.cache.name}\n{self.storage}\n".encode())
        update_with_checkpoint(digest, self.checkpoint)
        digest.update("\n".join(self.video_ids).encode())
        return digest.hexdigest()

    @torch.no_grad()
    def _build_store(self, path: Path, key: str) -> FrameStore:
        n = len(self.video_ids)
        layout = Layout(self.cfg.max_frames, self.cfg.dim_embed, dtype_name(self.storage), key_dtype_for(n))
        writer = StoreWriter(path, layout, n, key)
        try:
            for part in self._encoded_batches(self.video_ids):
                writer.append(part)
            store = writer.finish()
        except BaseException:
            writer.abort()
            raise
        remove_superseded(path)
        return store

    def _encoded_batches(self, video_ids: Sequence[str]):
        """The encoded video side of `video_ids`, `batch_size` videos at a time (float32, on the model's device)."""
        for start in range(0, len(video_ids), self.batch_size):
            feats = [self.features(v) for v in video_ids[start:start + self.batch_size]]
            frames, lengths = collate_frames(feats, self.cfg.max_frames)
            yield VideoIndex.of(self.model.encode_video(frames.to(self.device), lengths.to(self.device)))

    @torch.no_grad()
    def encode_videos(self, video_ids: Sequence[str]) -> VideoIndex:
        # batch by batch into the storage dtype: no float32 copy of the whole
        return cat_index([store_frames(part, self.storage) for part in self._encoded_batches(video_ids)])

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
        encoded = Encoded(parts[0] if len(parts) == 1 else cat_text(parts), items)
        if cache is not None:
            t = encoded.text
            write_cache({"sentences": key, "tensors": {
                "event": t.event.cpu(), "actions": t.actions.cpu(), "entities": t.entities.cpu(),
                "action_valid": t.action_valid.cpu(), "entity_valid": t.entity_valid.cpu()}}, cache)
        return encoded

    def score_matrix(self, sentences: Sequence[str]) -> dict[str, np.ndarray]:
        """Every video (rows, `video_ids` order) against every sentence (columns): {level: [n_vid, n_cap]}."""
        return self.score_encoded(self.encode_captions(sentences).text)

    def score_encoded(self, text: TextEmbedding) -> dict[str, np.ndarray]:
        """Every video against every encoded caption: {level: [n_vid, n_cap]}, in chunks of bounded memory (from
        the frame store: streamed, `STORE_VIDEOS_PER_CHUNK` videos at a time)."""
        chunk = STORE_VIDEOS_PER_CHUNK if self.on_disk else None
        scores = score_all(self.model, self._rows, len(self.video_ids), text, half=self.storage != torch.float32,
                           videos_per_chunk=chunk)
        if self.on_disk:
            self.frame_store.release()
        return scores

    def _rows(self, rows: torch.Tensor | slice) -> VideoIndex:
        """Some videos of the index (half-precision frames stay so: `frame_dots` widens them as it reads). From the
        frame store, a slice is a view of the mapped files (the pages of the previous one are dropped first), rows
        a copy (their pages dropped after)."""
        if not self.on_disk:
            return self.index[rows]
        store = self.frame_store
        if isinstance(rows, slice):
            store.release()
            return store.rows(rows).to(self.device)
        index = store.rows(rows).to(self.device)
        store.release()
        return index

    def first_stage_keys(self) -> torch.Tensor:
        """Every video's first-stage keys [n_vid, 3D] (`keys.video_keys`): read from the frame store (mapped,
        float16 from `HALF_KEYS_FROM` videos) or computed from the index in RAM."""
        if self.on_disk:
            return self.frame_store.keys
        with torch.no_grad():
            return video_keys(self.index)

    def use_vector_db(self, vector_db: str | Path | None) -> None:
        """Take candidates from another first stage (see `__init__`'s `vector_db`), built on its first use."""
        self.first_stage = first_stage_for(vector_db)
        self._key_index = None

    def key_index(self):
        """The first stage's index over every video's first-stage keys (`keys.key_index_of` in this process; or a Milvus
        collection of them), built on first use."""
        if self._key_index is None:
            self._key_index = self.first_stage.build(self)
            if self.on_disk:
                self.frame_store.release()
        return self._key_index

    def candidates(self, text: TextEmbedding, pool: int) -> torch.Tensor:
        """Rows [pool] of the videos whose first-stage keys best match the first caption's, best first."""
        query = caption_keys(select_captions(text, slice(0, 1)))
        return self.first_stage.nearest(self.key_index(), query, min(pool, len(self.video_ids)), self.device)

    @torch.no_grad()
    def two_stage(self, text: TextEmbedding, pool: int, top_k: int = 10) -> torch.Tensor:
        """Rows of the best `top_k` videos for the first caption among `pool` candidates, by exact fused score."""
        rows = self.candidates(text, pool)
        with self._gather_lock:                        # the gather buffers are shared by the app's threads
            fused = self.model.score(self._gather(rows), select_captions(text, slice(0, 1))).fused[:, 0]
        return rows[top_rows(fused, top_k)]

    def _gather(self, rows: torch.Tensor) -> VideoIndex:
        """Videos `rows` of the index copied into buffers kept between calls (valid until the next call): a pool
        of scattered videos is gathered without allocating (and page-faulting) fresh memory on every query. From the
        frame store, read from its mapped files (their pages dropped after: RAM holds the pool, not the store)."""
        if self.on_disk:
            store = self.frame_store
            index = store.gather(rows, self._buffers).to(self.device)
            store.release()
            return index
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

    def choose_pool(self, text: TextEmbedding, target: float = 0.99, top_k: int = 10,
                    pools: Sequence[int] = calibration.POOLS, fused: torch.Tensor | None = None
                    ) -> tuple[int, dict[int, float]]:
        """The two-stage pool measured on these captions (`calibration.choose_pool`; `fused`: their exact scores
        when already computed)."""
        return calibration.choose_pool(self, text, target, top_k, pools, fused)

    @torch.no_grad()
    def search(self, sentence: str, top_k: int = 10, pool: int | None = None,
               graph: list | None = None) -> tuple[Ranked, QueryTrace]:
        """Rank the indexed videos for one (already normalised) sentence by fused score, best first.

        `graph`: the sentence's role graph (official JSON) when the caller has it already, else looked up (parsed).
        Exact over every video by default; with `pool`, two-stage: the `pool` videos whose first-stage keys best
        match the caption (in this process or Milvus: `vector_db`), re-ranked by the exact fused score.
        """
        encoded = self.encode_captions([sentence], graphs=None if graph is None else [graph])
        if pool is None or pool >= len(self.video_ids):
            fused = torch.from_numpy(self.score_encoded(encoded.text)["fused"][:, 0])
            order = top_rows(fused, top_k).to(self.device)
        else:
            order = self.two_stage(encoded.text, pool, top_k)
        ranked = rescore_with_alignment(self.model, self._rows(order), encoded.text, torch.arange(len(order)),
                         [self.video_ids[i] for i in order.tolist()], False)
        return ranked, trace_of(encoded, 0, sentence)

    @torch.no_grad()
    def search_video(self, features: np.ndarray, captions: Sequence[str], encoded: Encoded,
                     top_k: int = 10) -> Ranked:
        """Rank `captions` (encoded once, as `encoded`) for one clip's resampled frame features [n, dim]."""
        frames, lengths = collate_frames([features], self.cfg.max_frames)
        index = VideoIndex.of(self.model.encode_video(frames.to(self.device), lengths.to(self.device)))
        fused = self.model.score(index, encoded.text).fused[0]
        return rescore_with_alignment(self.model, index, encoded.text, top_rows(fused, top_k), list(captions), True)
