"""Regenerate the README's screenshots of the app on the embedded demo (Debian chromium + Playwright).

    python docs/screenshots.py        # starts `python app.py` on a free port, writes docs/screenshot-*.png
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
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.locator("#query textarea").fill(QUERY)
            page.locator("#search-btn").click()
            # the placeholder figures are plotly plots too: wait for the result's own titles
            page.locator("#alignment").get_by_text("which frames each node").wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(REPO / "docs" / "screenshot-search.png"), full_page=True)
            page.get_by_role("tab", name="Video → text").click()
            clip = sorted((REPO / "assets" / "demo" / "videos").glob("*.mp4"))[0]
            page.locator("#upload input[type=file]").set_input_files(str(clip))
            page.locator("#captions-btn").click()
            page.locator("#v2t-alignment").get_by_text("against caption #1").wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(REPO / "docs" / "screenshot-captions.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
