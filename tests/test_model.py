"""Pieces that are easy to get subtly wrong: padding, truncation, role mapping, empty levels, the loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hgr.inputs import NOUN_ROLE, caption_inputs, collate_captions, collate_frames, role_id
from hgr.model import HGR, HGRConfig, preset
from hgr.model.matching import contrastive_loss
from hgr.vocab import Vocabulary

WORDS = "a man dog cat is playing chasing the guitar in park on stage".split()


def small_config(**kw) -> HGRConfig:
    return HGRConfig(dim_fts=16, dim_embed=24, num_words=3 + len(WORDS), dim_word=8, **kw)


def graph(words, verbs, args):
    """Official-format graph: verbs = [(name, spans)], args = [(name, role, spans, verb)]."""
    nodes = {"ROOT": {"role": "ROOT", "spans": list(range(len(words))), "words": words}}
    for name, spans in verbs:
        nodes[name] = {"role": "V", "spans": spans, "words": [words[i] for i in spans]}
    edges = []
    for name, role, spans, verb in args:
        nodes[name] = {"role": role, "spans": spans, "words": [words[i] for i in spans]}
        edges.append([verb, name, role])
    return [nodes, edges]


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    vocab = Vocabulary(["<BOS>", "<EOS>", "<UNK>"] + WORDS)
    return vocab


SENT = "a man is playing the guitar in the park"
GRAPH = graph(SENT.split(), [("1", [3])], [("2", "ARG0", [0, 1], "1"), ("3", "ARG1", [4, 5], "1"),
                                          ("4", "ARGM-LOC", [6, 7, 8], "1")])


@pytest.mark.parametrize("cfg", [small_config(), small_config(rnn_type="lstm", gcn_layers=2)])
def test_padding_never_changes_a_score(setup, cfg):
    vocab = setup
    model = HGR(cfg).eval()
    frames = torch.rand(1, 5, cfg.dim_fts)
    item = caption_inputs(SENT, GRAPH, vocab, cfg)
    other = caption_inputs("a dog is chasing a cat in the park on the stage", [{}, []], vocab, cfg)
    with torch.no_grad():
        alone = model.score(model.encode_video(frames, torch.tensor([5])), model.encode_text(collate_captions([item])))
        padded_frames = torch.cat([frames, torch.rand(1, 4, cfg.dim_fts) * 100], dim=1)   # junk in padded frames
        both = model.score(model.encode_video(padded_frames, torch.tensor([5])),
                           model.encode_text(collate_captions([item, other])))          # words padded to 11
    for level in ("event", "action", "entity", "fused"):
        torch.testing.assert_close(both.level(level)[:, :1], alone.level(level), atol=1e-6, rtol=0)


def test_truncation_of_words_verbs_and_nouns(setup):
    vocab = setup
    cfg = small_config(max_words=6, num_verbs=1, num_nouns=2)
    words = SENT.split()
    g = graph(words, [("1", [3]), ("5", [6])],
              [("2", "ARG0", [0, 1], "1"), ("3", "ARG1", [4, 5], "1"), ("4", "ARGM-LOC", [5, 6, 7], "1")])
    item = caption_inputs(SENT, g, vocab, cfg)
    assert len(item.ids) == 6                                  # 9 words truncated to 6
    assert item.verb_nodes == ["1"]                            # second verb starts at 6 >= max_words and slot cap 1
    assert item.noun_nodes == ["2", "3"]                       # third argument over the cap of 2
    assert item.noun_masks[1].tolist() == [False, False, False, False, True, True]
    assert item.edges.shape == (4, 4)
    assert item.edges[1].tolist() == pytest.approx([1 / 3, 0, 1 / 3, 1 / 3])  # action hears event + 2 kept args
    assert item.edges[0].sum() == 0                                     # the event node receives nothing


def test_roles_outside_the_vocabulary_are_noun():
    assert role_id("ARGM-GOL") == NOUN_ROLE and role_id("ARG5") == NOUN_ROLE and role_id("ARG1:1") == NOUN_ROLE
    assert role_id("R-ARG0") == role_id("ARG0") == 2 and role_id("C-ARG1") == role_id("ARG1") == 1


def test_caption_without_verbs_scores_zero_at_action_level(setup):
    vocab = setup
    cfg = small_config()
    model = HGR(cfg).eval()
    words = "a dog in the park".split()
    g = graph(words, [], [("1", "NOUN", [0, 1], None), ("2", "NOUN", [3, 4], None)])
    g[1] = []
    with torch.no_grad():
        s = model.score(model.encode_video(torch.rand(3, 4, cfg.dim_fts), torch.tensor([4, 2, 1])),
                        model.encode_text(collate_captions([caption_inputs(" ".join(words), g, vocab, cfg)])))
    assert torch.equal(s.action, torch.zeros(3, 1))
    assert (s.entity != 0).all()
    torch.testing.assert_close(s.fused, (s.event + s.entity) / 3)


def test_loss_uses_the_hardest_negative():
    scores = torch.tensor([[0.9, 0.5, 0.8],
                           [0.1, 0.7, 0.2],
                           [0.3, 0.6, 0.4]])
    # video 0: hardest caption 0.8 -> 0.2+0.8-0.9 = 0.1; video 1: 0.2 -> 0; video 2: 0.6 -> 0.4
    # caption 0: hardest video 0.3 -> 0; caption 1: 0.6 -> 0.1; caption 2: 0.8 -> 0.6
    expected = (0.1 + 0.0 + 0.4) / 3 + (0.0 + 0.1 + 0.6) / 3
    assert contrastive_loss(scores, 0.2).item() == pytest.approx(expected, abs=1e-6)
    same = torch.zeros(3, 3, dtype=torch.bool)
    same[0, 2] = same[2, 0] = True                             # caption 2 also describes video 0
    # video 0 now has only 0.5 -> 0; caption 2 now only 0.2 -> 0; video 2: 0.6 -> 0.4; caption 0: 0.1 -> 0
    assert contrastive_loss(scores, 0.2, same).item() == pytest.approx((0.4) / 3 + (0.1) / 3, abs=1e-6)


def test_collate_frames_pads_to_the_longest_and_rejects_empty():
    frames, lengths = collate_frames([np.ones((3, 4)), np.ones((25, 4))], max_frames=20)
    assert frames.shape == (2, 20, 4) and lengths.tolist() == [3, 20] and frames[0, 3:].abs().sum() == 0
    with pytest.raises(ValueError, match="no frame"):
        collate_frames([np.ones((0, 4))], max_frames=20)


def test_presets():
    assert preset("official").rnn_type == "gru" and preset("official").gcn_layers == 1
    assert preset("paper").rnn_type == "lstm" and preset("paper").gcn_layers == 2
    with pytest.raises(ValueError, match="unknown preset"):
        preset("nope")


def test_trace_has_per_layer_attention_and_alignment(setup):
    vocab = setup
    cfg = small_config(gcn_layers=2)
    model = HGR(cfg).eval()
    with torch.no_grad():
        video = model.encode_video(torch.rand(2, 6, cfg.dim_fts), torch.tensor([6, 3]))
        text = model.encode_text(collate_captions([caption_inputs(SENT, GRAPH, vocab, cfg)]))
        s = model.score(video, text, alignment=True)
    assert len(text.graph_attention) == 2 and text.graph_attention[0].shape == (1, 11, 11)
    rows = text.graph_attention[0][0].sum(1)
    assert rows[0] == 0 and torch.allclose(rows[1:2], torch.ones(1))          # event receives nothing
    assert s.action_alignment.shape == (2, 1, 4, 6)
    torch.testing.assert_close(s.entity_alignment[1, 0, 0, :3].sum(), torch.tensor(1.0))
    assert s.entity_alignment[1, 0, 0, 3:].abs().sum() == 0                   # padded frames get no weight
    assert text.word_attention.shape == (1, 9) and video.frame_attention.shape == (2, 6)


def test_vsepp_baseline_is_one_global_cosine(setup):
    from hgr.model import ABLATIONS
    from hgr.model.matching import cosine

    vocab = setup
    cfg = small_config(**ABLATIONS["vsepp"])
    model = HGR(cfg).eval()
    frames, lengths = torch.rand(2, 5, cfg.dim_fts), torch.tensor([5, 2])
    batch = collate_captions([caption_inputs(SENT, GRAPH, vocab, cfg)])
    with torch.no_grad():
        s = model.score(model.encode_video(frames, lengths), model.encode_text(batch))
        video = model.video_encoder.level_embeds[0](frames)
        pooled = torch.stack([video[0, :5].mean(0), video[1, :2].mean(0)])        # mean over real frames
        words = model.text_encoder.encode_words(batch.ids, batch.lengths).mean(1)   # mean over the 9 words
    torch.testing.assert_close(s.fused, cosine(pooled, words))
    assert torch.equal(s.action, torch.zeros(2, 1)) and len(model.text_encoder.gcn.layers) == 0


def test_spatiotemporal_encoder_sees_order_and_ignores_padding(setup):
    vocab = setup
    cfg = small_config(video_encoder="spatiotemporal", num_regions=2)
    model = HGR(cfg).eval()
    frames, lengths = torch.rand(2, 5, cfg.frame_dim), torch.tensor([5, 3])
    batch = collate_captions([caption_inputs(SENT, GRAPH, vocab, cfg)])
    with torch.no_grad():
        text = model.encode_text(batch)
        base = model.score(model.encode_video(frames, lengths), text)
        junk = frames.clone()
        junk[1, 3:] = 1e3
        padded = model.score(model.encode_video(junk, lengths), text)
        reversed_ = model.score(model.encode_video(frames.flip(1)[:1], lengths[:1]), text)
    torch.testing.assert_close(padded.fused, base.fused, atol=1e-6, rtol=0)
    assert torch.isfinite(base.fused).all()
    assert (reversed_.fused[0] - base.fused[0]).abs().max() > 1e-4        # frame order matters


def test_gradients_stay_finite_when_a_phrase_matches_no_frame():
    from hgr.model.matching import FrameStats, local_attentive_matching

    phrase = torch.randn(1, 1, 8)
    frames = (-phrase[0, 0] * torch.rand(3, 1)).unsqueeze(0).clone().requires_grad_(True)   # every cosine < 0
    phrases = phrase.clone().requires_grad_(True)
    stats = FrameStats.of(frames, torch.ones(1, 3, dtype=torch.bool))
    scores, _ = local_attentive_matching(stats, phrases, torch.ones(1, 1, dtype=torch.bool), 4.0)
    scores.sum().backward()
    assert torch.isfinite(frames.grad).all() and torch.isfinite(phrases.grad).all()


def test_phrase_pooling_sum_is_the_mean_times_the_phrase_count():
    from hgr.model.matching import FrameStats, local_attentive_matching

    torch.manual_seed(0)
    frames = torch.randn(3, 5, 8)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    stats = FrameStats.of(frames * mask[..., None], mask)
    phrases = torch.randn(4, 3, 8)
    valid = torch.tensor([[True, True, True], [True, False, False], [True, True, False], [False, False, False]])
    mean, _ = local_attentive_matching(stats, phrases, valid, 4.0)
    total, _ = local_attentive_matching(stats, phrases, valid, 4.0, pooling="sum")
    torch.testing.assert_close(total, mean * torch.tensor([3.0, 1.0, 2.0, 0.0]))      # [Bv, Bc]: per caption
    assert HGRConfig(phrase_pooling="sum").phrase_pooling == "sum"
    with pytest.raises(ValueError, match="phrase_pooling"):
        HGRConfig(phrase_pooling="max")


def test_a_valid_phrase_in_any_slot_is_scored():
    """Phrase slots need not fill in order: a valid phrase after an empty slot counts, and its alignment too."""
    from hgr.model.matching import FrameStats, local_attentive_matching

    torch.manual_seed(0)
    stats = FrameStats.of(torch.randn(3, 5, 8), torch.ones(3, 5, dtype=torch.bool))
    phrase = torch.randn(1, 1, 8)
    first = torch.cat([phrase, torch.zeros(1, 1, 8)], dim=1)                 # [1, 2, 8]: phrase in slot 0
    second = torch.cat([torch.zeros(1, 1, 8), phrase], dim=1)                # phrase in slot 1, slot 0 empty
    expected, expected_phi = local_attentive_matching(stats, first, torch.tensor([[True, False]]), 4.0, True)
    got, got_phi = local_attentive_matching(stats, second, torch.tensor([[False, True]]), 4.0, True)
    assert (expected != 0).all()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_phi[:, :, 1], expected_phi[:, :, 0])
    assert torch.equal(got_phi[:, :, 0], torch.zeros(3, 1, 5))


def test_a_node_past_the_end_of_the_sentence_takes_no_slot(setup):
    """A graph node whose words all lie past the sentence (a graph made for other text) is dropped where inputs
    are built, so the real verb after it gets the first action slot and a non-zero action score."""
    vocab = setup
    cfg = small_config()
    words = "a man is playing the guitar".split()
    g = graph(words, [("1", [3])], [("2", "ARG0", [0, 1], "1")])
    g[0] = {"ROOT": g[0]["ROOT"], "0": {"role": "V", "spans": [12], "words": ["stage"]}, **g[0]}
    item = caption_inputs(" ".join(words), g, vocab, cfg)
    assert item.verb_nodes == ["1"]
    assert item.verb_masks[0].tolist() == [False, False, False, True, False, False]
    model = HGR(cfg).eval()
    with torch.no_grad():
        s = model.score(model.encode_video(torch.rand(3, 4, cfg.dim_fts), torch.tensor([4, 2, 1])),
                        model.encode_text(collate_captions([item])))
    assert (s.action != 0).all()


def _hand_loss(scores: list[list[float]], margin: float, pairs_to_skip: set[tuple[int, int]]) -> float:
    """Eq. 14 written out: for each positive (i, i), the hardest hinge over its row and over its column."""
    n = len(scores)
    by_caption = by_video = 0.0
    for i in range(n):
        by_caption += max([max(0.0, margin + scores[i][j] - scores[i][i]) for j in range(n)
                           if j != i and (i, j) not in pairs_to_skip] or [0.0])
        by_video += max([max(0.0, margin + scores[j][i] - scores[i][i]) for j in range(n)
                         if j != i and (j, i) not in pairs_to_skip] or [0.0])
    return by_caption / n + by_video / n


@pytest.mark.parametrize("same_video_negatives", [True, False])
def test_training_loss_with_two_captions_of_one_video_in_the_batch(setup, same_video_negatives):
    """The model's loss against Eq. 14 computed by hand on a batch where video A appears twice (pairs 0 and 2).
    Official (the default): caption 2 is a negative of video A in row 0 too; the demo preset leaves it out."""
    vocab = setup
    assert HGRConfig().same_video_negatives and not preset("demo").same_video_negatives
    cfg = small_config(same_video_negatives=same_video_negatives)
    model = HGR(cfg).eval()                                       # eval: no dropout, so scores are repeatable
    clip_a, clip_b = torch.rand(1, 4, cfg.dim_fts), torch.rand(1, 4, cfg.dim_fts)
    frames = torch.cat([clip_a, clip_b, clip_a])
    lengths = torch.tensor([4, 4, 4])
    words = "a man dog cat is playing chasing the guitar".split()
    captions = collate_captions([
        caption_inputs(SENT, GRAPH, vocab, cfg),
        caption_inputs("a dog is chasing the cat", [{}, []], vocab, cfg),
        caption_inputs(" ".join(words[:4]), [{}, []], vocab, cfg)])
    same = torch.tensor([[True, False, True], [False, True, False], [True, False, True]])
    with torch.no_grad():
        loss = model(frames, lengths, captions, same)
        scores = model.score(model.encode_video(frames, lengths), model.encode_text(captions)).fused.tolist()
    official, masked = _hand_loss(scores, cfg.margin, set()), _hand_loss(scores, cfg.margin, {(0, 2), (2, 0)})
    assert official > masked + 1e-3                               # the case tells the two losses apart
    assert loss.item() == pytest.approx(official if same_video_negatives else masked, abs=1e-6)


def test_checkpoints_from_before_the_flag_say_how_they_were_trained():
    """Checkpoints saved before `same_video_negatives` existed were trained with same-video pairs left out: the
    shipped demo model loads with the demo preset's choice."""
    from pathlib import Path

    import hgr

    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "demo.pt"
    assert hgr.load(shipped, device="cpu").model.cfg.same_video_negatives is False
