"""HGR: Hierarchical Graph Reasoning for fine-grained video-text retrieval (Chen et al., CVPR 2020).

    import hgr
    ckpt = hgr.load("checkpoints/demo.pt")         # model, vocabulary, model card
    ckpt.model.encode_video(...), ckpt.model.encode_text(...), ckpt.model.score(...)

The names below are imported on first use (PEP 562), so `import hgr.cli` or `hgr parse` does not pay for torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hgr.checkpoint import Checkpoint, load, load_official
    from hgr.model import HGR, PRESETS, HGRConfig, preset

__version__ = "0.1.0"
__all__ = ["HGR", "PRESETS", "Checkpoint", "HGRConfig", "load", "load_official", "preset", "__version__"]

# public name -> the module that defines it
_LAZY = {"Checkpoint": "hgr.checkpoint", "load": "hgr.checkpoint", "load_official": "hgr.checkpoint",
         "HGR": "hgr.model", "PRESETS": "hgr.model", "HGRConfig": "hgr.model", "preset": "hgr.model"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hgr' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
