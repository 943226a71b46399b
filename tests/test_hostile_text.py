"""Hostile text at every entry point: the parser, the model (through DemoService), the views' HTML, the CLI and the
running app's /search, /parse, /ui_search, /compare and /similar.

Property-based (hypothesis, seeded by its database-free `derandomize`): arbitrary unicode (control characters,
surrogates, RTL marks, emoji), very long strings, HTML/JS, format strings and path-like strings. The contract:
a result or an hgr.errors class, never another exception; never markup made from what a user typed; the app keeps
answering. Already covered in tests/test_app.py::test_bad_queries: empty, blank, punctuation-only, out-of-vocabulary
and over-long queries, with their messages.
"""
from __future__ import annotations

import html
import json
import math
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgr.errors import HGRError, ParseError

NASTY = [
    "<script>alert(1)</script> a red square moves",
    '<img src=x onerror="document.title=\'pwned\'"> a blue ball rolls',
    "\"><svg/onload=alert(1)>", "javascript:alert(1)", "{0} {__class__} %s %n %x {{}} ${HOME} $(rm -rf /)",
    "../../../../etc/passwd", "C:\\Windows\\system32\\cmd.exe", "file:///etc/shadow", "\x00\x01\x02 a dog\x7f",
    "a\u202eevil\u202c red square", "🙂🔥 a red square 🚀", "\ud800 lone surrogate", "ｆｕｌｌｗｉｄｔｈ ｒｅｄ",
    "a " * 499 + "red", "\n" * 300, "&lt;b&gt;bold&lt;/b&gt; a red square", "%(query)s %%", "\u0301\u0301\u0301",
    "DROP TABLE videos; --", "a red square" + "\u200b" * 500,
]
TEXT = st.one_of(
    st.text(max_size=300),                                                              # any unicode, controls too
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40).map(lambda s: s * 50),   # very long
    st.sampled_from(NASTY),
    st.builds(lambda a, b: f"{a} <{b} onerror=alert(1)> a red square {a}", st.text(max_size=20),
              st.sampled_from(["img", "script", "iframe", "a href=javascript:x", "svg"])),
)
FAST = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------------------------------------ parser
@FAST
@given(TEXT)
def test_normalised_text_is_only_words(text):
    from hgr.parsing import normalize_caption

    out = normalize_caption(text)
    assert all(c.isalnum() or c in " -" for c in out), out                 # no markup, quote or control survives
    assert normalize_caption(out) == out


@SLOW
@given(TEXT)
def test_parser_gives_a_graph_or_a_parse_error(text):
    from hgr.parsing import normalize_caption, parse

    try:
        graph = parse(text)
    except ParseError:
        assert not normalize_caption(text).split()
        return
    words = graph.words
    assert words == normalize_caption(text).split()[:len(words)]
    assert all(0 <= i < len(words) for node in graph.nodes for i in node.spans)


# ------------------------------------------------------------------------------------------------ model (in-process)
@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """DemoService over the synthetic collection with an untrained model: enough to exercise every code path."""
    from hgr.app.service import DemoService
    from hgr.checkpoint import Checkpoint
    from hgr.collection import Collection
    from hgr.model import HGR, preset
    from hgr.vocab import Vocabulary
    from tests.synthetic import build

    coll = Collection.open(build(tmp_path_factory.mktemp("c") / "c", n_train=8, n_val=4, dim=24))
    vocab = Vocabulary.build(c for caps in coll.captions.values() for c in caps)
    cfg = preset("demo").replace(dim_fts=24, dim_embed=32, dim_word=16, num_words=len(vocab))
    yield DemoService.open(coll, Checkpoint(HGR(cfg).eval(), vocab))
    coll.close()


@SLOW
@given(TEXT, st.one_of(st.integers(-5, 80), st.floats(allow_nan=True), st.text(max_size=5), st.none()))
def test_search_and_parse_give_json_or_a_clear_error(service, text, top_k):
    for call in (lambda: service.search(text, top_k), lambda: service.parse(text)):
        try:
            out = call()
        except HGRError as err:
            assert str(err)
            continue
        json.dumps(out, allow_nan=False)                                   # serialisable, every score finite
        assert all(math.isfinite(v) for r in out.get("results", []) for v in r["scores"].values())
        assert all(c.isalnum() or c in " -" for c in out["query"])


