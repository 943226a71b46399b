"""The transformer SRL parser (the default backend): its encoder, decoding, training data and the graphs it gives.

The sentences are the ones a new user found wrong with the spaCy parser (issue 15), with their role-swapped twins.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hgr.errors import ParseError
from hgr.parsing import parse, parse_many, parser_id, parser_mismatch
from hgr.parsing.conll import GoldPredicate, GoldSentence, read_conll
from hgr.parsing.transformer_srl import (
    ENCODER_SHA256,
    MAX_PIECES,
    TransformerSRL,
    allowed_transitions,
    encoder_dir,
    encoder_sha256,
    load_encoder,
    piece_batch,
    unique_core_roles,
    viterbi,
)
from hgr.parsing.transformer_train import caption_form, role_tags, targets

DATA = Path(__file__).parent / "data"


def roles(graph, verb: str) -> dict[str, str]:
    action = next(a for a in graph.actions if a.words == [verb])
    return {role: " ".join(node.words) for node, role in graph.arguments(action.name)}


def agents(graph) -> list[str]:
    return [" ".join(node.words) for a in graph.actions for node, role in graph.arguments(a.name) if role == "ARG0"]


# ---- the encoder the package ships ------------------------------------------------------------------------------
def test_encoder_weights_are_the_official_minilm_files():
    assert encoder_sha256(encoder_dir()) == ENCODER_SHA256


# ---- decoding and word pieces (no trained weights needed) -------------------------------------------------------
def test_viterbi_gives_only_well_formed_tags():
    tags = ["O", "B-ARG0", "I-ARG0", "B-ARG1", "I-ARG1"]
    allowed = allowed_transitions(tags)
    start_ok = np.array([not t.startswith("I-") for t in tags])
    # greedy would give I-ARG1 first and I-ARG0 after B-ARG1; both are ill-formed
    scores = np.log(np.array([[0.1, 0.2, 0.05, 0.05, 0.6],
                              [0.1, 0.1, 0.1, 0.6, 0.1],
                              [0.1, 0.1, 0.6, 0.1, 0.1]]))
    path = [tags[i] for i in viterbi(scores, allowed, start_ok)]
    assert not path[0].startswith("I-")
    for prev, cur in zip(path, path[1:]):
        assert not cur.startswith("I-") or prev[2:] == cur[2:]


def test_a_core_role_is_kept_by_one_span_and_the_other_takes_its_next_best_role():
    """"a cat is chased by a dog" decoded with ARG0 twice: the spans' fits decide who keeps ARG0 (the by-phrase,
    whose ARG0 fit is far better), and "a cat" takes its best free role (ARG1); a modifier may repeat."""
    names = ["O", "B-ARG0", "I-ARG0", "B-ARG1", "I-ARG1", "B-ARGM-LOC", "I-ARGM-LOC"]
    p = {"O": 0.01, "B-ARG0": 0.01, "I-ARG0": 0.01, "B-ARG1": 0.01, "I-ARG1": 0.01, "B-ARGM-LOC": 0.01,
         "I-ARGM-LOC": 0.01}
    def row(**probs):
        r = dict(p, **{k.replace("_", "-"): v for k, v in probs.items()})
        return [np.log(r[n]) for n in names]
    scores = np.array([row(B_ARG0=0.5, B_ARG1=0.4), row(I_ARG0=0.5, I_ARG1=0.4), row(O=0.9), row(O=0.9),
                       row(B_ARG0=0.9), row(I_ARG0=0.9), row(I_ARG0=0.9)])
    words = "a cat is chased by a dog".split()
    decoded = ["B-ARG0", "I-ARG0", "O", "O", "B-ARG0", "I-ARG0", "I-ARG0"]
    assert len(words) == len(decoded)
    fixed = unique_core_roles(decoded, scores, names)
    assert fixed == ["B-ARG1", "I-ARG1", "O", "O", "B-ARG0", "I-ARG0", "I-ARG0"]
    twice_loc = ["B-ARGM-LOC", "O", "O", "O", "B-ARGM-LOC", "I-ARGM-LOC", "I-ARGM-LOC"]
    assert unique_core_roles(twice_loc, scores, names) == twice_loc


def test_word_pieces_cover_odd_and_overlong_input():
    _, tokenizer = load_encoder()
    words = ["a", "\u200b", "zebra-crossing", "runs"]              # the zero-width space has no word piece
    pieces, first, mask = piece_batch(tokenizer, [words, ["a", "dog"]])
    assert mask[0].tolist() == [True, True, True, True] and mask[1].tolist() == [True, True, False, False]
    assert first[0, 1] == first[0, 0]                               # falls back to the piece before it
    assert first[0, 3] > first[0, 2]
    long = ["word"] * (MAX_PIECES + 20)
    _, _, mask = piece_batch(tokenizer, [long])
    assert 0 < int(mask.sum()) < len(long)                        # words past the encoder's length are masked


# ---- training data ----------------------------------------------------------------------------------------------
def test_caption_form_moves_spans_with_the_words():
    sent = GoldSentence(words=["The", "dog", "'s", "owner", ",", "Al", ",", "chased", "U.S.", "cats", "."],
                        pos=[], predicates=[GoldPredicate(7, "VBD", "chase", [(0, 6, "ARG0"), (8, 9, "ARG1")])])
    cap = caption_form(sent)
    assert cap.words == ["the", "dog", "s", "owner", "al", "chased", "u", "s", "cats"]
    pred = cap.predicates[0]
    assert pred.index == 5 and pred.arguments == [(0, 4, "ARG0"), (6, 8, "ARG1")]


def test_filler_swap_replaces_a_plain_noun_phrase_and_moves_every_span():
    """fillers.swap_filler: the exchanged argument keeps its role, spans that hold it grow with it, later indices
    move; arguments that are not plain noun phrases, or that another span cuts into, are never exchanged."""
    import random

    from hgr.parsing.fillers import filler_pool, swap_filler

    # "The dog chased the cat and bit it ." : chase (ARG0 the dog, ARG1 the cat), bite (ARG0 the dog, ARG1 it)
    sent = GoldSentence(words=["The", "dog", "chased", "the", "cat", "and", "bit", "it", "."],
                        pos=["DT", "NN", "VBD", "DT", "NN", "CC", "VBD", "PRP", "."],
                        predicates=[GoldPredicate(2, "VBD", "chase", [(0, 1, "ARG0"), (3, 4, "ARG1")]),
                                    GoldPredicate(6, "VBD", "bite", [(0, 1, "ARG0"), (7, 7, "ARG1")])])
    assert filler_pool([sent]) == [("The", "dog"), ("the", "cat")]            # "it" is a pronoun: not swapped
    pool = [("a", "small", "red", "ball")]
    seen = {tuple(swap_filler(sent, pool, random.Random(seed)).words) for seed in range(20)}
    assert seen == {("a", "small", "red", "ball", "chased", "the", "cat", "and", "bit", "it", "."),
                    ("The", "dog", "chased", "a", "small", "red", "ball", "and", "bit", "it", ".")}
    rng = random.Random(0)
    while (out := swap_filler(sent, pool, rng)).words[0] != "a":
        pass
    assert [(p.index, p.arguments) for p in out.predicates] == [(4, [(0, 3, "ARG0"), (5, 6, "ARG1")]),
                                                               (8, [(0, 3, "ARG0"), (9, 9, "ARG1")])]
    assert len(out.pos) == len(out.words) and out.complete
    # a span another argument cuts into ("the cat" inside an ARGM that starts at "cat") is left as it is
    cut = GoldSentence(words=sent.words, pos=sent.pos,
                       predicates=[GoldPredicate(2, "VBD", "chase", [(3, 4, "ARG1")]),
                                   GoldPredicate(6, "VBD", "bite", [(4, 5, "ARGM-TMP")])])
    assert swap_filler(cut, pool, random.Random(0)) is cut
    # frame-file examples (no POS tags): a determiner and content words only
    frame = GoldSentence(words=["John", "bumped", "into", "the", "old", "door"], pos=[], complete=False,
                         predicates=[GoldPredicate(1, "VB", "bump", [(0, 0, "ARG0"), (2, 5, "ARG1")])])
    assert filler_pool([frame]) == []                                          # a name and a prepositional phrase
    frame.predicates[0].arguments[1] = (3, 5, "ARG1")
    assert filler_pool([frame]) == [("the", "old", "door")]
    assert not swap_filler(frame, pool, random.Random(0)).complete


def test_filler_swap_share_is_checked(capsys):
    from hgr.cli import main

    assert main(["srl-train", "--train", "missing.gold_conll", "--filler-swap", "1.5"]) == 2
    assert "--filler-swap 1.5: give the share of sentences, from 0 to 1" in capsys.readouterr().err


def test_an_option_of_the_other_backend_is_refused(capsys):
    """srl-train trains one backend: an option only the other reads is an error, not silently ignored."""
    from hgr.cli import main
    assert main(["srl-train", "--backend", "spacy", "--train", "missing.gold_conll", "--filler-swap", "0.5",
                 "--epochs", "2"]) == 2
    assert ("--epochs, --filler-swap apply to --backend transformer only, not spacy: leave them out or give "
            "--backend transformer") in capsys.readouterr().err
    assert main(["srl-train", "--train", "missing.gold_conll", "--l2", "0.1"]) == 2
    assert "--l2 applies to --backend spacy only, not transformer" in capsys.readouterr().err


def test_targets_tag_verbal_predicates_only():
    sent = GoldSentence(words=["dogs", "chase", "cats", "'", "tails"], pos=[],
                        predicates=[GoldPredicate(1, "VBP", "chase", [(0, 0, "ARG0"), (2, 4, "ARG1")]),
                                    GoldPredicate(4, "NNS", "tail", [(2, 3, "ARG0")])])
    tags = role_tags([sent], 1)
    predicates, rows = targets(sent, {t: i for i, t in enumerate(tags)})
    assert predicates == [1]
    assert [tags[i] for i in rows[0]] == ["B-ARG0", "O", "B-ARG1", "I-ARG1", "I-ARG1"]


# ---- the shipped parser on captions -----------------------------------------------------------------------------
def test_lower_cased_verb_read_as_noun_by_spacy_is_an_action():
    graph = parse("a chef slices onions in a restaurant kitchen")
    r = roles(graph, "slices")
    assert r["ARG0"] == "a chef" and r["ARG1"] == "onions"
    assert "in a restaurant kitchen" in r.values()


def test_pointing_woman_and_her_swap_get_different_agents():
    a = parse("A woman with a grey coat points towards a woman with red pants.")
    b = parse("A woman with red pants points towards a woman with a grey coat.")
    assert agents(a) == ["a woman with a grey coat"] and agents(b) == ["a woman with red pants"]


def test_staring_man_is_the_agent():
    graph = parse("A man dressed in floral print stares straight ahead at a woman.")
    assert ["stares"] in [a.words for a in graph.actions]
    assert roles(graph, "stares")["ARG0"].startswith("a man")


def test_both_clauses_are_kept():
    graph = parse("a cat hides behind a horse and then the horse dances")
    assert [a.words for a in graph.actions] == [["hides"], ["dances"]]
    assert roles(graph, "hides")["ARG0"] == "a cat" and "the horse" in roles(graph, "dances").values()


@pytest.mark.xfail(strict=True, reason="known error of the shipped parser (EWT dev F1 75.3): the intransitive "
                   "dancer is labelled ARG1; the 69.2 weights got it; passes once a retrained parser gets it again")
def test_the_second_clause_has_its_agent():
    graph = parse("a cat hides behind a horse and then the horse dances")
    assert roles(graph, "dances")["ARG0"] == "the horse"


def test_prepositional_phrases_are_kept():
    graph = parse("a horse jumps over a ball on the sand")
    words = {w for node in graph.entities for w in node.words}
    assert {"ball", "sand"} <= words
    location = roles(parse("a penguin is sleeping on the snow at night"), "sleeping")
    assert location.get("ARG1") != "on the snow"
    assert "on the snow" in location.values() and location.get("ARGM-TMP") == "at night"


def test_coordinated_verbs_share_one_agent_node():
    graph = parse("a man sings and dances on a stage")
    arg0 = {target for source, target, role in graph.edges if role == "ARG0"}
    assert [a.words for a in graph.actions] == [["sings"], ["dances"]]
    assert len(arg0) == 1 and graph.node(arg0.pop()).words == ["a", "man"]


def test_passive_maps_the_by_agent_to_arg0():
    r = roles(parse("a ball is kicked by a boy"), "kicked")
    assert r == {"ARG0": "by a boy", "ARG1": "a ball"}
    r = roles(parse("a cat is chased by a dog in the garden"), "chased")
    assert r["ARG0"].startswith("by a dog") and r["ARG1"] == "a cat"   # ARG0 twice before the unique-core-roles
    # rule: the weights alone label the subject ARG0 as well


@pytest.mark.xfail(strict=True, reason="known error of the shipped parser (EWT dev F1 75.3): the agent's span takes "
                   "the place phrase ('by a dog in the garden'); the 69.2 weights split them")
def test_passive_agent_and_place_are_two_arguments():
    r = roles(parse("a cat is chased by a dog in the garden"), "chased")
    assert r == {"ARG0": "by a dog", "ARG1": "a cat", "ARGM-LOC": "in the garden"}


def test_hand_written_role_swaps_get_different_agents():
    """The README's role-swap figure on the hand-written pairs (benchmarks/role_swap.py), at least 0.95."""
    import sys
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from role_swap import hand_pairs, score
    pairs = hand_pairs()
    assert len(pairs) >= 100
    share, failures, core = score("transformer", pairs)
    assert share >= 0.95, failures[:5]
    assert core >= 0.95, failures[:5]               # the README's second role-swap figure (100 % when measured)


