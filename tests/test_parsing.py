"""The parser: official-notebook parity from AllenNLP frames, role-sensitive sentences, typed and bad input."""
import json
import warnings
from pathlib import Path

import pytest

from hgr.errors import ParseError
from hgr.graph import graph_json_equal
from hgr.parsing import graph_from_srl, normalize_caption, parse, parse_many
from hgr.parsing.frames import build_role_graph, frame_arguments

PARITY = Path(__file__).parent / "data" / "parity"


def roles_of(graph, action_word: str) -> dict[str, str]:
    """{role: entity text} of the action whose words are `action_word`."""
    action = next(a for a in graph.actions if a.words == [action_word])
    return {role: " ".join(e.words) for e, role in graph.arguments(action.name)}


# ---- graph builder = official notebook ------------------------------------------------------------------------
def test_from_srl_reproduces_official_graphs():
    srl = json.loads((PARITY / "sent2srl.json").read_text())
    official = json.loads((PARITY / "root" / "annotation" / "RET" / "sent2rolegraph.augment.json").read_text())
    assert set(srl) == set(official)
    for sentence, out in srl.items():
        ours = graph_from_srl(out).to_json()
        if official[sentence][1]:       # a sentence with a frame: identical nodes (order included) and edges
            assert graph_json_equal(ours, official[sentence]), sentence
        else:   # augmented with spaCy noun chunks (the official run's spaCy may differ in span details)
            assert [n["role"] for n in ours[0].values()] == [n["role"] for n in official[sentence][0].values()]
            assert ours[1] == official[sentence][1] == []


def test_cli_from_srl(tmp_path):
    from hgr.cli import main
    out = tmp_path / "graphs.json"
    assert main(["parse", "--from-srl", str(PARITY / "sent2srl.json"), "--out", str(out)]) == 0
    official = json.loads((PARITY / "root" / "annotation" / "RET" / "sent2rolegraph.augment.json").read_text())
    ours = json.loads(out.read_text())
    assert list(ours) == list(json.loads((PARITY / "sent2srl.json").read_text()))
    assert all(graph_json_equal(ours[s], official[s]) for s in ours if ours[s][1])


def test_bio_edge_cases():
    # a stray I- after O starts a new argument; repeated roles are separate nodes stored as plain ARG1
    tags = ["B-ARG0", "B-V", "B-ARG1", "O", "I-ARG1", "B-ARGM-TMP"]
    assert frame_arguments(tags) == {"ARG0:1": [0], "V:1": [1], "ARG1:1": [2], "ARG1:2": [4], "ARGM-TMP:1": [5]}
    words = "he eats apples and pears today".split()
    graph = build_role_graph(words, [{"verb": "eats", "tags": tags},
                                     {"verb": "is", "tags": ["O", "B-V", "O", "O", "O", "O"]},
                                     {"verb": "eats", "tags": tags}])
    assert [(n.role, n.spans) for n in graph.nodes[1:]] == [
        ("V", [1]), ("ARG0", [0]), ("ARG1", [2]), ("ARG1", [4]), ("ARGM-TMP", [5])]
    assert len(graph.edges) == 4


def test_bad_srl_is_a_parse_error():
    with pytest.raises(ParseError):
        graph_from_srl({"verbs": []})
    with pytest.raises(ParseError):
        graph_from_srl({"words": ["a", "dog"], "verbs": [{"verb": "a", "tags": ["B-V"]}]})


# ---- role-sensitive sentences ---------------------------------------------------------------------------------
def test_agent_and_patient_swap():
    a = roles_of(parse("a dog chases a cat"), "chases")
    b = roles_of(parse("a cat chases a dog"), "chases")
    assert (a["ARG0"], a["ARG1"]) == ("a dog", "a cat")
    assert (b["ARG0"], b["ARG1"]) == ("a cat", "a dog")


