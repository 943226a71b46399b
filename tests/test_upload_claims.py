"""Identical uploads share one server path: the last request holding it deletes it, not the first."""
from __future__ import annotations

from hgr.app.service import claimed_upload


def test_overlapping_requests_share_an_upload_until_the_last_one_ends(tmp_path):
    upload = tmp_path / "clip.mp4"
    upload.write_bytes(b"same bytes")
    with claimed_upload(upload, delete=True) as first:
        with claimed_upload(upload, delete=True) as second:
            assert second.read_bytes() == b"same bytes"
        assert first.exists()                          # the other request is still using it
    assert not upload.exists()                         # deleted after the last use


def test_files_outside_the_upload_area_are_never_deleted(tmp_path):
    mine = tmp_path / "collection_clip.mp4"
    mine.write_bytes(b"keep me")
    with claimed_upload(mine, delete=False):
        pass
    assert mine.read_bytes() == b"keep me"
