"""Byte-identical uploads share one path in gradio's upload folder: no request deletes it (a queued identical one
may still need it); gradio's cache sweep, which the app turns on, deletes uploads."""
from __future__ import annotations

import functools
import shutil
from concurrent.futures import ThreadPoolExecutor

from tests.appfixture import app_data


@functools.cache
def _service():
    import hgr
    from hgr.app.service import DemoService
    from hgr.collection import Collection

    root = app_data()
    return DemoService.open(Collection.open(root / "collection"), hgr.load(root / "model.pt", device="cpu"))


def test_an_identical_upload_queued_behind_another_still_finds_its_file(tmp_path):
    """Two requests sent at once with the same upload, run one after the other (a queue with one worker, as
    gradio's queue runs them when the endpoint is busy): the second finds the file the first one read."""
    from hgr.app.api import Api

    upload = tmp_path / "uploads" / "0123abcd" / "clip.mp4"           # gradio's layout: <upload dir>/<hash>/<name>
    upload.parent.mkdir(parents=True)
    shutil.copy(app_data() / "videos" / "clip3.mp4", upload)
    api = Api(_service())
    with ThreadPoolExecutor(max_workers=1) as queue:
        requests = [queue.submit(api.captions, str(upload), 2) for _ in range(2)]
        answers = [r.result(timeout=120) for r in requests]
    assert [a["results"][0]["video_id"] for a in answers] == ["clip3", "clip3"]
    assert upload.is_file()


def test_the_app_has_gradio_sweep_its_uploads(tmp_path):
    from gradio.route_utils import delete_files_created_by_app

    from hgr.app.ui import build

    demo = build(_service())
    assert demo.delete_cache == (3600, 3600)                # every hour, files older than an hour
    upload = tmp_path / "clip.mp4"
    upload.write_bytes(b"user data")
    demo.upload_file_set.add(str(upload))                   # what gradio's /upload route does with each file
    delete_files_created_by_app(demo, 0)
    assert not upload.exists()