def test_passive_keeps_roles():
    active = roles_of(parse("a dog chases a cat"), "chases")
    passive = roles_of(parse("a cat is chased by a dog"), "chased")
    assert passive["ARG1"] == active["ARG1"] == "a cat"
    assert passive["ARG0"] in ("by a dog", "a dog")


def test_coordinated_verbs_share_their_subject():
    graph = parse("a man is slicing a tomato and putting it into a pot")
    assert [a.words for a in graph.actions] == [["slicing"], ["putting"]]
    subjects = {e.name for v, e_name, role in graph.edges if role == "ARG0" for e in [graph.node(e_name)]}
    assert len(subjects) == 1 and graph.node(subjects.pop()).words == ["a", "man"]
    assert sum(1 for _, _, role in graph.edges if role == "ARG0") == 2
    assert "is" not in [w for a in graph.actions for w in a.words]     # the auxiliary is not a frame


def test_pp_attached_to_the_object_is_still_an_argument():
    from hgr.parsing.candidates import candidates
    from hgr.parsing.spacy_nlp import parse_tokens
    words = "a woman is putting an egg into a cup in the kitchen".split()
    doc = next(parse_tokens([words]))
    spans = {(c.start, c.end) for c in candidates(doc, 3)}
    assert {(4, 5), (6, 8), (9, 11)} <= spans        # "an egg", "into a cup", "in the kitchen", whatever attaches
    roles = roles_of(parse(" ".join(words)), "putting")
    assert roles["ARG1"] == "an egg"
    assert any(text.startswith("into a cup") for text in roles.values())


def test_modal_and_negation():
    roles = roles_of(parse("the boy can not open the door"), "open")
    assert roles.get("ARGM-MOD") == "can" and roles.get("ARGM-NEG") == "not"


# ---- typed text -----------------------------------------------------------------------------------------------
def test_typed_text_gives_the_caption_graph():
    assert normalize_caption("  A Dog CHASES a cat. ") == "a dog chases a cat"
    assert normalize_caption("The man's dog isn't <b>barking</b>!!") == "the man s dog isn t barking"
    assert normalize_caption("a low-budget show &amp; a \U0001F600 party") == "a low-budget show a party"
    assert graph_json_equal(parse("A dog chases a cat.").to_json(), parse("a dog chases a cat").to_json())


def test_parse_many_matches_parse():
    sentences = ["a dog chases a cat", "a red car on a wet road", "people are dancing on stage"]
    for graph, sentence in zip(parse_many(sentences, batch_size=2), sentences):
        assert graph_json_equal(graph.to_json(), parse(sentence).to_json())
        assert graph.words == normalize_caption(sentence).split()