def test_core_role_criterion_separates_propbank_cotheme_frames_but_not_identical_ones():
    """follow.01 labels the follower ARG1 and the one followed ARG2: a swap then keeps no ARG0 on either side but
    fills the core roles the other way round, which the second criterion counts and the first does not."""
    import sys
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from role_swap import core_roles_differ, swap_passes

    from hgr.parsing.frames import build_role_graph

    def graph(words, tags):
        return build_role_graph(words.split(), [{"verb": "following", "tags": tags.split()}])

    a = graph("a child is following a duck", "B-ARG1 I-ARG1 O B-V B-ARG2 I-ARG2")
    b = graph("a duck is following a child", "B-ARG1 I-ARG1 O B-V B-ARG2 I-ARG2")
    assert not swap_passes(a, b) and core_roles_differ(a, b)
    assert not core_roles_differ(a, a)
    none = graph("a duck is following a child", "O O O B-V O O")
    assert not core_roles_differ(a, none)


# ---- which parser made what -------------------------------------------------------------------------------------
def test_parser_ids_name_backend_and_weights():
    assert parser_id("transformer").startswith("transformer:") and parser_id("spacy").startswith("spacy:")
    assert parser_id("transformer") != parser_id("spacy")
    assert parser_mismatch(parser_id("transformer"), "the captions") is None
    note = parser_mismatch(parser_id("spacy"), "the model's training captions")
    assert "spacy:" in note and "transformer:" in note
    assert "does not record" in parser_mismatch(None, "the captions")


