"""The HGR model (paper section 3): config presets, text and video encoders, matching."""
from hgr.model.config import ABLATIONS, PRESETS, ROLES, HGRConfig, preset
from hgr.model.hgr import HGR, LEVELS, Scores, VideoIndex
from hgr.model.text import TextEmbedding
from hgr.model.video import VideoEmbedding

__all__ = ["ABLATIONS", "HGR", "HGRConfig", "LEVELS", "PRESETS", "ROLES", "Scores", "TextEmbedding", "VideoEmbedding",
           "VideoIndex", "preset"]
