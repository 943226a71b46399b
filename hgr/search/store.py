"""The on-disk frame store: a collection's encoded video side (`VideoIndex`) and first-stage keys kept in
memory-mapped files beside the index cache, so that a search holds in RAM only the first-stage keys and the videos
it is scoring (issue 18, item 1: re-rank from disk; exact search streams the store in chunks).

    <cache>/index-all-<digest>.frames/        one folder per collection, checkpoint and set of videos
        store.json                            fields, shapes, dtypes, byte sizes, CRC-32 per block, the key it is for
        event.bin       [n, D]    float32     event vectors
        actions.bin     [n, F, D] float16     action frame embeddings (float32 or int8 when asked)
        actions_scale.bin [n, F]  float32     int8 only: the scale of each frame row (frame = int8 * scale)
        actions_inv.bin [n, F]    float32     1 / |v_f|, of the encoder's float32 frames (`FrameStats`)
        actions_gram.bin [n, F, F] float32    Gram matrices v_f . v_g (`FrameStats`)
        entities*.bin                         the same for the entity level
        mask.bin        [n, F]    bool        real frames
        keys.bin        [n, 3D]   float16     first-stage keys (`keys.video_keys`; float32 below HALF_KEYS_FROM)

Written once, in order, into a temporary folder renamed into place when complete; a store for another checkpoint,
other videos or other features has another digest in its name (like the .pt cache) and the one it supersedes is
removed. Opening checks the file sizes against store.json (a truncated file is reported, never read) and, up to
`VERIFY_ON_OPEN_BYTES`, every block's CRC-32; `FrameStore.verify` checks a larger one on demand.

The mapped pages a search touches are dropped from the process after each query or chunk (`release`): they stay in
the kernel's page cache (warm queries stay fast) but do not count in the searching process's resident memory.
"""
from __future__ import annotations

import json
import mmap
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hgr.errors import HGRError
from hgr.model import VideoIndex
from hgr.model.matching import FrameStats
from hgr.search.exact import pad_index, store_frames
from hgr.search.keys import HALF_KEYS_FROM, video_keys

FORMAT = "hgr-frame-store"
VERSION = 1
META = "store.json"
# videos per CRC-32 block: a damaged block is named by its videos
BLOCK_VIDEOS = 1024
# stores up to this size are checked block by block every time they are opened (the demo's: milliseconds)
VERIFY_ON_OPEN_BYTES = 1 << 30
STORE_DTYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8}
TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8, "bool": torch.bool}
INT8_LEVELS = 127.0


class StoreError(HGRError):
    """The frame store on disk is damaged, incomplete or for other inputs."""


class StaleStoreError(StoreError):
    """A whole frame store, made for another checkpoint, other videos or other features."""


def store_path(cache: str | Path) -> Path:
    """The store folder beside the index cache file `cache` (`index_cache_path`): same name, `.frames`."""
    cache = Path(cache)
    return cache.with_name(cache.name.removesuffix(".pt") + ".frames")


def dtype_name(dtype: torch.dtype) -> str:
    name = str(dtype).replace("torch.", "")
    if name not in STORE_DTYPES:
        raise HGRError(f"the frame store keeps frames in {', '.join(STORE_DTYPES)}, not {name}")
    return name


