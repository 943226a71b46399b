"""The official scoring arithmetic, written from the spec (section 4, generate_scores), as an independent oracle.

Every frame-phrase cosine is materialised and every attended video vector u = sum_f phi_f V_f is built, as the
official code does, in its evaluation batches of 300 videos. `hgr.model.matching` computes the same scores another
way (frame statistics, u never materialised); tests/test_parity.py checks the two agree, and benchmarks/search.py
times this loop as the baseline.
"""
from __future__ import annotations

import torch

from hgr.model import TextEmbedding, VideoIndex

OFFICIAL_BATCH = 300     # videos per batch in the official evaluation loop


def l2norm(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The official framework.ops.l2norm."""
    return x / x.norm(dim=dim, keepdim=True).clamp(min=1e-10)


def phrase_scores(frames: torch.Tensor, mask: torch.Tensor, phrases: torch.Tensor, valid: torch.Tensor,
                  sigma: float) -> torch.Tensor:
    """Local attentive matching (Eq. 12): [Bv, F, D], [Bv, F], [Bc, P, D], [Bc, P] -> [Bv, Bc]."""
    bv, f, d = frames.shape
    bc, p, _ = phrases.shape
    sims = (l2norm(frames.reshape(bv * f, d)) @ l2norm(phrases.reshape(bc * p, d)).T)
    sims = sims.view(bv, f, bc, p).transpose(1, 2)                                   # [Bv, Bc, F, P]
    pad = ~mask[:, None, :, None]
    attn = sims.masked_fill(pad, 0).clamp(min=0)
    attn = torch.softmax(sigma * l2norm(attn, dim=2).masked_fill(pad, -1e18), dim=2)  # over frames
    attended = torch.einsum("abcd,ace->abde", attn, frames)                          # [Bv, Bc, P, D]
    r = torch.einsum("abde,bde->abd", l2norm(attended), l2norm(phrases))            # [Bv, Bc, P]
    v = valid.to(r.dtype)[None]
    return (r * v).sum(2) / v.sum(2).clamp(min=1)


def official_level_scores(index: VideoIndex, text: TextEmbedding, sigma: float = 4.0,
                          per_batch=None) -> dict[str, torch.Tensor]:
    """{event, action, entity, fused}: [n_vid, n_cap] each, batch by batch as the official loop; `per_batch()`
    runs before each batch (the official loop encodes its captions there). Frames are read in float32."""
    out: dict[str, list[torch.Tensor]] = {"event": [], "action": [], "entity": [], "fused": []}
    for start in range(0, index.event.shape[0], OFFICIAL_BATCH):
        if per_batch is not None:
            per_batch()
        part = index[start:start + OFFICIAL_BATCH]
        event = l2norm(part.event) @ l2norm(text.event).T
        action = phrase_scores(part.actions.frames.float(), part.actions.mask, text.actions, text.action_valid, sigma)
        entity = phrase_scores(part.entities.frames.float(), part.entities.mask, text.entities, text.entity_valid,
                               sigma)
        for level, s in (("event", event), ("action", action), ("entity", entity),
                         ("fused", (event + action + entity) / 3)):
            out[level].append(s)
    return {level: torch.cat(parts) for level, parts in out.items()}


def official_scores(index: VideoIndex, text: TextEmbedding, sigma: float = 4.0, per_batch=None) -> torch.Tensor:
    """Fused scores [n_vid, n_cap] as the official generate_scores computes them."""
    return official_level_scores(index, text, sigma, per_batch)["fused"]