def test_collection_manifest_records_the_parser(tmp_path):
    from hgr.collection import Collection, CollectionWriter
    with CollectionWriter(tmp_path / "c", extractor={"name": "test"}, dim=4, dtype="float32") as writer:
        writer.add("v1", np.zeros((2, 4), dtype=np.float32))
        graphs = {s: g.to_json() for s, g in zip(["a dog runs"], parse_many(["a dog runs"]))}
        writer.set_role_graphs(graphs, parser=parser_id())
    assert Collection.open(tmp_path / "c").manifest["parser"] == parser_id()


def test_bfloat16_tags_the_test_sentences_as_float32_does_and_an_unknown_precision_is_refused():
    """The opt-in bfloat16 path (autocast) gives the same frames here; it changed 52 of 10,000 MSR-VTT captions'
    graphs in benchmarks/parse.py, and EWT dev F1 stayed 75.25. A typo in the precision is an error, not float32."""
    sentences = [s.split() for s in ("a chef slices onions in a restaurant kitchen",
                                     "a woman with red pants points towards a woman with a grey coat",
                                     "a cat hides behind a horse and then the horse dances")]
    fp32 = TransformerSRL.load(device="cpu").predict(sentences)
    bf16 = TransformerSRL.load(device="cpu", precision="bf16")
    seen, logits = [], bf16.model.predicate_logits
    bf16.model.predicate_logits = lambda states: seen.append(
        (torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))) or logits(states)
    assert bf16.predict(sentences) == fp32
    assert seen == [(True, torch.bfloat16)]                             # the network did run under autocast
    with pytest.raises(ValueError, match="fp32, bf16"):
        TransformerSRL.load(device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="fp32, bf16"):                # said first, before weights are looked for
        TransformerSRL.load("no-such-weights.pt", device="cpu", precision="fp16")


