"""`hgr index VIDEO_DIR --out COLLECTION --engine ray`: decoding and the CNN on a Ray cluster, with Ray Data.

    hgr index my_videos/ --out collections/mine --engine ray                          # a Ray cluster on this machine
    ray start --head                                                                  # or a cluster: on the head,
    ray start --address HEAD:6379                                                     # on every other node,
    hgr index /shared/videos --out collections/mine --engine ray --address auto       # then on the head
    hgr index /shared/videos --out collections/mine --engine ray --address ray://HEAD:10001   # or from elsewhere

The files still to index become a Ray Dataset (`from_items`); `map_batches` runs `ClipBatchExtractor`, an actor
holding one loaded CNN, over batches of files: one GPU per actor when the cluster has GPUs, one CPU otherwise, as
many actors as the cluster holds (`plan_actors`). Each actor runs `hgr.indexer.extract_videos`, the local engine's
own loop, so the features are the local engine's. Their outcomes stream back to the driver, which stages every
video through `CollectionWriter` as the local engine does: one collection, resumed and kill-safe the same way
(docs/scale.md section 4 says why the driver writes). Nodes read the videos by path: every node must see
VIDEO_DIR (and a --weights file) at the same path, and have hgr installed.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hgr.errors import CheckpointError, DeviceError, HGRError
from hgr.features import FrameExtractor, load_extractor
from hgr.indexer import ClipOutcome, extract_videos
from hgr.video_io import Sampling

CPUS_PER_ACTOR = 1        # decoding + torch threads; one each lets a CPU cluster run one actor per core
VIDEOS_PER_BATCH = 8      # files per actor call at most: enough to hide the call's overhead ...
CALLS_PER_ACTOR = 4       # ... and at least this many calls per actor, so that long and short videos even out
_ADDRESS = re.compile(r"(ray://)?[A-Za-z0-9_.\-]+:\d{1,5}")


def check_address(address: str | None) -> str | None:
    """A Ray address as ray.init takes it, or None (start a cluster here); HGRError for anything else."""
    if address is None or address == "auto" or _ADDRESS.fullmatch(address):
        return address
    raise HGRError(f"--address {address!r} is not a Ray cluster address: give auto (a cluster started on this "
                   "machine with `ray start --head`), HOST:PORT (the head's GCS port, 6379 by default) or "
                   "ray://HOST:PORT (Ray Client, 10001 by default); leave it out to start a cluster here")


@dataclass(frozen=True)
class ActorPlan:
    """The actor pool of one run: how many actors, and what each one reserves."""
    actors: int
    cpus: float               # per actor
    gpus: float               # per actor (0: the CNN runs on the actor's CPU)


def plan_actors(resources: dict[str, float], device: str, files: int) -> ActorPlan:
    """Size the pool from the cluster's resources (ray.cluster_resources()): one actor per GPU when there are GPUs
    (and --device is not cpu), else one per CPUS_PER_ACTOR cores; never more actors than files."""
    gpus = int(resources.get("GPU", 0))
    if device.startswith("cuda") and gpus < 1:
        raise DeviceError(f"--device {device} but the Ray cluster has no GPU (resources: {resources}); use --device "
                          "auto or cpu, or add GPU nodes")
    if gpus >= 1 and device != "cpu":
        return ActorPlan(max(1, min(gpus, files)), CPUS_PER_ACTOR, 1)
    cpus = int(resources.get("CPU", 0))
    return ActorPlan(max(1, min(cpus // CPUS_PER_ACTOR, files)), CPUS_PER_ACTOR, 0)


class ClipBatchExtractor:
    """Ray Data actor: one loaded CNN; a batch of files -> one row per file (features, or why it failed)."""

    def __init__(self, extractor: str, weights: str, weights_sha256: str, device: str, batch_size: int,
                 sampling: dict, grid: tuple[int, int] | None, max_duration: float | None, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.cnn = load_extractor(extractor, weights, device, batch_size)
        if self.cnn.weights_sha256 != weights_sha256:
            raise CheckpointError(f"{weights} on node {os.uname().nodename} is not the driver's weights file (sha256 "
                                  f"{self.cnn.weights_sha256[:12]} != {weights_sha256[:12]}): give every node the "
                                  "same file at the same path")
        self.sampling = Sampling.from_dict(sampling)
        self.grid = tuple(grid) if grid else None
        self.max_duration = max_duration

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        todo = zip(batch["path"].tolist(), batch["video_id"].tolist())
        outcomes = list(extract_videos(todo, self.cnn, self.sampling, self.grid, self.max_duration))
        # one video's frames are a ragged array: they travel as raw float32 bytes beside their frame count
        return {"path": [o.path for o in outcomes],
                "video_id": [o.video_id for o in outcomes],
                "error": [o.error or "" for o in outcomes],
                "num_frames": [0 if o.features is None else len(o.features) for o in outcomes],
                "features": [b"" if o.features is None else o.features.astype(np.float32).tobytes()
                             for o in outcomes],
                "regions": [b"" if o.regions is None else o.regions.astype(np.float32).tobytes() for o in outcomes],
                "decode_seconds": [o.decode_seconds for o in outcomes],
                "extract_seconds": [o.extract_seconds for o in outcomes]}


def _outcome(row: dict, dim: int, grid: tuple[int, int] | None) -> ClipOutcome:
    """A row of ClipBatchExtractor's output -> the ClipOutcome that extract_videos yielded in the actor."""
    common = {"path": row["path"], "video_id": row["video_id"], "decode_seconds": float(row["decode_seconds"]),
              "extract_seconds": float(row["extract_seconds"])}
    if row["error"]:
        return ClipOutcome(features=None, regions=None, error=row["error"], **common)
    n = int(row["num_frames"])
    features = np.frombuffer(row["features"], np.float32).reshape(n, dim)                   # (n, dim)
    regions = None
    if grid:
        regions = np.frombuffer(row["regions"], np.float32).reshape(n, grid[0] * grid[1], dim)   # (n, cells, dim)
    return ClipOutcome(features=features, regions=regions, **common)


