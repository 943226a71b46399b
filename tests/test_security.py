"""Safe defaults (docs/security.md), each checked against the running app or the command line.

The app here (tests/appfixture.py::guarded_app) is started as a user would start it, without the tests' switches
(GRADIO_ANALYTICS_ENABLED, HF_HUB_OFFLINE unset), with GRADIO_SHARE=True in its environment, and under a socket
guard that blocks and logs any connection to a non-loopback address and any name lookup.

Covered in tests/test_app.py and cited by docs/security.md: only the collection's video folder is served
(test_only_the_video_folder_is_served), the upload size limit (test_upload_over_the_size_limit); uploads swept
by gradio (tests/test_upload_claims.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.appfixture import REPO, app_data, guarded_app, net_guard_env

# `app` and `client`: the shared guarded app (tests/conftest.py)


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:               # 0A: LISTEN
                found.add(address)
    return found


def test_binds_to_loopback_by_default(app):
    import argparse

    from hgr.app import server

    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    assert parser.parse_args([]).host == "127.0.0.1"
    assert app.url.startswith("http://127.0.0.1:")
    assert listening_addresses(app.port) == {"0100007F"}                  # 127.0.0.1, nothing else


def test_public_sharing_stays_off_even_when_the_environment_asks(app):
    log = "".join(app.log)
    assert "gradio.live" not in log and "public url" not in log.lower() and "public link" not in log.lower()


def test_no_network_at_run_time(client, app):
    """Search, an upload and the page itself: the guarded app never tried to reach the network."""
    from gradio_client import handle_file

    assert client.predict("a red square moves across a black screen", 3, api_name="/search")["results"]
    assert client.predict(handle_file(str(app_data() / "videos" / "clip1.mp4")), 2, api_name="/captions")
    assert app.get("/") == 200
    assert guarded_app()[1].read_text() == "", "the app tried to reach the network"


def test_no_network_from_the_search_command(tmp_path):
    root = app_data()
    env = {k: v for k, v in os.environ.items() if k not in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE")}
    env.update(net_guard_env(tmp_path))
    out = subprocess.run([sys.executable, "-m", "hgr", "search", "a blue ball rolls across a white floor",
                          "--collection", str(root / "collection"), "--checkpoint", str(root / "model.pt"),
                          "--device", "cpu", "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "net.log").read_text() == ""


def test_the_guard_catches_gradio_analytics(tmp_path):
    """The guard is real: a plain gr.Blocks() (analytics on by default) tries to phone home; the app's does not."""
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    env.update(net_guard_env(tmp_path))
    code = ("import threading, gradio as gr\n"
            "gr.Blocks()\n"
            "[t.join(30) for t in threading.enumerate() if t is not threading.main_thread()]\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, timeout=300, check=True)
    assert (tmp_path / "net.log").read_text() != ""


@pytest.mark.parametrize("path", [
    "{videos}/../model.pt", "{videos}/%2e%2e/model.pt", "{videos}/..%2fmodel.pt", "{videos}/../collection/features.h5",
    "/etc/passwd", "{videos}/link-to-model.mp4", "{videos}/../../{root_name}/model.pt",
])
def test_nothing_outside_the_video_folder_is_served(app, path):
    root = app_data()
    link = root / "videos" / "link-to-model.mp4"              # a symlink planted in the served folder
    if not link.is_symlink():
        link.symlink_to(root / "model.pt")
    try:
        url = path.format(videos=root / "videos", root_name=root.name)
        assert app.get(f"/gradio_api/file={urllib.parse.quote(url, safe='/%')}") in (403, 404), url
        assert app.get(f"/gradio_api/file={root / 'videos' / 'clip0.mp4'}") == 200
    finally:
        link.unlink()


def test_nothing_but_uploads_stays_on_the_server(client, app):
    """After uploads (good and broken), the app's temporary folder holds only what gradio stored: the uploads
    themselves and its copies of collection videos the gallery showed, each in gradio's content-addressed folders
    (swept by gradio within two hours, tests/test_upload_claims.py), and an empty file gradio makes; nothing the
    app made from what a user sent."""
    import re

    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    upload = app.tmp.parent / f"mine-{app.port}.mp4"
    sent = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20                           # a broken upload
    upload.write_bytes(sent)
    try:
        with pytest.raises(AppError):
            client.predict(handle_file(str(upload)), 2, api_name="/captions")
    finally:
        upload.unlink()
    client.predict("a green bar sweeps over a yellow wall", 3, api_name="/ui_search")       # fills the gallery cache
    stored = [p for p in app.tmp.rglob("*") if p.is_file() and p.stat().st_size]    # gradio's empty tmpXXXX: no data
    assert any(p.name == upload.name and p.read_bytes() == sent for p in stored)
    for p in stored:
        assert re.fullmatch(r"[0-9a-f]{64}", p.parent.name) and p.parent.parent == app.tmp, \
            f"left on the server outside gradio's store: {p} ({p.stat().st_size} bytes: {p.read_bytes()[:40]!r})"