def test_bad_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParseError, match="not found"):
        TransformerSRL.load(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"config": {}, "weights": {}, "encoder_sha256": "0" * 64}, other)
    with pytest.raises(ParseError, match="another encoder"):
        TransformerSRL.load(other)


def test_cli_parse_backends(capsys):
    from hgr.cli import main
    assert main(["parse", "a chef slices onions", "--json"]) == 0
    nodes, edges = json.loads(capsys.readouterr().out)
    assert any(n["role"] == "V" and n["words"] == ["slices"] for n in nodes.values())
    assert main(["parse", "a chef slices onions", "--backend", "spacy", "--json"]) == 0
    json.loads(capsys.readouterr().out)


def test_layer_by_layer_encoding_equals_the_encoder_and_per_predicate_layers_start_from_it():
    """encode() runs the encoder's layers itself (to stop below the per-predicate layers): same states as the
    encoder's own forward; with the predicate marker at zero the per-predicate layers recompute the same words."""
    from hgr.parsing.transformer_srl import SRLTagger, TaggerConfig
    encoder, tokenizer = load_encoder()
    tagger = SRLTagger(encoder, TaggerConfig(tags=["O", "B-ARG0", "I-ARG0"], predicate_layers=2)).eval()
    sentences = [["a", "dog", "chases", "a", "cat"], ["birds", "sing"]]
    pieces, first, mask = piece_batch(tokenizer, sentences)
    with torch.no_grad():
        states = tagger.encode(pieces, first)
        plain = encoder(pieces["input_ids"], pieces["attention_mask"])
        expected = plain.gather(1, first.unsqueeze(-1).expand(-1, -1, plain.shape[-1]))
        assert torch.allclose(states.words[mask], expected[mask], atol=1e-5)
        assert states.below.shape == plain.shape
        # per-predicate rows: with the marker at zero, the top layers run again give the sentence's own words
        sentence, predicate = torch.tensor([0, 1, 0]), torch.tensor([2, 1, 0])
        again = tagger.predicate_words(states, sentence, predicate)
        assert torch.allclose(again, states.words[sentence], atol=1e-5)
        tagger.marker.weight.data.normal_()
        assert not torch.allclose(tagger.predicate_words(states, sentence, predicate), again, atol=1e-3)


