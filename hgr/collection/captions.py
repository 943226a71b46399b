"""`hgr captions FILE --collection DIR`: your own captions -> a collection's captions, role graphs and splits, so that
`hgr train --collection DIR` can train on captioned footage of your own (hgr_v2t issue #15: "how do I use another
dataset").

    hgr index my_videos/ --out collections/mine --extractor resnet152 --weights resnet152-394f9c45.pth --every 16
    hgr captions my_captions.csv --collection collections/mine                 # captions.json + sent2rolegraph.json
    hgr train --collection collections/mine --preset official --out runs/mine.pt

The captions file is JSON `{video: [caption, ...]}` or CSV with a `video` and a `caption` column (one row a caption;
without those headers, the first two columns). A video is named by its id in the collection or by its file name
(`cooking/v1.mp4`, `cooking/v1`). Captions are stored normalised as typed queries are (`normalize_caption`: the words
the model and the role graph read), and parsed with `hgr parse`'s parser; the manifest records which.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from hgr.collection.layout import MANIFEST, feature_key, read_json
from hgr.collection.reader import Collection
from hgr.collection.writer import CollectionWriter
from hgr.errors import CollectionError

VIDEO_COLUMNS = ("video", "video_id", "id", "file", "filename", "name")
CAPTION_COLUMNS = ("caption", "sentence", "text", "description")


def read_captions(path: str | Path) -> dict[str, list[str]]:
    """{video: [caption, ...]} from a JSON or CSV file (by its ending: .csv and .tsv are tables, anything else JSON)."""
    path = Path(path)
    if not path.is_file():
        raise CollectionError(f"captions file not found: {path}")
    if path.suffix.lower() in (".csv", ".tsv"):
        return _read_table(path)
    data = read_json(path, "captions")
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(c, str) for c in v)
                                             for v in data.values()):
        raise CollectionError(f"{path}: captions must be JSON {{video_id: [caption, ...]}} (or a CSV file with "
                              "video and caption columns)")
    return data


def _read_table(path: Path) -> dict[str, list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",") if any(r)]
    if not rows:
        raise CollectionError(f"{path}: no rows")
    header = [c.strip().lower() for c in rows[0]]
    video = next((header.index(c) for c in VIDEO_COLUMNS if c in header), None)
    caption = next((header.index(c) for c in CAPTION_COLUMNS if c in header), None)
    if video is not None and caption is not None:
        rows = rows[1:]
    else:
        video, caption = 0, 1
    out: dict[str, list[str]] = {}
    for line, row in enumerate(rows, start=2 if video is not None else 1):
        if len(row) <= max(video, caption):
            raise CollectionError(f"{path}: row {line} has {len(row)} column(s); each row needs a video and a "
                                  f"caption (header: {', '.join(VIDEO_COLUMNS[:1] + CAPTION_COLUMNS[:1])})")
        out.setdefault(row[video].strip(), []).append(row[caption])
    return out


def match_videos(captions: dict[str, list[str]], video_ids) -> tuple[dict[str, list[str]], list[str]]:
    """Captions keyed by the collection's video ids; a key may be the id, its feature key (`a_b` for `a/b`) or a
    file name with its extension. Returns (matched, keys that name no video)."""
    ids = {**{v: v for v in video_ids}, **{feature_key(v): v for v in video_ids}}
    matched: dict[str, list[str]] = {}
    unmatched = []
    for key, caps in captions.items():
        vid = ids.get(key) or ids.get(Path(key).with_suffix("").as_posix())
        if vid is None:
            unmatched.append(key)
        else:
            matched.setdefault(vid, []).extend(caps)
    return matched, unmatched


@dataclass
class CaptionsReport:
    videos: int = 0                                   # videos that got captions
    captions: int = 0                                 # unique captions stored
    parsed: int = 0                                   # role graphs made by this run (the others were kept)
    unmatched: list[str] = field(default_factory=list)   # caption keys that name no video of the collection
    empty: int = 0                                    # captions without any word, dropped
    splits: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.captions} unique captions for {self.videos} videos; {self.parsed} role graphs parsed",
                 "splits: " + ", ".join(f"{k} {n}" for k, n in self.splits.items())]
        if self.empty:
            lines.append(f"dropped {self.empty} captions without any word")
        if self.unmatched:
            lines.append(f"{len(self.unmatched)} caption keys name no video of the collection, "
                         f"e.g. {self.unmatched[:3]}")
        return "\n".join(lines)


def add_captions(folder: str | Path, captions: dict[str, list[str]] | None = None, val: float = 0.1,
                 test: float = 0.1, keep_splits: bool = False, seed: int = 0, backend: str | None = None,
                 log=print) -> CaptionsReport:
    """Store `captions` (None: the collection's own) in the collection `folder`, normalised, with a role graph for
    each (made by `backend`, default `hgr parse`'s), and train/val/test splits of the captioned videos."""
    from hgr.parsing import DEFAULT_BACKEND, normalize_caption, parse_many, parser_id

    backend = backend or DEFAULT_BACKEND
    folder = Path(folder)
    report = CaptionsReport()
    with Collection.open(folder) as coll:
        manifest, old_graphs = coll.manifest, coll.role_graphs
        given = coll.captions if captions is None else captions
        matched, report.unmatched = match_videos(given, coll.video_ids)
        existing = {v: c for v, c in coll.captions.items() if v not in matched}
        splits = dict(coll.splits)
    if not matched:
        raise CollectionError(f"no caption names a video of {folder} (e.g. {report.unmatched[:3]}); name videos by "
                              f"their id in {folder / MANIFEST} or their file name")
    stored = {}
    for vid, caps in {**existing, **matched}.items():      # every caption normalised: the words the graph indexes
        kept = list(dict.fromkeys(normalize_caption(c) for c in caps))
        report.empty += sum(1 for c in kept if not c)
        if kept := [c for c in kept if c]:
            stored[vid] = kept
    if not stored:
        raise CollectionError(f"every caption given for {folder} is empty once normalised (no words)")
    sentences = sorted({c for caps in stored.values() for c in caps})
    same_parser = manifest.get("parser") == parser_id(backend)
    graphs = {s: old_graphs[s] for s in sentences if same_parser and s in old_graphs}
    todo = [s for s in sentences if s not in graphs]
    if todo:
        log(f"parsing {len(todo)} captions into role graphs ({backend})")
        graphs.update({s: g.to_json() for s, g in zip(todo, parse_many(todo, backend=backend, progress=True))})
    if not keep_splits:
        splits = split_videos(sorted(stored), val, test, seed)
    with CollectionWriter(folder, extractor=manifest["extractor"], dim=manifest["dim"],
                          sampling=manifest.get("sampling"), name=manifest["name"],
                          dtype=manifest.get("dtype", "float16"), regions=manifest.get("regions")) as writer:
        writer.set_captions(stored)
        writer.set_role_graphs(graphs, parser=parser_id(backend))
        writer.set_splits({k: v for k, v in splits.items() if k != "all"})
    report.videos, report.captions, report.parsed = len(stored), len(sentences), len(todo)
    report.splits = {k: len(v) for k, v in splits.items() if k != "all"}
    return report


def split_videos(video_ids: list[str], val: float, test: float, seed: int = 0) -> dict[str, list[str]]:
    """train/val/test of the videos, shuffled with `seed`; a non-zero fraction gets at least one video."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise CollectionError(f"--val {val} and --test {test} must be fractions that leave videos to train on")
    ids = list(video_ids)
    random.Random(seed).shuffle(ids)
    n_val, n_test = (max(1, round(f * len(ids))) if f > 0 else 0 for f in (val, test))
    if n_val + n_test >= len(ids):
        raise CollectionError(f"{len(ids)} captioned videos are too few for a train, a val and a test split")
    return {"train": ids[n_val + n_test:], "val": ids[:n_val], "test": ids[n_val:n_val + n_test]}


# ----------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captions", type=Path, help="JSON {video: [caption, ...]} or CSV with video and caption "
                        "columns")
    parser.add_argument("--collection", type=Path, required=True, help="collection folder (from `hgr index`)")
    parser.add_argument("--val", type=float, default=0.1, help="fraction of the captioned videos for validation")
    parser.add_argument("--test", type=float, default=0.1, help="fraction of the captioned videos for testing")
    parser.add_argument("--keep-splits", action="store_true", help="keep the collection's splits as they are")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split shuffle")
    from hgr.parsing.backend import BACKENDS, DEFAULT_BACKEND
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND, help="the SRL parser (as hgr parse)")


def main(args: argparse.Namespace) -> int:
    report = add_captions(args.collection, read_captions(args.captions), args.val, args.test, args.keep_splits,
                          args.seed, args.backend)
    print(report.summary())
    print(json.dumps({"videos": report.videos, "captions": report.captions, "splits": report.splits}))
    return 0
