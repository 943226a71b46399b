"""Pool calibration for two-stage search: the candidate pool sized from its recall against exact ranking."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from hgr.model import TextEmbedding
from hgr.search.exact import select_captions, top_rows

if TYPE_CHECKING:
    from hgr.search.searcher import Searcher

# candidate pools `Searcher.choose_pool` measures recall at
POOLS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000)


@torch.no_grad()
def choose_pool(searcher: Searcher, text: TextEmbedding, target: float = 0.99, top_k: int = 10,
                pools: Sequence[int] = POOLS, fused: torch.Tensor | None = None) -> tuple[int, dict[int, float]]:
    """Pool for two-stage search from its recall@`top_k` against exact ranking on these captions: twice the
    smallest pool that reaches `target` (a few captions overstate the recall of the rest), or the whole
    collection (exact search) when none does. Returns (pool, {pool: mean recall}). `fused` [n_vid, n_cap]: the
    captions' exact fused scores when already computed (a streamed pass over a large store is not repeated).
    """
    if fused is None:
        fused = torch.from_numpy(searcher.score_encoded(text)["fused"])        # [n_vid, n_cap]
    n = len(searcher.video_ids)
    pools = sorted({min(p, n) for p in pools})
    curve = {p: 0.0 for p in pools}
    for j in range(fused.shape[1]):
        exact = set(top_rows(fused[:, j], top_k).tolist())
        rows = searcher.candidates(select_captions(text, slice(j, j + 1)), pools[-1]).cpu()
        for p in pools:                              # re-ranking is exact: its top-k is the pool's best by score
            found = rows[:p][top_rows(fused[rows[:p], j], top_k)]
            curve[p] += len(exact & set(found.tolist())) / len(exact) / fused.shape[1]
    return min(n, 2 * next((p for p in pools if curve[p] >= target), n)), curve