# ------------------------------------------------------------------------------------------------ views' HTML
class Markup(HTMLParser):
    """Collects the tags and attributes of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def markup(fragment: str) -> list[tuple[str, list]]:
    parser = Markup()
    parser.feed(fragment)
    return parser.tags


@FAST
@given(TEXT)
def test_views_never_turn_typed_text_into_markup(text):
    """describe_result (clip titles, captions) and user_errors (messages quoting the query) escape what they show."""
    import gradio as gr

    from hgr.app.views import describe_result, user_errors

    scores = {"event": 0.1, "action": 0.2, "entity": 0.3, "fused": 0.2}
    tags = markup(describe_result({"scores": scores}, text))
    assert [t for t, _ in tags] == ["div", "b", "br"] + ["span"] * 4
    assert {name for _, attrs in tags for name, _ in attrs} <= {"class", "style"}

    def fails(message):
        raise ParseError(message)

    for raise_it in (fails, lambda m: {}[m]):                              # an hgr error, an unforeseen error
        with pytest.raises(gr.Error) as err:
            user_errors(raise_it)(text)
        assert not markup(err.value.message), err.value.message
        assert html.unescape(err.value.message).count(text[:50]) >= (1 if raise_it is fails else 0)


def test_names_from_a_collection_are_escaped_in_the_header_and_about_tab(service):
    from hgr.app.ui import header_html
    from hgr.app.views import about_markdown

    evil = "<img src=x onerror=alert(1)>`<script>alert(2)</script>"
    service.collection.name = evil
    service.checkpoint.card["name"] = evil
    try:
        header = header_html(service)
        assert "<img" not in header and "<script" not in header and html.escape(evil) in header
        about = about_markdown(service)
        for line in about.splitlines():                                  # only ever inside a code span
            for part in line.split("`")[::2]:
                assert "<img" not in part and "<script" not in part
    finally:
        service.collection.name = "c"
        service.checkpoint.card.pop("name")


@FAST
@given(TEXT, TEXT)
def test_the_why_views_never_turn_typed_text_into_markup(text, other):
    """The Compare verdict, the editor's history and the rank-change table escape captions, clip names (an upload's
    file name), node words, typed roles and video ids."""
    from hgr.app.why import changes_html, edits_html, verdict_html

    scores = {"event": 0.1, "action": 0.2, "entity": 0.3, "fused": 0.2}
    graph = {"nodes": [{"id": "1", "level": "action", "role": "V", "words": [text]},
                       {"id": "2", "level": "entity", "role": other, "words": [other]}]}
    side = {"caption": text, "scores": scores, "graph": graph, "differs": ["1", "2"], "true": None,
            "nodes": {"1": {"score": 0.5}}}
    out = {"clip": other, "frames": 3, "a": side, "b": {**side, "caption": other, "true": False},
           "winner": dict.fromkeys(scores, "a"), "margin": dict.fromkeys(scores, 0.1)}
    previous = {"rank": 2, "change": 1, "new": False, "delta": scores}
    result = {"query": text, "base": {"query": other}, "edits": [text, other],
              "results": [{"rank": 1, "video_id": other, "scores": scores, "previous": previous}],
              "previous": {"left": [text]}}
    allowed = {"div", "p", "b", "span", "table", "tr", "th", "td", "ol", "li"}
    for fragment in (verdict_html(out), edits_html(result), changes_html(result)):
        tags = markup(fragment)
        assert {t for t, _ in tags} <= allowed, fragment
        assert {name for _, attrs in tags for name, _ in attrs} <= {"class", "style"}, fragment


# ------------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("query", NASTY[:6] + NASTY[8:12])
def test_cli_parse_prints_a_graph_or_one_line(query, capsys):
    from hgr.cli import main

    code = main(["parse", query, "--json"])
    out, err = capsys.readouterr()
    assert (code == 0 and json.loads(out)) or (code == 2 and "hgr parse: error:" in err and "Traceback" not in err)


def test_cli_search_with_hostile_queries(capsys):
    from hgr.cli import main
    from tests.appfixture import app_data

    root = app_data()
    for query in (NASTY[0], NASTY[4], NASTY[8], "?!", "a " * 600):
        code = main(["search", query, "--collection", str(root / "collection"), "--checkpoint",
                     str(root / "model.pt"), "--device", "cpu", "--json"])
        out, err = capsys.readouterr()
        assert (code == 0 and json.loads(out)["results"]) or (code == 2 and "hgr search: error:" in err), query


# ------------------------------------------------------------------------------------------------ the running app
# `app` and `client`: the shared guarded app (tests/conftest.py)


def _raw_call(url: str, api_name: str, args: tuple) -> tuple[str, object]:
    """A request as raw JSON with \\u escapes: how a client sends text that is not valid UTF-8 (lone surrogates),
    which gradio_client cannot encode."""
    import urllib.request

    base = f"{url.rstrip('/')}/gradio_api/call{api_name}"
    req = urllib.request.Request(base, data=json.dumps({"data": list(args)}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        event = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{base}/{event}", timeout=120) as r:
        stream = r.read().decode()
    kind, _, data = stream.strip().rpartition("event: ")[2].partition("\ndata: ")
    if kind == "error":
        error = json.loads(data)
        return "error", str(error.get("error") if isinstance(error, dict) else error)
    assert kind == "complete", stream[-300:]
    outputs = json.loads(data)
    return "ok", outputs[0] if len(outputs) == 1 else tuple(outputs)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _call(client, *args, api_name: str, timeout: float = 120):
    """One request; returns ('ok', result) or ('error', message); any other outcome fails the test."""
    from gradio_client.exceptions import AppError

    if not all(_utf8(a) for a in args if isinstance(a, str)):
        padding = (None, None) if api_name == "/search" else ()   # raw HTTP sends every input: graph, previous
        return _raw_call(client.src, api_name, (*args, *padding))
    try:
        return "ok", client.submit(*args, api_name=api_name).result(timeout=timeout)
    except AppError as err:
        return "error", str(err)


def _check_app_error(message: str) -> None:
    assert message and "internal error" not in message, f"an unforeseen exception in the app: {message}"
    assert not markup(message), f"markup in an error message: {message}"


@pytest.mark.parametrize("api_name", ["/search", "/parse", "/ui_search", "/compare", "/similar"])
def test_app_endpoints_with_nasty_strings(client, app, api_name):
    for query in NASTY:
        args = {"/parse": (query,), "/compare": (query, "a red square moves", "clip0", None),
                "/similar": (query, None, 3)}.get(api_name, (query, 3))
        kind, out = _call(client, *args, api_name=api_name)
        if kind == "error":
            _check_app_error(out)
        elif api_name == "/ui_search" and isinstance(out[3], dict):        # rejected: the page keeps its answer
            assert not any(isinstance(part, dict) and "value" in part for part in out), out   # gr.skip: nothing
        elif api_name == "/ui_search":
            assert {t for t, _ in markup(out[3])} <= {"div", "b", "br", "span", "p"}
        elif api_name == "/compare":
            assert all(c.isalnum() or c in " -" for c in out["a"]["caption"])
        elif api_name == "/similar":
            pytest.fail(f"/similar took {query!r} for a video id")
        else:
            assert all(c.isalnum() or c in " -" for c in out["query"])
    assert app.proc.poll() is None
    assert client.predict("a red square moves across a black screen", 1, api_name="/search")["results"]


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=TEXT, top_k=st.one_of(st.integers(-3, 60), st.floats(allow_nan=False, allow_infinity=False)))
def test_app_search_property(client, text, top_k):
    kind, out = _call(client, text, top_k, api_name="/search")
    if kind == "error":
        _check_app_error(out)
    else:
        assert 1 <= len(out["results"]) <= 6


def test_the_page_shows_typed_html_as_text(app):
    """In a real browser: a query made of HTML runs no script and adds no element (skipped without chromium)."""
    from tests.test_browser import ARGS, CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    evil = '<img id=evil src=x onerror="window.__xss=1"> a green bar <b id=bold>sweeps</b> over a yellow wall'
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(app.url)
            page.locator("#query textarea").fill(evil)
            page.locator("#search-btn").click()
            page.locator("#results").get_by_text("#1 ").first.wait_for()
            page.locator("#graph .js-plotly-plot").wait_for()
            assert page.evaluate("window.__xss") is None
            assert page.locator("#evil").count() == 0 and page.locator("#bold").count() == 0
            page.locator("#query textarea").fill("<script>window.__xss=2</script>")
            page.locator("#search-btn").click()
            page.get_by_text("vocabulary").first.wait_for()               # the error box, shown as text
            assert page.evaluate("window.__xss") is None
        finally:
            browser.close()


@pytest.mark.parametrize("top_k", [float("inf"), float("-inf"), float("nan"), "7 videos", [3], 10**30])
def test_impossible_top_k_is_a_clear_error(service, top_k):
    with pytest.raises(HGRError, match="top_k must be"):
        service.search("a dog is chasing a ball", top_k)
