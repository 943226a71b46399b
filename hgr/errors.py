"""Errors meant for people: each says what was wrong, with which file or value, and what to do."""


class HGRError(Exception):
    """Base class: the CLI and the app print these without a traceback."""


class CheckpointError(HGRError):
    """A checkpoint file is missing, unsafe, or does not fit the model or collection."""


class CollectionError(HGRError):
    """A collection (ours or the official release's layout) is missing a file or is inconsistent."""


class ParseError(HGRError):
    """A sentence or an SRL file cannot be turned into a role graph."""


class VideoError(HGRError):
    """A video file cannot be decoded or is outside the limits (duration, size, frames)."""


class DeviceError(HGRError):
    """The device asked for is not there (e.g. --device cuda without a GPU)."""
