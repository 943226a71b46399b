"""HGR: Hierarchical Graph Reasoning for fine-grained video-text retrieval (Chen et al., CVPR 2020).

    import hgr
    ckpt = hgr.load("checkpoints/demo.pt")         # model, vocabulary, model card
    ckpt.model.encode_video(...), ckpt.model.encode_text(...), ckpt.model.score(...)
"""
from hgr.checkpoint import Checkpoint, load, load_official
from hgr.model import HGR, PRESETS, HGRConfig, preset

__version__ = "0.1.0"
__all__ = ["HGR", "PRESETS", "Checkpoint", "HGRConfig", "load", "load_official", "preset", "__version__"]