@dataclass(frozen=True)
class Layout:
    """The shapes of one video's rows in each field file."""
    frames: int          # F, frames per video (padded)
    dim: int             # D, joint embedding size
    storage: str         # frame dtype name: float32, float16 or int8
    key_dtype: str       # float32 or float16

    def fields(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        f, d = self.frames, self.dim
        out = {"event": ((d,), np.dtype(np.float32))}
        for level in ("actions", "entities"):
            out[level] = ((f, d), np.dtype(STORE_DTYPES[self.storage]))
            if self.storage == "int8":
                out[f"{level}_scale"] = ((f,), np.dtype(np.float32))
            out[f"{level}_inv"] = ((f,), np.dtype(np.float32))
            out[f"{level}_gram"] = ((f, f), np.dtype(np.float32))
        out["mask"] = ((f,), np.dtype(np.bool_))
        out["keys"] = ((3 * d,), np.dtype(STORE_DTYPES[self.key_dtype]))
        return out

    def bytes_per_video(self) -> int:
        return sum(int(np.prod(shape)) * dtype.itemsize for shape, dtype in self.fields().values())


def quantize_int8(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per frame row: frames [B, F, D] -> (int8 [B, F, D], scale [B, F]); frame ~= int8 * scale."""
    scale = frames.abs().amax(-1).float() / INT8_LEVELS                               # [B, F]
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.round(frames.float() / safe[..., None]).clamp(-INT8_LEVELS, INT8_LEVELS).to(torch.int8), scale


def stored_frames(index: VideoIndex, storage: str) -> VideoIndex:
    """A copy of `index` whose frames are what a store of `storage` frames reads back (int8: quantized, widened)."""
    kept = index.to()                                                  # new FrameStats: `index` is left as it is
    if storage != "int8":
        return store_frames(kept, getattr(torch, storage))
    for stats in (kept.actions, kept.entities):
        quantized, scale = quantize_int8(stats.frames)
        stats.frames = quantized.float() * scale[..., None]
    return kept


class StoreWriter:
    """Writes a store in video order, chunk by chunk (`append`), into a temporary folder that `finish` renames into
    place; nothing of a store that was not finished is ever opened."""

    def __init__(self, path: str | Path, layout: Layout, videos: int, key: str) -> None:
        self.path, self.layout, self.videos, self.key = Path(path), layout, videos, key
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.fields = layout.fields()
        self.files = {name: open(self.tmp / f"{name}.bin", "wb") for name in self.fields}
        self.crcs: dict[str, list[int]] = {name: [] for name in self.fields}
        self.written = 0
        self.width = 0                                            # the longest video's real frames

    def append(self, index: VideoIndex) -> None:
        """Videos `written ... written + len` of the store: their encoded side, as the encoder gives it (float32).
        Their first-stage keys are computed here from the frames as the store will give them back."""
        keys = video_keys(stored_frames(index, self.layout.storage)).to(getattr(torch, self.layout.key_dtype))
        self.width = max(self.width, int(index.actions.mask.sum(1).max())) if len(index.event) else self.width
        index = pad_index(index, self.layout.frames)
        arrays = {"event": index.event, "mask": index.actions.mask, "keys": keys}
        for level, stats in (("actions", index.actions), ("entities", index.entities)):
            if self.layout.storage == "int8":
                arrays[level], arrays[f"{level}_scale"] = quantize_int8(stats.frames)
            else:
                arrays[level] = stats.frames
            arrays[f"{level}_inv"], arrays[f"{level}_gram"] = stats.inv_norms, stats.gram
        n = index.event.shape[0]
        if self.written + n > self.videos:
            raise StoreError(f"{self.path}: more videos appended than the {self.videos} it was made for")
        for name, (shape, dtype) in self.fields.items():
            tensor = arrays[name].detach().cpu().to(TORCH_DTYPES[dtype.name])     # torch narrows faster than numpy
            data = tensor.numpy()
            if data.shape != (n, *shape):
                raise StoreError(f"{self.path}: field {name} of shape {data.shape}, expected {(n, *shape)}")
            self._write(name, np.ascontiguousarray(data))
        self.written += n

    def _write(self, name: str, data: np.ndarray) -> None:
        """Write rows, keeping a running CRC-32 per block of `BLOCK_VIDEOS` videos."""
        crcs, lo = self.crcs[name], 0
        while lo < len(data):
            offset = (self.written + lo) % BLOCK_VIDEOS
            if offset == 0:
                crcs.append(0)
            hi = min(len(data), lo + BLOCK_VIDEOS - offset)
            crcs[-1] = zlib.crc32(data[lo:hi], crcs[-1])
            lo = hi
        self.files[name].write(data)

    def finish(self) -> FrameStore:
        """Close the files, write store.json last, rename the folder into place and open it."""
        if self.written != self.videos:
            raise StoreError(f"{self.path}: {self.written} videos written of {self.videos}")
        for f in self.files.values():
            f.close()
        meta = {"format": FORMAT, "version": VERSION, "key": self.key, "videos": self.videos,
                "frames": self.layout.frames, "dim": self.layout.dim, "storage": self.layout.storage,
                "key_dtype": self.layout.key_dtype, "block_videos": BLOCK_VIDEOS, "width": self.width,
                "fields": {name: {"bytes": (self.tmp / f"{name}.bin").stat().st_size, "crc32": self.crcs[name]}
                           for name in self.fields}}
        (self.tmp / META).write_text(json.dumps(meta))
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
        return FrameStore.open(self.path, self.key)

    def abort(self) -> None:
        for f in self.files.values():
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class FrameStore:
    """An opened store: every field memory-mapped (copy-on-write, never written back), read as torch tensors."""

    def __init__(self, path: Path, meta: dict) -> None:
        self.path, self.meta = path, meta
        self.videos = int(meta["videos"])
        self.layout = Layout(int(meta["frames"]), int(meta["dim"]), meta["storage"], meta["key_dtype"])
        self.width = int(meta["width"])      # frames are read this wide: as wide as the index held in RAM would be
        self._maps: dict[str, mmap.mmap] = {}
        self.fields: dict[str, torch.Tensor] = {}
        for name, (shape, dtype) in self.layout.fields().items():
            size = self.videos * int(np.prod(shape)) * dtype.itemsize
            if size == 0:
                self.fields[name] = torch.from_numpy(np.zeros((0, *shape), dtype))
                continue
            with open(path / f"{name}.bin", "rb") as f:
                self._maps[name] = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
            array = np.frombuffer(self._maps[name], dtype=dtype).reshape(self.videos, *shape)
            self.fields[name] = torch.from_numpy(array)

    # ---------------------------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, key: str, videos: int | None = None) -> FrameStore:
        """Open the store at `path` made for `key` (and `videos` videos); StoreError when it is for other inputs,
        incomplete, truncated or (up to `VERIFY_ON_OPEN_BYTES`) damaged."""
        path = Path(path)
        meta_path = path / META
        if not meta_path.is_file():
            raise StoreError(f"{path}: no {META}; the store was not finished: delete the folder to rebuild it")
        try:
            meta = json.loads(meta_path.read_text())
            layout = Layout(int(meta["frames"]), int(meta["dim"]), meta["storage"], meta["key_dtype"])
            fields = layout.fields()
            if meta.get("format") != FORMAT or meta.get("version") != VERSION or set(meta["fields"]) != set(fields):
                raise ValueError("not this version's frame store")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise StoreError(f"{meta_path}: unreadable frame store description ({err}); delete the folder to rebuild "
                             "it") from err
        if meta["key"] != key or videos is not None and int(meta["videos"]) != videos:
            raise StaleStoreError(f"{path}: a frame store for other inputs (checkpoint, videos or features)")
        for name, (shape, dtype) in fields.items():
            want = int(meta["videos"]) * int(np.prod(shape)) * dtype.itemsize
            file = path / f"{name}.bin"
            have = file.stat().st_size if file.is_file() else None
            if have != want or meta["fields"][name]["bytes"] != want:
                raise StoreError(f"{file}: {have if have is not None else 'missing'} bytes, expected {want} "
                                 f"({meta['videos']} videos); the store is truncated or damaged: delete {path} to "
                                 "rebuild it")
        store = cls(path, meta)
        if store.nbytes() <= VERIFY_ON_OPEN_BYTES:
            store.verify()
        return store

    def verify(self) -> None:
        """Check every block of every field against its CRC-32 (reads the whole store); StoreError naming the first
        damaged block."""
        block = int(self.meta["block_videos"])
        for name, tensor in self.fields.items():
            crcs = self.meta["fields"][name]["crc32"]
            array = tensor.numpy()
            for b, start in enumerate(range(0, self.videos, block)):
                if b >= len(crcs) or zlib.crc32(np.ascontiguousarray(array[start:start + block])) != crcs[b]:
                    last = min(start + block, self.videos) - 1
                    raise StoreError(f"{self.path / (name + '.bin')}: videos {start}-{last} do not match their "
                                     f"checksum; the store is damaged: delete {self.path} to rebuild it")
            self.release()

    def nbytes(self) -> int:
        return self.videos * self.layout.bytes_per_video()

    # ---------------------------------------------------------------------------------------------- reading
    @property
    def quantized(self) -> bool:
        return self.layout.storage == "int8"

    @property
    def keys(self) -> torch.Tensor:
        """First-stage keys [n, 3D] (mapped, not read until used)."""
        return self.fields["keys"]

    def _level(self, level: str, rows) -> FrameStats:
        w = self.width
        frames = self.fields[level][rows][:, :w]
        if self.quantized:
            frames = frames.float() * self.fields[f"{level}_scale"][rows][:, :w, None]       # [B, W, D]
        return FrameStats(frames, self.fields[f"{level}_inv"][rows][:, :w],
                          self.fields[f"{level}_gram"][rows][:, :w, :w], self.fields["mask"][rows][:, :w])

    def rows(self, rows: slice | torch.Tensor) -> VideoIndex:
        """Videos `rows`: a slice gives views of the mapped files (read as they are used), rows a copy; int8 frames
        come back widened to float32."""
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu()
        return VideoIndex(self.fields["event"][rows], self._level("actions", rows), self._level("entities", rows))

    def whole(self) -> VideoIndex:
        """Every video as views of the mapped files (float stores; an int8 store would need widening all of it)."""
        if self.quantized:
            raise HGRError(f"{self.path}: an int8 frame store serves search only; Similar clips and the Compare view "
                           "read every video's frames: use float16 storage for them")
        return self.rows(slice(None))

    def gather(self, rows: torch.Tensor, out: dict[str, torch.Tensor]) -> VideoIndex:
        """Videos `rows` [B] copied into the buffers `out` (field -> tensor of at least B rows, reused between
        calls) without allocating; int8 frames are widened into float32 buffers."""
        n, rows = len(rows), rows.cpu()
        t = {}
        for name, field in self.fields.items():
            if name == "keys":
                continue
            dtype = torch.float32 if self.quantized and name in ("actions", "entities") else field.dtype
            if name not in out or len(out[name]) < n or out[name].shape[1:] != field.shape[1:] \
                    or out[name].dtype != dtype:
                out[name] = torch.empty(max(n, 1), *field.shape[1:], dtype=dtype)
            if dtype == field.dtype:
                t[name] = torch.index_select(field, 0, rows, out=out[name][:n])
            else:
                t[name] = out[name][:n].copy_(torch.index_select(field, 0, rows))
        if self.quantized:
            for level in ("actions", "entities"):
                t[level].mul_(t[f"{level}_scale"][..., None])
        w = self.width
        return VideoIndex(t["event"], *(FrameStats(t[level][:, :w], t[f"{level}_inv"][:, :w],
                                                   t[f"{level}_gram"][:, :w, :w], t["mask"][:, :w])
                                        for level in ("actions", "entities")))

    def release(self) -> None:
        """Drop the mapped pages from this process (they stay in the page cache, and are read again when used)."""
        for m in self._maps.values():
            m.madvise(mmap.MADV_DONTNEED)


def open_or_none(path: Path, key: str, videos: int) -> FrameStore | None:
    """The store at `path` when it is there and valid for `key`, else None (a damaged one is reported, then
    rebuilt by the caller, like an unreadable cache file)."""
    if not path.exists():
        return None
    try:
        return FrameStore.open(path, key, videos)
    except StaleStoreError:
        return None                                    # superseded: rebuilt and replaced, as a stale cache file is
    except StoreError as err:
        import warnings

        warnings.warn(f"{err}; building it again", stacklevel=2)
        return None


def remove_superseded(path: Path) -> None:
    """Remove the stores this one supersedes: same kind and videos (`index-all-`), another digest."""
    stem = path.name.rsplit("-", 1)[0]
    for other in path.parent.glob(f"{stem}-*.frames"):
        if other != path and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)


def key_dtype_for(videos: int) -> str:
    """First-stage keys are stored as the key index keeps them: float16 from `HALF_KEYS_FROM`, float32 below."""
    return "float16" if videos >= HALF_KEYS_FROM else "float32"