def test_sentences_outside_a_collection_are_parsed_by_its_recorded_parser():
    """Evaluation parses a perturbation the collection's graphs lack with the parser that made them (the demo's
    manifest records the spaCy labeller), not with whatever the default is now."""
    from hgr.graph import graph_lookup
    from hgr.parsing import recorded_backend
    assert recorded_backend(parser_id("spacy")) == "spacy" and recorded_backend(None) == "transformer"
    assert recorded_backend("allennlp:0123") == "transformer"
    sentence = "a chef slices onions in a restaurant kitchen"
    spacy_graph = graph_lookup({}, parser_id("spacy"))(sentence)
    assert spacy_graph == parse(sentence, backend="spacy").to_json() != parse(sentence).to_json()
    assert graph_lookup({sentence: ["cached"]}, parser_id("spacy"))(sentence) == ["cached"]


GOLD = """#begin document (test); part 000
test 0 0 A DT (TOP(S(NP* - - (ARG0* (ARG0*
test 0 1 chef NN *) - - *) *)
test 0 2 slices VBZ (VP* slice slice.01 (V*) *
test 0 3 onions NNS (NP*) - - (ARG1*) *
test 0 4 and CC * - - * *
test 0 5 smiles VBZ * smile smile.01 * (V*)
test 0 6 . . *)) - - * *

#end document
"""


