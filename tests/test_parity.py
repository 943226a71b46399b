"""Golden outputs of the unmodified official code (tests/data/parity): our model must reproduce them."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hgr
from hgr.inputs import caption_inputs, collate_captions
from hgr.metrics import official_names
from hgr.model import HGR, TextEmbedding, VideoIndex, preset
from hgr.model.matching import FrameStats
from hgr.search import store_frames
from hgr.vocab import Vocabulary
from tests.official_oracle import official_level_scores

ATOL = 1e-5


def load_parity(parity_dir):
    ann = parity_dir / "root" / "annotation" / "RET"
    return hgr.load_official(parity_dir / "checkpoint.pth", ann / "int2word.npy", ann / "word2int.json", device="cpu")


def test_architecture_is_read_off_the_tensors(parity_dir):
    cfg = load_parity(parity_dir).config
    assert (cfg.dim_fts, cfg.dim_embed, cfg.num_words, cfg.dim_word) == (64, 96, 60, 32)
    assert (cfg.rnn_type, cfg.gcn_layers, cfg.gcn_attention, cfg.video_encoder) == ("gru", 1, True, "hierarchical")


def test_inputs_match_the_official_reader(parity_dir, expected, parity_graphs):
    ckpt = load_parity(parity_dir)
    items = [caption_inputs(str(s), parity_graphs[str(s)], ckpt.vocab, ckpt.config) for s in expected["captions"]]
    batch = collate_captions(items)
    np.testing.assert_array_equal(batch.ids.numpy(), expected["sent_ids"])
    np.testing.assert_array_equal(batch.lengths.numpy(), expected["sent_lens"])
    np.testing.assert_array_equal(batch.verb_masks.numpy(), expected["verb_masks"])
    np.testing.assert_array_equal(batch.noun_masks.numpy(), expected["noun_masks"])
    np.testing.assert_array_equal(batch.node_roles.numpy(), expected["node_roles"])
    np.testing.assert_allclose(batch.edges.numpy(), expected["rel_edges"], atol=1e-7)


def test_embeddings_and_scores_match(parity_dir, expected, parity_graphs):
    ckpt = load_parity(parity_dir)
    model = ckpt.model
    items = [caption_inputs(str(s), parity_graphs[str(s)], ckpt.vocab, ckpt.config) for s in expected["captions"]]
    with torch.no_grad():
        video = model.encode_video(torch.from_numpy(expected["attn_fts"]), torch.from_numpy(expected["attn_lens"]))
        text = model.encode_text(collate_captions(items))
        scores = model.score(video, text)
    np.testing.assert_allclose(video.event.numpy(), expected["vid_sent_embeds"], atol=ATOL)
    real = video.frame_mask.numpy()                                        # [n_vid, F]: real frames only
    np.testing.assert_allclose(video.actions.numpy()[real], expected["vid_verb_embeds"][real], atol=ATOL)
    np.testing.assert_allclose(video.entities.numpy()[real], expected["vid_noun_embeds"][real], atol=ATOL)
    np.testing.assert_allclose(text.event.numpy(), expected["sent_embeds"], atol=ATOL)
    valid = expected["verb_lens"] > 0                                      # [n_cap, 4]: meaningful slots only
    np.testing.assert_allclose(text.actions.numpy()[valid], expected["verb_embeds"][valid], atol=ATOL)
    valid = expected["noun_lens"] > 0                                      # [n_cap, 6]
    np.testing.assert_allclose(text.entities.numpy()[valid], expected["noun_embeds"][valid], atol=ATOL)
    for ours, theirs in [("event", "sent_scores"), ("action", "verb_scores"), ("entity", "noun_scores"),
                         ("fused", "fused_scores")]:
        np.testing.assert_allclose(scores.level(ours).numpy(), expected[theirs], atol=ATOL, err_msg=ours)


def test_official_vocabulary_maps_oov_to_unk(parity_dir):
    ann = parity_dir / "root" / "annotation" / "RET"
    vocab = Vocabulary.from_official(ann / "int2word.npy", ann / "word2int.json")
    assert vocab.encode(["a", "xylophonist", "Man"]) == [vocab.index["a"], 2, 2]


def test_evaluate_cli_on_the_official_root_reproduces_every_score(parity_dir, expected, tmp_path, capsys):
    from hgr.cli import main

    out, report = tmp_path / "scores.npz", tmp_path / "metrics.json"
    assert main(["evaluate", "--official-root", str(parity_dir / "root"), "--official-checkpoint",
                 str(parity_dir / "checkpoint.pth"), "--split", "tst", "--save-scores", str(out),
                 "--json", str(report)]) == 0
    printed = json.loads(next(line for line in capsys.readouterr().out.splitlines() if line.startswith('{"ir1"')))
    official = dict(zip(expected["metric_names"].tolist(), expected["metric_values"].tolist(), strict=True))
    assert len(official) == 11 and printed == pytest.approx(official, abs=0.005)
    assert official_names(json.loads(report.read_text())) == pytest.approx(official, abs=1e-9)
    with np.load(out) as got:
        assert got["captions"].tolist() == expected["captions"].tolist()
        assert got["video_names"].tolist() == expected["video_names"].tolist()
        for ours, theirs in [("event", "sent_scores"), ("action", "verb_scores"), ("entity", "noun_scores"),
                             ("fused", "fused_scores")]:
            assert got[ours].dtype.kind == "f"
            np.testing.assert_allclose(got[ours], expected[theirs], atol=ATOL, err_msg=ours)


@pytest.mark.parametrize("storage", [torch.float32, torch.float16])
def test_scoring_matches_the_official_arithmetic_at_official_dims(storage):
    """model.score against the official generate_scores written out (tests/official_oracle.py: every frame-phrase
    cosine and every attended vector materialised) at the official dims (20 frames, 1024-d), 310 videos (two of
    the official batches), phrase slots filled with gaps and not at all. Half storage: both read the same
    float16 frames."""
    gen = torch.Generator().manual_seed(0)
    n, frames_n, dim = 310, 20, 1024
    mask = torch.arange(frames_n)[None] < torch.randint(1, frames_n + 1, (n,), generator=gen)[:, None]

    def level() -> FrameStats:
        return FrameStats.of(torch.randn(n, frames_n, dim, generator=gen) * mask[..., None], mask)

    index = store_frames(VideoIndex(torch.randn(n, dim, generator=gen), level(), level()), storage)
    action_valid = torch.tensor([[True, False, False, False], [False, True, True, False], [False] * 4])
    entity_valid = torch.tensor([[True, True] + [False] * 4, [True] * 6, [False, False, True, False, False, False]])
    text = TextEmbedding(torch.randn(3, dim, generator=gen), torch.randn(3, 4, dim, generator=gen),
                         torch.randn(3, 6, dim, generator=gen), action_valid, entity_valid, torch.empty(0), [])
    cfg = preset("official", num_words=3)
    with torch.no_grad():
        ours = HGR(cfg).eval().score(index, text)
        theirs = official_level_scores(index, text, cfg.sigma)
    for level, want in theirs.items():
        torch.testing.assert_close(ours.level(level), want, atol=ATOL, rtol=0, msg=level)
