"""Regenerate the README's screenshots of the app on the embedded demo (Debian chromium + Playwright).

    python docs/screenshots.py        # starts `python app.py` on a free port, writes docs/screenshot-*.png

The search tab is shot whole at 1440x900 (a desktop) and, at 390x844 (a phone), from the top of the page to the
selected clip's frame alignment; the captions tab is shot whole; the graph editor, the comparison and similar clips
from their own part of the page down, to keep each PNG small.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUERY = "a dog is chasing a cat on the grass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_png(path: Path) -> None:
    """The screenshot in 256 colours (about a third of the bytes; the page is flat colours and small thumbnails)."""
    from PIL import Image

    with Image.open(path) as image:
        flat = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    flat.save(path, optimize=True)


def shot(page, name: str, **clip) -> None:
    """A full-page screenshot to docs/<name>, made small."""
    path = REPO / "docs" / name
    page.screenshot(path=str(path), full_page=True, **clip)
    small_png(path)


def shot_from(page, selector: str, name: str, until: str | None = None) -> None:
    """A full-page screenshot cut from the top of `selector` to the bottom of `until` (or of the page)."""
    scrolled = page.evaluate("window.scrollY")                   # bounding boxes are relative to the viewport
    top = page.locator(selector).bounding_box()["y"] + scrolled
    if until:
        box = page.locator(until).bounding_box()
        bottom = box["y"] + box["height"] + scrolled
    else:
        bottom = page.evaluate("document.body.scrollHeight")
    shot(page, name, clip={"x": 0, "y": top - 8, "width": page.viewport_size["width"], "height": bottom - top + 16})


def compare(page, video_id: str) -> None:
    """Compare tab: a demo clip's true caption against its switch-roles perturbation."""
    page.get_by_role("tab", name="Compare captions").click()
    page.locator("#compare-video input").fill(video_id)
    page.get_by_role("option", name=video_id, exact=True).click()
    page.locator("#perturbation input").click()
    page.get_by_role("option").filter(has_text="switch roles").first.click()
    page.locator("#compare-btn").click()
    page.locator("#compare-align-b").get_by_text("frames each node attended to").wait_for()
    page.wait_for_timeout(1500)
    shot_from(page, "#tabs", "screenshot-compare.png", until="#compare-align-a")


def rerank(page) -> None:
    """Text -> video, then the query graph's ARG0 and ARG1 swapped and the clips re-ranked."""
    page.get_by_role("tab", name="Text → video").click()
    page.locator("#query textarea").fill("a dog is chasing a cat")
    page.locator("#search-btn").click()
    page.locator("#alignment").get_by_text("which frames each node").wait_for()
    page.locator("#edit-op input").click()
    page.get_by_role("option", name="swap the two participants of an action").click()
    page.wait_for_function("() => document.querySelector('#edit-target input').value.includes('↔')")
    page.locator("#rerank-btn").click()
    page.locator("#changes table").wait_for()
    page.wait_for_timeout(1500)
    shot_from(page, "#graph-row", "screenshot-rerank.png", until="#changes")


def similar(page) -> None:
    """Similar clips of the first result of the last search."""
    page.locator("#similar-selected-btn").click()
    page.locator("#similar-scores").get_by_text("Similarity to").wait_for()
    page.wait_for_timeout(1500)
    shot_from(page, "#tabs", "screenshot-similar.png")


def frames_shown(page, gallery: str = "#results") -> None:
    """Wait until every card's clip shows its first frame: a phone loads the cards below the screen late."""
    for video in page.locator(f"{gallery} video").all():
        video.scroll_into_view_if_needed()
        video.evaluate("v => new Promise(done => v.readyState >= 2 ? done() : v.addEventListener('loadeddata', done))")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(800)


def phone(browser, url: str) -> None:
    """The search tab on a 390x844 phone, after a query: from the top of the page to the end of the alignment."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.set_default_timeout(120_000)
    page.goto(url)
    page.locator("#query textarea").fill(QUERY)
    page.locator("#search-btn").tap()
    page.locator("#alignment").get_by_text("which frames each node").wait_for()
    frames_shown(page)
    box = page.locator("#alignment").bounding_box()
    bottom = box["y"] + box["height"] + page.evaluate("window.scrollY")
    shot(page, "screenshot-phone.png", clip={"x": 0, "y": 0, "width": 390, "height": bottom + 8})
    page.close()


def main() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port)], cwd=REPO)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.locator("#query textarea").fill(QUERY)
            page.locator("#search-btn").click()
            page.locator("#alignment").get_by_text("which frames each node").wait_for()
            page.wait_for_timeout(1500)
            shot(page, "screenshot-search.png")
            page.get_by_role("tab", name="Video → text").click()
            clip = sorted((REPO / "assets" / "demo" / "videos").glob("*.mp4"))[0]
            page.locator("#upload input[type=file]").set_input_files(str(clip))
            page.locator(f"#upload td.filename[aria-label='{clip.name}']").wait_for()       # uploaded
            page.locator("#captions-btn").click()
            page.locator("#v2t-alignment").get_by_text("against caption #1").wait_for()
            page.wait_for_timeout(1500)
            shot(page, "screenshot-captions.png")
            compare(page, clip.stem)
            rerank(page)
            similar(page)
            phone(browser, url)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