def test_bulk_parsing_gives_each_sentence_its_own_graph_in_order(monkeypatch):
    import threading

    import torch

    from hgr.parsing import bulk
    from hgr.parsing.parser import SentenceParser
    monkeypatch.setattr(bulk, "CHUNK", 2)                 # six distinct sentences: three chunks for two workers
    seen = []                                             # (thread, torch threads) of each chunk parsed
    parse_words = SentenceParser.parse_words

    def recording(self, token_lists, batch_size=None):
        seen.append((threading.get_ident(), torch.get_num_threads()))
        return parse_words(self, token_lists, batch_size)

    monkeypatch.setattr(SentenceParser, "parse_words", recording)
    sentences = ["a man slices onions in a kitchen", "a dog chases a cat", "A dog chases a cat!",
                 "a red car on a wet road", "people are dancing on stage", "the cat sleeps", "a girl sings a song",
                 "a dog chases a cat"]
    threads = torch.get_num_threads()
    graphs = bulk.parse_bulk(sentences, workers=2)
    assert torch.get_num_threads() == threads                         # restored
    assert len(seen) == 3 and len({t for t, _ in seen}) == 2
    assert {n for _, n in seen} == {max(1, bulk.available_cores() // 2)}   # the cores shared out
    assert graphs[1] is graphs[2] is graphs[7]                        # normalise alike: parsed once
    monkeypatch.setattr(SentenceParser, "parse_words", parse_words)
    for graph, sentence in zip(graphs, sentences):
        assert graph_json_equal(graph.to_json(), parse(sentence).to_json()), sentence
    spacy = bulk.parse_bulk(sentences[:3], "spacy", workers=2)        # spaCy: one worker whatever is asked
    assert graph_json_equal(spacy[0].to_json(), parse(sentences[0], backend="spacy").to_json())
    with pytest.raises(ParseError, match="nothing to parse"):        # before any parsing
        bulk.parse_bulk(["a dog runs", " ?! "])


def test_bulk_parsing_stops_at_the_first_failure(monkeypatch):
    import time

    from hgr.parsing import bulk
    from hgr.parsing.parser import SentenceParser
    monkeypatch.setattr(bulk, "CHUNK", 1)
    calls = []

    def failing(self, token_lists, batch_size=None):
        calls.append(token_lists[0])
        if token_lists[0] == ("boom",):                   # the shortest sentence: the first chunk
            raise RuntimeError("boom")
        time.sleep(0.05)
        return [None] * len(token_lists)

    monkeypatch.setattr(SentenceParser, "parse_words", failing)
    with pytest.raises(RuntimeError, match="boom"):
        bulk.parse_bulk(["boom"] + [f"a dog number {i} runs" for i in range(40)], workers=2)
    assert len(calls) < 10                                # the other 40 chunks were cancelled, not parsed


@pytest.mark.parametrize("text", ["", "   \n\t", "?!... ---", "\U0001F600\U0001F436"])
def test_nothing_to_parse_is_a_clear_error(text):
    with pytest.raises(ParseError, match="nothing to parse"):
        parse(text)


@pytest.mark.parametrize("text", ["un chien chasse un chat dans le parc", "\u72d7\u5728\u8ffd\u732b",
                                  "<p>a <i>dog</i> runs &amp; jumps</p>", "\U0001F600 a dog runs \U0001F436",
                                  "a", "1 2 3 4"])
def test_odd_input_gives_a_valid_graph(text):
    graph = parse(text)
    words = normalize_caption(text).split()
    assert graph.words == words
    for node in graph.nodes:
        assert all(0 <= i < len(words) for i in node.spans)
        assert node.words == [words[i] for i in node.spans]


def test_long_paste_is_truncated_with_a_warning():
    text = " ".join(["a dog chases a cat in the park and"] * 625)       # 5,000 words
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = parse(text)
    assert any("truncated" in str(w.message) for w in caught)
    assert 0 < len(graph.words) < 5000 and graph.actions


def test_cli_parse_sentence_and_file(tmp_path, capsys):
    from hgr.cli import main
    assert main(["parse", "A dog is chasing a cat!", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert graph_json_equal(printed, parse("a dog is chasing a cat").to_json())
    lines = ["A dog is chasing a cat!", "", "a man rides a horse", "...", "a man rides a horse"]
    (tmp_path / "captions.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "graphs.json"
    assert main(["parse", "--file", str(tmp_path / "captions.txt"), "--out", str(out)]) == 0
    graphs = json.loads(out.read_text())
    assert list(graphs) == ["A dog is chasing a cat!", "a man rides a horse"]     # keyed by the line as given
    assert graphs["A dog is chasing a cat!"][0]["ROOT"]["words"] == "a dog is chasing a cat".split()
    assert main(["parse"]) == 2            # nothing to parse: a clear error, not a traceback
    assert main(["parse", "--file", str(tmp_path / "captions.txt"), "--out", str(out), "--precision", "bf16"]) == 0
    assert graph_json_equal(json.loads(out.read_text())["a man rides a horse"], parse("a man rides a horse").to_json())
    assert main(["parse", "a dog runs", "--backend", "spacy", "--precision", "bf16"]) == 2   # transformer only
    assert "transformer backend only" in capsys.readouterr().err
