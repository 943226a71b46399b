"""Video-text matching (paper section 3.3, Eq. 12-14; official generate_scores, spec section 4).

One implementation serves training, evaluation, search and the app. Local attentive matching is computed
from per-video frame statistics (raw frames, inverse norms, Gram matrix) so that the attended video vector
u = sum_f phi_f v_f never has to be materialised: u.c = sum_f phi_f (v_f.c) and |u|^2 = phi^T G phi.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from hgr.model.config import NEG_INF

# frame rows widened to float32 at once by `frame_dots` when frames are stored in half precision (4 MB, in cache)
ROWS_PER_CHUNK = 1024


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Official cosine_sim: [Bv, D] x [Bc, D] -> [Bv, Bc], eps 1e-18 inside each sqrt."""
    a_inv = torch.rsqrt(torch.linalg.vector_norm(a, dim=-1).square() + 1e-18)   # no [Bv, D] temporary
    b_inv = torch.rsqrt(torch.linalg.vector_norm(b, dim=-1).square() + 1e-18)
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


def frame_dots(frames: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """v_f . c_q of every frame row [N, D] (any float dtype) and phrase column [Q, D] -> [Q, N] in columns' dtype.

    The cost is reading the frames once (the floor of search). On the CPU without autograd this is one product
    frames @ columns.T, with the columns as a transposed view: MKL then reads the frames once for all columns near
    the memory bandwidth, where a matrix-vector product (one column) or columns @ frames.T runs at about half of it
    (`benchmarks/frame_dots.py` measures the three). A lone column is paired with a zero column to take that path.
    Frames stored in half precision are widened a cache-sized chunk of rows at a time.
    """
    q, n = columns.shape[0], frames.shape[0]
    if frames.device.type != "cpu" or torch.is_grad_enabled() and (frames.requires_grad or columns.requires_grad):
        return columns @ frames.to(columns.dtype).T
    pair = columns if q > 1 else torch.cat([columns, torch.zeros_like(columns)])           # [Q', D], Q' >= 2
    if frames.dtype == columns.dtype:
        return (frames @ pair.T)[:, :q].T.contiguous()
    out = columns.new_empty(n, pair.shape[0])                                              # [N, Q']
    buffer = columns.new_empty(min(ROWS_PER_CHUNK, n), frames.shape[1])
    for start in range(0, n, ROWS_PER_CHUNK):
        stop = min(start + ROWS_PER_CHUNK, n)
        torch.mm(buffer[:stop - start].copy_(frames[start:stop]), pair.T, out=out[start:stop])
    return out[:, :q].T.contiguous()


def local_attentive_matching(video: FrameStats, phrases: torch.Tensor, valid: torch.Tensor, sigma: float,
                             return_alignment: bool = False, pooling: str = "mean"
                             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eq. 12 with the official normalisation; returns scores [Bv, Bc] and optionally phi [Bv, Bc, P, F].

    phrases: [Bc, P, D] action or entity node embeddings; valid: [Bc, P] bool. The score of a caption is the
    mean over its valid phrases (the official code), or with `pooling='sum'` their sum (the paper's text); no valid
    phrase gives 0.
    Every (caption, phrase) pair is one column q of [Q, Bv, F] arrays, so the frame axis is reduced in place
    and the two products are one product with the frames (`frame_dots`) and one batched product with the Gram
    matrices. Norms are sqrt(x + 1e-20): the official max(norm, 1e-10) at zero, but with a finite gradient
    there (a phrase whose cosines with every frame are negative used to turn training into NaN).
    """
    bv, frames_n, dim = video.frames.shape
    bc, slots, _ = phrases.shape
    used = valid.any(0).nonzero().flatten() if bc else valid.new_zeros(0, dtype=torch.long)  # slots any caption fills
    if len(used) == 0:
        used = used.new_zeros(1)                                 # no phrase at all: one column of zero scores
    p = len(used)
    if bool((used == torch.arange(p, device=used.device)).all()):
        phrases, valid = phrases[:, :p], valid[:, :p]            # the usual case, valid slots first: views
    else:
        phrases, valid = phrases[:, used], valid[:, used]
    columns = phrases.reshape(bc * p, dim)                                        # [Q, D]
    dots = frame_dots(video.frames.reshape(bv * frames_n, dim), columns).view(bc * p, bv, frames_n)  # v_f . c_q
    column_sq = columns.pow(2).sum(-1)[:, None, None]                             # [Q, 1, 1]
    sims = dots * video.inv_norms.to(dots.dtype) * torch.rsqrt(column_sq + 1e-18)  # s_qf = cos(v_f, c_q) [Q, Bv, F]
    pad = ~video.mask                                                             # [Bv, F]
    sims = sims.clamp(min=0).masked_fill(pad, 0)                                  # [s]_+
    sims = sims / (sims.pow(2).sum(-1, keepdim=True) + 1e-20).sqrt()               # / max(sqrt(sum_f s^2), 1e-10)
    phi = torch.softmax((sims * sigma).masked_fill(pad, NEG_INF), dim=-1)         # [Q, Bv, F] over frames

    u_dot_c = (phi * dots).sum(-1)                                                 # [Q, Bv]
    phi_rows = phi.transpose(0, 1)                                                # [Bv, Q, F] (a view)
    u_sq = (torch.bmm(phi_rows, video.gram.to(phi.dtype)) * phi_rows).sum(-1).T   # |u|^2 = phi^T G phi  [Q, Bv]
    c_norm = (column_sq[:, :, 0] + 1e-20).sqrt()                                  # [Q, 1] max(|c|, 1e-10)
    r = (u_dot_c / ((u_sq.clamp(min=0) + 1e-20).sqrt() * c_norm)).view(bc, p, bv)  # cos(u, c_q)

    valid_f = valid.to(r.dtype)[:, :, None]                                       # [Bc, P, 1]
    scores = (r * valid_f).sum(1)                                                 # [Bc, Bv]
    if pooling == "mean":
        scores = scores / valid_f.sum(1).clamp(min=1)
    scores = scores.T                                                             # [Bv, Bc]
    alignment = None
    if return_alignment:                                     # [Bv, Bc, slots, F], zero for empty slots
        alignment = phi.new_zeros(bv, bc, slots, frames_n)
        alignment[:, :, used] = phi.view(bc, p, bv, frames_n).permute(2, 0, 1, 3) * valid[None, :, :, None]
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
