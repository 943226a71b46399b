"""The collection folder's format: file names and the few rules every reader and writer shares (see the package
docstring and docs/collections.md)."""
from __future__ import annotations

import json
from pathlib import Path

from hgr.errors import CollectionError

FORMAT = "hgr-collection"
FORMAT_VERSION = 1
MANIFEST, FEATURES, CAPTIONS, ROLE_GRAPHS = "collection.json", "features.h5", "captions.json", "sent2rolegraph.json"
VIDEO_PATHS = "video_paths.json"
VIDEOS_DIR, STAGING_DIR, DONE_LOG, REGIONS_GROUP = "videos", "staging", "done.log", "regions"


def feature_key(video_id: str) -> str:
    """HDF5 key of a video: the official rule name.replace('/', '_')."""
    return video_id.replace("/", "_")


def read_json(path: Path, what: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CollectionError(f"missing {what}: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CollectionError(f"{path}: {what} is not valid JSON ({err})") from err


def is_role_graph(graph) -> bool:
    """The official [graph_nodes {name: node}, graph_edges [[verb, arg, role], ...]] shape (spec section 1)."""
    return isinstance(graph, list) and len(graph) == 2 and isinstance(graph[0], dict) and isinstance(graph[1], list)