def test_training_with_filler_swaps_sees_the_swapped_sentences(tmp_path, monkeypatch):
    """`srl-train --filler-swap 1`: every epoch's sentences come from fillers.swap_filler (here the chef and the
    onions trade places, labels moved with them), and the log says how many noun phrases the pool holds."""
    from hgr.parsing import transformer_train as tt
    from hgr.parsing.transformer_srl import DEFAULT_TRANSFORMER_WEIGHTS

    gold = tmp_path / "tiny.gold_conll"
    gold.write_text(GOLD)
    seen, logged = [], []
    step = tt.step_loss

    def recording_step(model, tokenizer, batch, *rest):
        seen.extend(batch)
        return step(model, tokenizer, batch, *rest)

    monkeypatch.setattr(tt, "step_loss", recording_step)
    cfg = tt.TransformerTrainConfig(epochs=1, batch_size=1, encoder_lr=0.0, head_lr=0.0, warmup=0.0, filler_swap=1.0,
                                    caption_form=0.0)
    tt.train(gold, tmp_path / "swapped.pt", cfg, init=DEFAULT_TRANSFORMER_WEIGHTS, device="cpu", log=logged.append)
    assert "filler swaps: 100% of sentences an epoch, from 2 noun phrases" in logged
    (sent,) = seen
    slices = sent.predicates[0]
    assert (sent.words, slices.index, slices.arguments) in [
        (["onions", "slices", "onions", "and", "smiles", "."], 1, [(0, 0, "ARG0"), (2, 2, "ARG1")]),
        (["A", "chef", "slices", "A", "chef", "and", "smiles", "."], 2, [(0, 1, "ARG0"), (3, 4, "ARG1")])]


def test_training_goes_on_from_a_weights_file(tmp_path):
    """`srl-train --init`: the file's layers, heads and tags are where training starts (at a learning rate of 0 they
    come out unchanged, with the file they came from recorded); with a dev set, an epoch that does not beat the
    file's dev F1 writes nothing."""
    from hgr.parsing.transformer_srl import DEFAULT_TRANSFORMER_WEIGHTS
    from hgr.parsing.transformer_train import TransformerTrainConfig, train

    gold = tmp_path / "tiny.gold_conll"
    gold.write_text(GOLD)
    assert [len(s.predicates) for s in read_conll(gold)] == [2]
    frozen = TransformerTrainConfig(epochs=1, batch_size=1, encoder_lr=0.0, head_lr=0.0, warmup=0.0)
    out = tmp_path / "more.pt"
    train(gold, out, frozen, init=DEFAULT_TRANSFORMER_WEIGHTS, device="cpu", log=lambda *_: None)
    start = torch.load(DEFAULT_TRANSFORMER_WEIGHTS, weights_only=True)
    went_on = torch.load(out, weights_only=True)
    assert went_on["init"] == str(DEFAULT_TRANSFORMER_WEIGHTS) and went_on["config"] == start["config"]
    assert went_on["weights"].keys() == start["weights"].keys()
    assert all(torch.equal(went_on["weights"][k], start["weights"][k]) for k in start["weights"])

    logged = []
    unchanged = tmp_path / "unchanged.pt"
    backend = train(gold, unchanged, frozen, dev_path=gold, init=DEFAULT_TRANSFORMER_WEIGHTS, device="cpu",
                    log=logged.append)
    assert not unchanged.exists() and any("nothing written" in line for line in logged)
    assert backend.predict([["a", "chef", "slices", "onions"]])[0]["verbs"][0]["verb"] == "slices"
