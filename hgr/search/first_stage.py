"""The first stage of two-stage search behind one seam (issue 18, item 2): the candidate pool comes from the key index
in this process (the default, `keys.key_index_of`: FAISS, or a float16 key scan from 50,000 videos) or from a
Milvus collection of the same first-stage keys.

    Searcher(..., vector_db="milvus://HOST:PORT")                  # a Milvus server or cluster
    Searcher(..., vector_db="COLLECTION/cache/first-stage.db")     # Milvus Lite, embedded, one local folder
    hgr search "a dog chases a cat" --search two-stage --vector-db COLLECTION/cache/first-stage.db

The same pymilvus `MilvusClient` code serves a server, a cluster and Milvus Lite. The Milvus collection holds one
entity per video: `row` (INT64 primary key: the video's row in the Searcher) and `key` (FLOAT_VECTOR [3D],
`keys.video_keys`), searched by inner product (IP), as FAISS does. Its name is a digest of what the keys depend on
(checkpoint, videos, features, frame dtype: the frame store's or index cache's key), so a collection made for
other keys is never searched. It is built from `Searcher.first_stage_keys()` in row order, `INSERT_ROWS` at a time
(float16 keys of a frame store widened one batch at a time), and a build that stopped part way resumes after the
rows already there. The index and its search parameters follow the collection's size (`index_plan`); the pool is
re-ranked exactly as with the default. docs/scale.md, section 3, says why, and what was tested only against Milvus Lite.
"""
from __future__ import annotations

import hashlib
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
import torch

from hgr.errors import HGRError
from hgr.search.keys import key_index_of, nearest

if TYPE_CHECKING:
    from hgr.search.searcher import Searcher

# entities inserted at once: 2,048 keys of 3 x 1,024 float32 are 25 MB, under Milvus's 64 MB limit on one insert,
# and the float32 copy of a frame store's float16 keys never exceeds one batch
INSERT_ROWS = 2048
# collections at least this large get an IVF_FLAT index; below, FLAT (exact, like the default first stage). A flat
# scan reads every key each query (12 KB a video in float32 at official dims: 2.4 GB a query at 200,000 videos).
# Measured (benchmarks/ivf_recall.py, docs/scale.md section 3): at 100,000 and 200,000 videos IVF_FLAT with
# nlist = 4 sqrt(n) keeps the true top 10 in the pool for 0.72 of them at nprobe = nlist / 8 and 0.91 at nlist / 2;
# only every list probed (a flat scan) reaches 0.99. A caption's key mixes concepts that no one video cluster holds,
# so its neighbours are spread over many lists. So FLAT up to a million videos (12 GB of keys read a query, spread
# over a cluster's query nodes); past it a flat scan is no longer affordable and IVF_FLAT is the fallback
IVF_FROM = 1_000_000
# Milvus returns at most this many entities a search (its documented topk limit)
MAX_CANDIDATES = 16_384
# seconds to wait for a Milvus server before reporting it unreachable
CONNECT_TIMEOUT_S = 10.0
DEFAULT_PORT = 19530
ID_FIELD = "row"
VECTOR_FIELD = "key"
# bumped when the collection's layout changes, so that older collections are not reused
LAYOUT_VERSION = 1
# reads see every write of this client at once (read your own writes: the process that built the collection
# searches it at once), others see the flushed and loaded collection without waiting for a time tick as Strong does
CONSISTENCY = "Session"
HELP = ("Give --vector-db milvus://HOST:PORT for a Milvus server or cluster, a Milvus Lite path ending in .db (e.g. "
        "COLLECTION/cache/first-stage.db), or leave it out for the FAISS first stage")


@dataclass(frozen=True)
class IndexPlan:
    """The Milvus index of the keys and the parameters it is searched with, chosen by the collection's size."""
    index_type: str                  # FLAT or IVF_FLAT
    build: dict                      # index parameters (IVF_FLAT: nlist, the k-means clusters)
    search: dict                     # search parameters (IVF_FLAT: nprobe, the clusters scanned per query)

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in {**self.build, **self.search}.items())
        return self.index_type + (f" ({params})" if params else "")


