"""Golden outputs of the unmodified official code (tests/data/parity): our model must reproduce them."""
from __future__ import annotations

import numpy as np
import torch

import hgr
from hgr.inputs import caption_inputs, collate_captions
from hgr.vocab import Vocabulary

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
    np.testing.assert_allclose(text.event.numpy(), expected["sent_embeds"], atol=ATOL)
    valid = expected["verb_lens"] > 0                                      # [n_cap, 4]: meaningful slots only
    np.testing.assert_allclose(text.actions.numpy()[valid], expected["verb_embeds"][valid], atol=ATOL)
    for ours, theirs in [("event", "sent_scores"), ("action", "verb_scores"), ("entity", "noun_scores"),
                         ("fused", "fused_scores")]:
        np.testing.assert_allclose(scores.level(ours).numpy(), expected[theirs], atol=ATOL, err_msg=ours)


def test_official_vocabulary_maps_oov_to_unk(parity_dir):
    ann = parity_dir / "root" / "annotation" / "RET"
    vocab = Vocabulary.from_official(ann / "int2word.npy", ann / "word2int.json")
    assert vocab.encode(["a", "xylophonist", "Man"]) == [vocab.index["a"], 2, 2]


def test_evaluate_cli_on_the_official_root_reproduces_every_score(parity_dir, expected, tmp_path, capsys):
    from hgr.cli import main

    out = tmp_path / "scores.npz"
    assert main(["evaluate", "--official-root", str(parity_dir / "root"), "--official-checkpoint",
                 str(parity_dir / "checkpoint.pth"), "--split", "tst", "--save-scores", str(out)]) == 0
    assert '"rsum": 445.0' in capsys.readouterr().out                  # the official scores.csv
    with np.load(out) as got:
        assert got["captions"].tolist() == expected["captions"].tolist()
        assert got["video_names"].tolist() == expected["video_names"].tolist()
        for ours, theirs in [("event", "sent_scores"), ("action", "verb_scores"), ("entity", "noun_scores"),
                             ("fused", "fused_scores")]:
            assert got[ours].dtype.kind == "f"
            np.testing.assert_allclose(got[ours], expected[theirs], atol=ATOL, err_msg=ours)
