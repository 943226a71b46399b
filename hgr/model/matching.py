"""Video-text matching (paper section 3.3, Eq. 12-14; official generate_scores, spec section 4).

One implementation serves training, evaluation, search and the app. Local attentive matching is computed
from per-video frame statistics (raw frames, inverse norms, Gram matrix) so that the attended video vector
u = sum_f phi_f v_f never has to be materialised: u.c = sum_f phi_f (v_f.c) and |u|^2 = phi^T G phi.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

NEG_INF = -1e18


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Official cosine_sim: [Bv, D] x [Bc, D] -> [Bv, Bc], eps 1e-18 inside each sqrt."""
    a_inv = torch.rsqrt(a.pow(2).sum(-1) + 1e-18)
    b_inv = torch.rsqrt(b.pow(2).sum(-1) + 1e-18)
    return (a @ b.T) * a_inv[:, None] * b_inv[None, :]


@dataclass
class FrameStats:
    """What local matching needs from one level of a batch of videos; cacheable per collection."""
    frames: torch.Tensor     # [Bv, F, D] raw level embeddings v_x
    inv_norms: torch.Tensor  # [Bv, F] 1 / sqrt(|v_f|^2 + 1e-18)
    gram: torch.Tensor       # [Bv, F, F] v_f . v_g
    mask: torch.Tensor       # [Bv, F] bool, real frames

    @classmethod
    def of(cls, frames: torch.Tensor, mask: torch.Tensor) -> FrameStats:
        return cls(frames=frames, inv_norms=torch.rsqrt(frames.pow(2).sum(-1) + 1e-18),
                   gram=frames @ frames.transpose(1, 2), mask=mask)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> FrameStats:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype)
        return FrameStats(move(self.frames), move(self.inv_norms), move(self.gram), self.mask.to(device))

    def __getitem__(self, index) -> FrameStats:
        return FrameStats(self.frames[index], self.inv_norms[index], self.gram[index], self.mask[index])


def local_attentive_matching(video: FrameStats, phrases: torch.Tensor, valid: torch.Tensor, sigma: float,
                             return_alignment: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eq. 12 with the official normalisation; returns scores [Bv, Bc] and optionally phi [Bv, Bc, P, F].

    phrases: [Bc, P, D] action or entity node embeddings; valid: [Bc, P] bool. The score of a caption is the
    mean over its valid phrases (the official code; the paper writes a sum); no valid phrase gives 0.
    Every (caption, phrase) pair is one column q of [Bv, F, Q] arrays, so the frame axis is reduced in place
    and the two products are one matrix product and one batched product with the Gram matrices. Norms are
    sqrt(x + 1e-20): the official max(norm, 1e-10) at zero, but with a finite gradient there (a phrase whose
    cosines with every frame are negative used to turn training into NaN).
    """
    bv, frames_n, dim = video.frames.shape
    bc, slots, _ = phrases.shape
    p = max(int(valid.sum(1).max()) if bc else 0, 1)        # slots fill in order: later empty ones are skipped
    phrases, valid = phrases[:, :p], valid[:, :p]
    columns = phrases.reshape(bc * p, dim)                                        # [Q, D]
    frames = video.frames.to(phrases.dtype)
    dots = (frames.reshape(bv * frames_n, dim) @ columns.T).view(bv, frames_n, bc * p)  # v_f . c_q  [Bv, F, Q]
    column_inv = torch.rsqrt(columns.pow(2).sum(-1) + 1e-18)                      # [Q]
    sims = dots * video.inv_norms.to(dots.dtype)[:, :, None] * column_inv          # s_ij = cos(v_f, c_q)
    pad = ~video.mask[:, :, None]                                                  # [Bv, F, 1]
    sims = sims.masked_fill(pad, 0).clamp(min=0)                                  # [s]_+
    sims = sims / (sims.pow(2).sum(1, keepdim=True) + 1e-20).sqrt()                 # / max(sqrt(sum_f s^2), 1e-10)
    phi = torch.softmax((sims * sigma).masked_fill(pad, NEG_INF), dim=1)          # [Bv, F, Q] over frames

    u_dot_c = (phi * dots).sum(1)                                                  # [Bv, Q]
    u_sq = (phi * torch.bmm(video.gram.to(phi.dtype), phi)).sum(1)                 # |u|^2 = phi^T G phi
    c_norm = (columns.pow(2).sum(-1) + 1e-20).sqrt()                                 # [Q] max(|c|, 1e-10)
    r = (u_dot_c / ((u_sq.clamp(min=0) + 1e-20).sqrt() * c_norm)).view(bv, bc, p)    # cos(u, c_q)

    valid_f = valid.to(r.dtype)[None]                                              # [1, Bc, P]
    scores = (r * valid_f).sum(2) / valid_f.sum(2).clamp(min=1)
    alignment = None
    if return_alignment:                                     # [Bv, Bc, slots, F], zero for empty slots
        alignment = phi.new_zeros(bv, bc, slots, frames_n)
        alignment[:, :, :p] = phi.view(bv, frames_n, bc, p).permute(0, 2, 3, 1) * valid[None, :, :, None]
    return scores, alignment


def contrastive_loss(scores: torch.Tensor, margin: float, same_video: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 14, hardest negative in both directions, each direction averaged over the batch (official).

    scores: [B, B] fused scores of video i and caption j, positives on the diagonal. `same_video` [B, B] bool
    marks pairs that are not negatives (another caption of the same video), excluded like the diagonal.
    """
    positives = scores.diagonal()
    not_negative = torch.eye(scores.shape[0], dtype=torch.bool, device=scores.device)
    if same_video is not None:
        not_negative = not_negative | same_video
    cost_caption = (margin + scores - positives[:, None]).clamp(min=0).masked_fill(not_negative, 0)  # (v+, c-)
    cost_video = (margin + scores - positives[None, :]).clamp(min=0).masked_fill(not_negative, 0)    # (v-, c+)
    batch = scores.shape[0]
    return cost_caption.max(dim=1).values.sum() / batch + cost_video.max(dim=0).values.sum() / batch
