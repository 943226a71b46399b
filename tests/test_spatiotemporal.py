"""The spatiotemporal video encoder is the paper's encoder plus a residual context of frame order and region layout."""
from __future__ import annotations

import torch

from hgr import checkpoint
from hgr.inputs import caption_inputs, collate_captions
from hgr.model import ABLATIONS, HGR, HGRConfig
from hgr.vocab import Vocabulary

WORDS = "a dog chases cat the is chased by".split()
SENT = "a dog chases a cat"
GRAPH = [{"ROOT": {"role": "ROOT", "spans": [0, 1, 2, 3, 4], "words": SENT.split()},
          "1": {"role": "V", "spans": [2], "words": ["chases"]},
          "2": {"role": "ARG0", "spans": [0, 1], "words": ["a", "dog"]},
          "3": {"role": "ARG1", "spans": [3, 4], "words": ["a", "cat"]}},
         [["1", "2", "ARG0"], ["1", "3", "ARG1"]]]


def config(**kw) -> HGRConfig:
    return HGRConfig(dim_fts=16, dim_embed=24, num_words=3 + len(WORDS), dim_word=8, **kw)


def spatiotemporal() -> HGRConfig:
    return config(**ABLATIONS["spatiotemporal"])


def scores(model: HGR, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    vocab = Vocabulary(["<BOS>", "<EOS>", "<UNK>"] + WORDS)
    batch = collate_captions([caption_inputs(SENT, GRAPH, vocab, model.cfg)])
    with torch.no_grad():
        return model.score(model.encode_video(frames, lengths), model.encode_text(batch)).fused


def test_starts_from_the_papers_parameters_and_reduces_to_it_without_context():
    torch.manual_seed(0)
    paper = HGR(config()).eval()
    torch.manual_seed(0)
    model = HGR(spatiotemporal()).eval()
    ours, theirs = model.state_dict(), paper.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in theirs.items())          # same seed, same paper parameters
    assert set(ours) - set(theirs) and all(k.startswith("video_encoder.context.") for k in set(ours) - set(theirs))
    frames = torch.rand(2, 5, model.cfg.frame_dim)
    lengths = torch.tensor([5, 3])
    assert (scores(model, frames, lengths) - scores(paper, frames[..., :16], lengths)).abs().max() > 1e-4
    with torch.no_grad():
        for proj in model.video_encoder.context.levels:                      # no context: exactly the paper
            proj.weight.zero_()
    torch.testing.assert_close(scores(model, frames, lengths), scores(paper, frames[..., :16], lengths),
                               atol=0, rtol=0)


def test_context_sees_region_layout_that_the_papers_encoder_cannot():
    torch.manual_seed(0)
    model = HGR(spatiotemporal()).eval()
    frames = torch.rand(1, 4, model.cfg.frame_dim)
    mirrored = torch.cat([frames[..., :16], frames[..., 32:48], frames[..., 16:32]], dim=2)  # left and right cells
    lengths = torch.tensor([4])
    assert (scores(model, frames, lengths) - scores(model, mirrored, lengths)).abs().max() > 1e-4


def test_context_learns_and_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = spatiotemporal()
    model = HGR(cfg)
    vocab = Vocabulary(["<BOS>", "<EOS>", "<UNK>"] + WORDS)
    batch = collate_captions([caption_inputs(SENT, GRAPH, vocab, cfg)] * 2)
    loss = model(torch.rand(2, 3, cfg.frame_dim), torch.tensor([3, 2]), batch)
    loss.backward()
    grads = [p.grad for p in model.video_encoder.context.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.video_encoder.context.frame_tokens.weight.grad.abs().sum() > 0     # order/layout gets a signal
    model.eval()
    path = checkpoint.save(tmp_path / "st.pt", model, vocab)
    loaded = checkpoint.load(path, device="cpu").model
    frames = torch.rand(1, 4, cfg.frame_dim)
    torch.testing.assert_close(scores(loaded, frames, torch.tensor([4])), scores(model, frames, torch.tensor([4])))
