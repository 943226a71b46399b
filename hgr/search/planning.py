"""Planning: exact or two-stage search for a collection, and the dtype its frame embeddings are kept in."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hgr.errors import HGRError
from hgr.search.cache import read_cache, write_cache

if TYPE_CHECKING:
    from hgr.search.searcher import Searcher

# collections at least this large are searched two-stage unless told otherwise (`plan_search`): on the 2-core CPU,
# exact ranking took 43.9 ms for 10,000 videos and 603.6 ms for 100,000 (float16 frames), two-stage 7.8 and 25.9 ms,
# recall@10 1.000 (benchmarks/search.py)
TWO_STAGE_FROM = 20_000
# collections at least this large keep their frame embeddings in float16 unless told otherwise (`frame_storage`):
# 100,000 videos at official dims take 16.4 GB in float32. Measured (benchmarks/search.py): the same top 10 as
# float32 on every query, fused scores within 2.5e-2, and slower on this CPU (widening costs more than it saves)
HALF_FRAMES_FROM = 50_000
# collections at least this large keep their encoded frames in the on-disk store (`hgr.search.store`) unless told
# otherwise (`uses_frame_store`): from here frames are float16 anyway, which is what the store keeps, so the scores
# are the same, and RAM holds only the first-stage keys and the videos being scored (100,000 videos at official
# dims peaked at 12.1 GB held in RAM)
DISK_FROM = HALF_FRAMES_FROM
STORES = ("auto", "memory", "disk")
# captions of the collection that `plan_search` measures a two-stage pool's recall on
CALIBRATION_CAPTIONS = 20
STORAGES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def frame_storage(videos: int, storage: str = "auto") -> torch.dtype:
    """The dtype a collection of `videos` keeps its frame embeddings in: `storage` by name, or with 'auto' float16
    from `HALF_FRAMES_FROM` videos (half the memory) and float32 below."""
    if storage == "auto":
        return torch.float16 if videos >= HALF_FRAMES_FROM else torch.float32
    if storage not in STORAGES:
        raise HGRError(f"unknown frame storage {storage!r}: use auto, {', '.join(STORAGES)}")
    return STORAGES[storage]


def uses_frame_store(videos: int, store: str = "auto", cache: bool = True, storage: torch.dtype = torch.float32
                     ) -> bool:
    """Whether a collection of `videos` keeps its encoded frames on disk: `store` 'disk' or 'memory', or with 'auto'
    from `DISK_FROM` videos (or int8 storage, which only the store has) when there is a `cache` folder to keep it in."""
    if store not in STORES:
        raise HGRError(f"unknown frame store {store!r}: use {', '.join(STORES)}")
    if store == "memory" and storage == torch.int8:
        raise HGRError("int8 frames are kept only in the on-disk frame store: use store 'disk' (or auto)")
    disk = store == "disk" or store == "auto" and (videos >= DISK_FROM or storage == torch.int8)
    if disk and not cache:
        if store == "disk" or storage == torch.int8:
            raise HGRError("the on-disk frame store lives beside the index cache: give the Searcher a cache path "
                           "(index_cache_path) or use store 'memory'")
        return False                                       # auto with nowhere to keep it: in RAM, as before
    return disk


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
        return calibrated(n, int(obj["pool"]), {int(p): float(r) for p, r in obj["curve"].items()})
    cached = read_cache(cache, "two-stage pool", parse)
    if cached is not None:
        return cached
    chosen_pool, curve = searcher.choose_pool(searcher.encode_captions(chosen).text)
    if cache is not None:
        write_cache({"captions": key, "pool": chosen_pool, "curve": curve}, cache)
    return calibrated(n, chosen_pool, curve)


def calibrated(videos: int, pool: int, curve: dict[int, float]) -> SearchPlan:
    """The plan a calibration gives: two-stage over `pool` of the `videos`, or exact when no pool measured reached
    the target recall (`choose_pool` then gives every video; say so, with the best it measured)."""
    if pool < videos:
        return SearchPlan("two-stage", videos, pool, curve)
    best = max(curve, key=lambda p: (curve[p], -p)) if curve else None
    return SearchPlan("exact", videos, note="no two-stage pool reached recall@10 0.99 through this first stage"
                      + (f" (at best {curve[best]:.3f} with {best:,} candidates)" if best is not None else "")
                      + "; ranking every video")
