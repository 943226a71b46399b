"""Video collections: the videos a search runs over, their per-frame features, captions and role graphs.

Two sources open to the same `Collection` interface (format documented in docs/collections.md):
- our folder format (`Collection.open`), written by `hgr index` through `CollectionWriter`:
    collection.json       manifest: name, extractor (+ preprocessing), dim, sampling, frame counts, splits
    features.h5           one dataset per video, key = video_id.replace('/', '_'), (num_frames, dim) float16/32;
                          optional region features in group regions/<key>, (num_frames, cells, dim)
    captions.json         {video_id: [caption, ...]}                  (optional)
    sent2rolegraph.json   {sentence: [graph_nodes, graph_edges]}     (optional, official role-graph format)
    video_paths.json      {video_id: path} of the source files, for playback (optional; else videos/)
    videos/               <key>.<ext> files for playback              (optional)
    staging/              videos indexed but not merged yet (done.log + one .npz each): part of the collection
- the official release's data root, in place (`Collection.from_official`, spec section 2).
Everything is read lazily: HDF5 datasets stay on disk, captions and role graphs load on first use.

The files: layout.py (file names, feature keys) -> reader.py (`Collection`) and official.py (the release opened in
place) -> staging.py (the staging log) -> writer.py (`CollectionWriter`).
"""
from hgr.collection.layout import FORMAT, FORMAT_VERSION, feature_key
from hgr.collection.reader import Collection
from hgr.collection.writer import CollectionWriter

__all__ = ["FORMAT", "FORMAT_VERSION", "Collection", "CollectionWriter", "feature_key"]