def _connect(address: str | None) -> bool:
    """Join the cluster at `address`, or start one here (None); True when this call started or joined Ray (and its
    caller shuts it down). A process that already runs Ray (a notebook, a test) keeps its own connection."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")      # nothing leaves the machine unasked
    try:
        if address is None:
            ray.init(include_dashboard=False)
        else:
            ray.init(address=address)
    except (ConnectionError, ValueError, RuntimeError) as err:
        where = "a Ray cluster on this machine" if address is None else f"the Ray cluster at {address}"
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise HGRError(f"cannot start or join {where}: {reason}. For --address auto start one first (`ray start "
                       "--head`); for ray://HOST:PORT check the head's client port (10001)") from err
    return True


def extract_on_ray(todo: list[tuple[Path, str]], cnn: FrameExtractor, sampling: Sampling,
                   grid: tuple[int, int] | None, max_duration: float | None, device: str,
                   address: str | None) -> Iterator[ClipOutcome]:
    """The outcomes of `extract_videos` over `todo`, run by a pool of Ray Data actors; in completion order.
    `cnn`: the driver's extractor, whose weights file (same path, same sha256) every actor loads."""
    if not todo:
        return
    import ray
    import ray.data

    owns_connection = _connect(address)
    try:
        plan = plan_actors(ray.cluster_resources(), device, len(todo))
        per_batch = max(1, min(VIDEOS_PER_BATCH, len(todo) // (CALLS_PER_ACTOR * plan.actors)))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False                   # the indexer shows its own
        items = [{"path": str(path), "video_id": vid} for path, vid in todo]
        dataset = ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / per_batch))
        settings = {"extractor": cnn.spec.name, "weights": cnn.weights, "weights_sha256": cnn.weights_sha256,
                    "device": device, "batch_size": cnn.batch_size, "sampling": sampling.to_dict(),
                    "grid": grid, "max_duration": max_duration, "threads": int(plan.cpus)}
        dataset = dataset.map_batches(ClipBatchExtractor, fn_constructor_kwargs=settings, batch_size=per_batch,
                                      batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=plan.actors),
                                      num_cpus=plan.cpus, num_gpus=plan.gpus or None)
        try:
            for row in dataset.iter_rows():
                yield _outcome(row, cnn.spec.dim, grid)
        except Exception as err:       # an actor's failure (weights missing on a node, out of memory), Ray's own
            last = next((line for line in reversed(str(err).strip().splitlines()) if line.strip()), repr(err))
            raise HGRError(f"the Ray indexing job failed: {last.strip()[:500]}. Every video reported done is kept; "
                           "re-run the same command to resume") from err
    finally:
        if owns_connection:
            ray.shutdown()
