"""First-stage keys of two-stage search: one vector per video and per caption whose dot product is Eq. 13 with
the frame attention of Eq. 12 made uniform, and the index over the video keys that gives the candidate pool."""
from __future__ import annotations

import numpy as np
import torch

from hgr.model import TextEmbedding, VideoIndex
from hgr.model.matching import FrameStats

# collections at least this large keep their first-stage keys in float16 (half the memory and the reads of the
# flat scan; measured: an HNSW graph over these keys lost recall@10 at 20,000 videos and took minutes to build)
HALF_KEYS_FROM = 50_000
# videos whose frames are pooled into first-stage keys at once (bounds the float32 copy of half-precision frames)
KEY_VIDEOS_PER_CHUNK = 1024


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


def key_index_of(keys: torch.Tensor):
    """The index over video keys [n_vid, 3D] that `nearest` scans: below `HALF_KEYS_FROM` videos on the CPU, a FAISS
    flat inner-product index; from there, and on a GPU, the keys themselves as a tensor on their device (float16 on
    the CPU, copied into RAM: a frame store's are mapped), scanned with one matrix-vector product. On the CPU that
    product runs on torch's threads, where FAISS scans one query on one thread: 42 ms against 79 ms for FAISS's
    float16 scalar quantizer over 200,000 keys on two AVX2 cores (its only other difference: the scores it ranks
    are rounded to float16)."""
    if keys.device.type != "cpu":
        return keys
    if len(keys) >= HALF_KEYS_FROM:
        return torch.empty(keys.shape, dtype=torch.float16).copy_(keys)
    import faiss

    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(np.ascontiguousarray(keys.float().numpy()))
    return index


def nearest(index, query: torch.Tensor, k: int, device: torch.device) -> torch.Tensor:
    """Rows [<= k] of the video keys in `index` (`key_index_of`) best matching one caption key [1, 3D], best first."""
    if isinstance(index, torch.Tensor):                            # the keys themselves (GPU, or float16 on the CPU)
        return torch.topk((index @ query[0].to(index)).float(), k).indices
    _, rows = index.search(query.float().cpu().numpy(), k)
    rows = rows[0][rows[0] >= 0]
    return torch.from_numpy(rows.astype(np.int64)).to(device)
