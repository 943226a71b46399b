"""The official HGR data release opened in place: its collection of one split and its checkpoint, together.

    collection, ckpt = open_official(root, "epoch.N.th", split="tst")    # hgr evaluate / hgr serve --official-root
"""
from __future__ import annotations

from pathlib import Path

import hgr
from hgr.checkpoint import Checkpoint
from hgr.collection import Collection


def open_official(root: str | Path, checkpoint: str | Path, split: str = "tst", features_name: str = "resnet152.pth",
                  model_json: str | Path | None = None, device: str = "auto") -> tuple[Collection, Checkpoint]:
    """The release's `split` under `root` and the official `checkpoint` with the release's vocabulary
    (annotation/RET/int2word.npy; word2int.json when present, else derived from it)."""
    collection = Collection.from_official(root, split, features_name)
    ann = Path(root) / "annotation" / "RET"
    word2int = ann / "word2int.json"
    ckpt = hgr.load_official(checkpoint, ann / "int2word.npy", word2int if word2int.exists() else None, model_json,
                             device=device)
    return collection, ckpt
