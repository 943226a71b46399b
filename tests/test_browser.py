"""End to end in a real browser: Debian's chromium driven by Playwright for Python (never `playwright install`).

Types a query, runs it, sees the ranked clips, the scores and the query graph; uploads a clip in the second tab and
sees its captions. Screenshots of both tabs go to $HGR_SCREENSHOTS (default test-artifacts/, git-ignored).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_app import REPO, app_data, start_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at "
                                "/usr/bin/chromium (`make browser` installs it, as root)")


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    app = start_app()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(app.url)
        yield page
        browser.close()
    app.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    out = Path(os.environ.get("HGR_SCREENSHOTS") or REPO / "test-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_text_to_video(page, shots):
    page.get_by_text("Why does this video match this sentence?").wait_for()
    page.locator("#query textarea").fill("a green bar sweeps over a yellow wall")
    page.locator("#search-btn").click()
    first = page.locator("#results").get_by_text("#1 clip2")
    first.wait_for()
    assert page.locator("#results video, #results img").count() >= 1
    page.locator("#graph .js-plotly-plot").wait_for()
    graph_text = page.locator("#graph").inner_text()
    assert "sweeps" in graph_text
    page.locator("#alignment").get_by_text("#1 clip2: which frames").wait_for()
    clips = page.eval_on_selector_all("#results video", "els => els.map(e => e.currentSrc || e.src)")
    assert clips and all("/videos/clip" in src for src in clips)         # served in place, not copied per request
    page.locator("#results .thumbnail-item").nth(1).click()              # select #2: its alignment, its clip
    page.locator("#alignment").get_by_text("#2 clip").wait_for()
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "text-to-video.png"), full_page=True)


def test_video_to_text(page, shots):
    page.get_by_role("tab", name="Video → text").click()
    page.locator("#upload input[type=file]").set_input_files(str(app_data() / "videos" / "clip4.mp4"))
    page.locator("#upload").get_by_text("clip4.mp4").wait_for()
    page.locator("#captions-btn").click()
    caption = page.locator("#captions").get_by_text("an orange square slides over a grey floor")
    caption.filter(visible=True).first.wait_for()              # the table also holds hidden copies of cell text
    page.locator("#v2t-alignment .js-plotly-plot").wait_for()
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "video-to-text.png"), full_page=True)