def index_plan(videos: int) -> IndexPlan:
    """FLAT below `IVF_FROM` videos: exact, the same candidates as the default first stage (IVF_FLAT lost the true
    top 10 at 100,000 and 200,000 videos unless every list was probed: see `IVF_FROM`). From there IVF_FLAT (no
    compression, like FAISS's keys) with nlist = 4 sqrt(n) clusters, Milvus's documented starting point, and
    nprobe = nlist / 2, the widest setting that still skips lists; untested at that size. The pool is calibrated
    against exact ranking through this first stage (`Searcher.choose_pool`), and a first stage that never reaches
    0.99 makes the collection searched exactly, said on the start-up line (`planning.calibrated`), never silently."""
    if videos < IVF_FROM:
        return IndexPlan("FLAT", {}, {})
    nlist = int(4 * math.sqrt(videos))
    return IndexPlan("IVF_FLAT", {"nlist": nlist}, {"nprobe": max(1, nlist // 2)})


# ------------------------------------------------------------------------------------------------ the seam
class LocalFirstStage:
    """The default first stage, in this process over every key (`keys.key_index_of`): a FAISS flat index, or from
    `HALF_KEYS_FROM` videos (and on a GPU) a scan of the keys in torch."""

    def build(self, searcher: Searcher):
        return key_index_of(searcher.first_stage_keys())                   # keys [n_vid, 3D]

    def nearest(self, index, query: torch.Tensor, k: int, device: torch.device) -> torch.Tensor:
        return nearest(index, query, k, device)

    def describe(self, index) -> str:
        if isinstance(index, torch.Tensor):
            return f"key scan in torch ({str(index.dtype).removeprefix('torch.')}, {index.device.type})"
        return "FAISS " + type(index).__name__


def first_stage_for(vector_db: str | Path | None):
    """The first stage `--vector-db` names: the key index in this process when None (or empty), else Milvus at
    that URI or Lite path."""
    if vector_db is None or str(vector_db) == "":
        return LocalFirstStage()
    return MilvusFirstStage(vector_db)


@dataclass
class MilvusKeys:
    """A built, loaded Milvus collection of a Searcher's keys: what `MilvusFirstStage.nearest` searches."""
    client: object                   # pymilvus.MilvusClient
    name: str                        # the collection
    videos: int
    plan: IndexPlan
    where: str                       # the URI or Lite path, as given


class MilvusFirstStage:
    """The first stage in a Milvus collection (`MilvusClient`): a server or cluster at milvus://HOST:PORT, or
    Milvus Lite at a local path ending in .db. The URI is checked here; the server is reached on `build`."""

    def __init__(self, vector_db: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.where = str(vector_db)
        self.uri, self.token = parse_vector_db(self.where)
        self.lite = self.token is None
        self.log = log or (lambda message: print(message, file=sys.stderr))

    # ------------------------------------------------------------------------------------------ connecting
    def connect(self):
        """A MilvusClient for this URI; HGRError saying what to do when the server cannot be reached or Milvus Lite
        cannot open its folder."""
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        try:
            if self.lite:
                return MilvusClient(self.uri)
            return MilvusClient(uri=self.uri, token=self.token, timeout=CONNECT_TIMEOUT_S)
        except MilvusException as err:
            detail = getattr(err, "message", None) or str(err)
            if self.lite:
                raise HGRError(f"--vector-db {self.where}: Milvus Lite could not open it ({detail}); it may be in "
                               "use by another process (Milvus Lite serves one process at a time): stop that "
                               f"process, give another path, or use a Milvus server. {HELP}") from None
            raise HGRError(f"--vector-db {self.where}: cannot reach a Milvus server there within "
                           f"{CONNECT_TIMEOUT_S:.0f} s ({detail}); start it or check the host and port. "
                           f"{HELP}") from None

    # ------------------------------------------------------------------------------------------ building
    def build(self, searcher: Searcher) -> MilvusKeys:
        """The collection of `searcher`'s keys: created, filled (resuming a partial build), indexed and loaded."""
        client = self.connect()
        name = collection_name(searcher)
        videos = len(searcher.video_ids)
        plan = index_plan(videos)
        keys = searcher.first_stage_keys()                                   # [n_vid, 3D], mapped or in RAM
        dim = int(keys.shape[1])
        start = time.perf_counter()
        if client.has_collection(name) and _dim_of(client, name) != dim:
            client.drop_collection(name)                                     # not this layout: made again
        if not client.has_collection(name):
            _create(client, name, dim)
        # indexed and loaded before anything is counted or inserted: a Milvus server answers a query (the counts
        # that decide whether to resume) only on a loaded collection, and loads only an indexed one (Milvus Lite
        # asks for neither). A loaded collection takes inserts; Milvus indexes each segment as it seals
        _index_and_load(client, name, plan)
        present = count(client, name)
        if present < videos:
            resumed = complete_prefix(client, name, present)
            inserted = insert_keys(client, name, keys, resumed, videos,
                                   searcher.frame_store.release if searcher.on_disk else None)
            client.flush(name)
            self.log(f"first stage: inserted {inserted:,} of {videos:,} keys into Milvus collection {name} at "
                     f"{self.where}" + (f", resumed from {resumed:,}" if resumed else "")
                     + f" ({time.perf_counter() - start:.1f} s)")
        elif present > videos:
            raise HGRError(f"Milvus collection {name} at {self.where} holds {present:,} entities for {videos:,} "
                           f"videos (written by something else?): drop it (MilvusClient.drop_collection) and "
                           "search again to rebuild it")
        return MilvusKeys(client, name, videos, plan, self.where)

    # ------------------------------------------------------------------------------------------ searching
    def nearest(self, index: MilvusKeys, query: torch.Tensor, k: int, device: torch.device) -> torch.Tensor:
        """Rows [<= k] of the videos whose keys best match one caption key [1, 3D], best first."""
        if k > MAX_CANDIDATES:
            raise HGRError(f"Milvus returns at most {MAX_CANDIDATES:,} candidates a search, and the two-stage "
                           f"pool is {k:,}: give --pool {MAX_CANDIDATES} or less, or leave --vector-db out")
        hits = index.client.search(index.name, data=[query[0].float().cpu().numpy()], anns_field=VECTOR_FIELD,
                                   limit=k, search_params={"metric_type": "IP", "params": index.plan.search},
                                   output_fields=[])[0]
        # best first (IP: highest). The primary key comes back under its field name from Milvus Lite and newer
        # servers, under "id" from servers that do not send its name (Milvus 2.3)
        rows = [hit[ID_FIELD] if ID_FIELD in hit else hit["id"] for hit in hits]
        return torch.tensor(rows, dtype=torch.int64, device=device)

    def describe(self, index: MilvusKeys) -> str:
        kind = "Milvus Lite" if self.lite else "Milvus"
        return f"{kind} {index.plan.describe()}, collection {index.name} at {index.where}"


# ------------------------------------------------------------------------------------------------ parts
def parse_vector_db(vector_db: str) -> tuple[str, str | None]:
    """(the URI MilvusClient takes, its token or None for Milvus Lite) of a --vector-db value; HGRError for an
    unknown scheme or a Lite path that cannot be written."""
    text = vector_db.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() != "milvus":
            raise HGRError(f"--vector-db {vector_db}: unknown scheme {parts.scheme!r}. {HELP}")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise HGRError(f"--vector-db {vector_db}: the port is not a number. {HELP}") from None
        if not parts.hostname:
            raise HGRError(f"--vector-db {vector_db}: no host. {HELP}")
        token = f"{parts.username}:{parts.password or ''}" if parts.username else ""
        return f"http://{parts.hostname}:{port}", token
    path = Path(text).expanduser()
    if path.suffix != ".db":
        raise HGRError(f"--vector-db {vector_db}: neither milvus://HOST:PORT nor a Milvus Lite path ending in .db. "
                       f"{HELP}")
    if path.exists() and not path.is_dir():
        raise HGRError(f"--vector-db {vector_db}: a file, not a Milvus Lite database (Milvus Lite keeps a folder "
                       f"there): give another path. {HELP}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".{path.name}.probe"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise HGRError(f"--vector-db {vector_db}: cannot write there ({err.strerror or err}): give a writable "
                       f"path. {HELP}") from None
    return str(path.resolve()), None


def collection_name(searcher: Searcher) -> str:
    """`hgr_keys_<digest>`: the digest of what the keys depend on. A frame store's key (checkpoint, videos,
    features, frame dtype) with its size and key dtype; else the index cache's (`Searcher._store_key`, the same
    inputs); a Searcher with no cache path hashes the keys themselves."""
    digest = hashlib.sha256(f"hgr first-stage keys v{LAYOUT_VERSION}\n{len(searcher.video_ids)}\n".encode())
    if searcher.on_disk:
        store = searcher.frame_store
        digest.update(f"store\n{store.meta['key']}\n{store.layout.storage}\n{store.layout.key_dtype}".encode())
    elif searcher.cache is not None:
        digest.update(f"cache\n{searcher._store_key()}".encode())
    else:
        keys = searcher.first_stage_keys()
        for start in range(0, len(keys), INSERT_ROWS):
            digest.update(np.ascontiguousarray(keys[start:start + INSERT_ROWS].cpu().numpy()).tobytes())
    return f"hgr_keys_{digest.hexdigest()[:24]}"


def _create(client, name: str, dim: int) -> None:
    """The collection's schema, Milvus's way: an INT64 primary key we assign (the Searcher's row, so a resumed
    build knows what is there) and a FLOAT_VECTOR; no dynamic fields. Indexed and loaded next (`_index_and_load`)."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                        description="hgr first-stage keys: row = the video's row in the Searcher")
    schema.add_field(field_name=ID_FIELD, datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name=VECTOR_FIELD, datatype=DataType.FLOAT_VECTOR, dim=dim)
    client.create_collection(name, schema=schema, consistency_level=CONSISTENCY)


def _index_and_load(client, name: str, plan: IndexPlan) -> None:
    """The vector index of `plan` made if the collection has none yet, then the collection loaded (a no-op when
    it is)."""
    if not client.list_indexes(name, field_name=VECTOR_FIELD):
        index_params = client.prepare_index_params()
        # build parameters flattened (Milvus's documented form, what pymilvus 3 sends a server) and again as the
        # older JSON "params" entry: Milvus Lite 3.2.2 reads only that one (flattened ones are dropped there, nlist
        # falling back to 128)
        index_params.add_index(field_name=VECTOR_FIELD, index_type=plan.index_type, metric_type="IP",
                               params={**plan.build, "params": plan.build} if plan.build else {})
        client.create_index(name, index_params)
    client.load_collection(name)


def _dim_of(client, name: str) -> int | None:
    for field in client.describe_collection(name).get("fields", []):
        if field.get("name") == VECTOR_FIELD:
            return int(field.get("params", {}).get("dim", 0))
    return None


def count(client, name: str, where: str = "") -> int:
    """Entities of the collection (matching `where`), read with Strong consistency: every write so far counted."""
    rows = client.query(name, filter=where, output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"])


def complete_prefix(client, name: str, present: int) -> int:
    """The rows 0 ... m - 1 that are all there (`present` entities in all), the rest of a batch that was cut short
    deleted: a build resumes from m without duplicating a row. Batches go in row order, so only the last one can
    be partial; m is found by bisection on counts."""
    if present == 0 or count(client, name, f"{ID_FIELD} < {present}") == present:
        return present
    low, high = 0, present                                   # count(row < low) == low, count(row < high) < high
    while high - low > 1:
        mid = (low + high) // 2
        if count(client, name, f"{ID_FIELD} < {mid}") == mid:
            low = mid
        else:
            high = mid
    client.delete(name, filter=f"{ID_FIELD} >= {low}")
    return low


def insert_keys(client, name: str, keys: torch.Tensor, start: int, stop: int,
                release: Callable[[], None] | None = None) -> int:
    """Insert rows `start ... stop - 1` of `keys` [n, 3D] in order, `INSERT_ROWS` at a time, each batch widened to
    float32 on its own (a frame store's mapped pages dropped after each, `release`). Returns the rows inserted."""
    for first in range(start, stop, INSERT_ROWS):
        part = np.ascontiguousarray(keys[first:min(first + INSERT_ROWS, stop)].float().cpu().numpy())  # [b, 3D]
        client.insert(name, [{ID_FIELD: first + i, VECTOR_FIELD: vector} for i, vector in enumerate(part)])
        if release is not None:
            release()
    return stop - start


def lite_bytes(path: str | Path) -> int:
    """Bytes on disk of a Milvus Lite database (a folder)."""
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def use_in_benchmark(searcher: Searcher, workdir: str | Path) -> str:
    """Set `searcher`'s first stage to Milvus Lite in `workdir` (a fresh database: the caller times this call as
    the first stage's build) and build it; returns a note on it (index, bytes on disk). The database is removed
    when the process exits."""
    path = Path(workdir) / f"first-stage-{len(searcher.video_ids)}.db"
    shutil.rmtree(path, ignore_errors=True)
    searcher.use_vector_db(path)
    index = searcher.key_index()
    from milvus_lite.server_manager import server_manager_instance

    # Milvus Lite merges segments and indexes the merged ones on a background thread after flushes: waited for
    # here, so the build time includes it and no timed query runs beside it (a private hook of Milvus Lite 3.2)
    _, lite, _ = server_manager_instance._servers[str(path.resolve())]
    lite.get_collection(index.name)._wait_for_bg()
    note = f"{searcher.first_stage.describe(index)}, {lite_bytes(path) / 1e6:.0f} MB on disk"

    def remove() -> None:
        server_manager_instance.release_server(str(path.resolve()))
        shutil.rmtree(path, ignore_errors=True)

    import atexit

    atexit.register(remove)
    return note
