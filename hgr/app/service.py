"""The app's logic without a browser: search, caption a clip, parse a sentence, each returning the API's JSON.

    service = DemoService.open(collection, checkpoint)
    service.search("A dog chases a cat.", top_k=10)   # {"query", "graph", "attention", "results": [...]}
    service.captions("clip.mp4", top_k=10)             # {"results": [{"caption", "video_id", "scores"}, ...]}
    service.parse("a man is cooking")                   # {"query", "graph", "attention"}

Text goes through `normalize_caption` before parsing and scoring; bad input raises an `hgr.errors` class whose
message says what was wrong and what to do (the UI shows it, the API returns it). The scoring is `hgr.search`.
"""
from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hgr.app.familiarity import FamiliarityConfig, FrameReference, clip_familiarity, frame_reference, query_familiarity
from hgr.app.frames import FrameStrips, Thumb, clip_thumbnails, encode_strip
from hgr.checkpoint import Checkpoint
from hgr.collection import Collection
from hgr.errors import HGRError, ParseError, VideoError
from hgr.evaluate import unique_captions
from hgr.graph import RoleGraph, graph_lookup
from hgr.graph_edit import check_graph
from hgr.inputs import CaptionInputs, collection_inputs, frame_inputs
from hgr.model import LEVELS
from hgr.search import Encoded, QueryTrace, Ranked, Searcher, frame_storage, index_cache_path, plan_search
from hgr.video_io import Sampling, probe_video

# what the upload box accepts (the brief's list; anything else is refused before decoding)
UPLOAD_EXTENSIONS = (".mp4", ".webm", ".mov", ".avi", ".gif", ".m4v", ".mkv")


# Closed-class English words: a query of these alone ("the the the", "it is there") names nothing to search for.
FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every no all both either neither another such what which whose
i me my mine you your yours he him his she her hers it its we us our ours they them their theirs itself himself
herself themselves myself yourself ourselves who whom one ones
of in on at to from by with without into onto over under above below up down out off about across along around
through behind beside between among near toward towards for as than after before during until upon within via
and or but nor so yet then while when where if because although though
is are was were be been being am has have had do does did will would shall should can could may might must
there here not very too also just only
""".split())


@dataclass
class AppConfig:
    top_k: int = 10                  # results shown by default
    max_top_k: int = 50              # largest top-k accepted
    max_query_chars: int = 1000      # longer pastes are refused (the model reads only the first max_words words)
    max_duration_s: float = 300.0    # uploaded clips longer than this are refused (5 minutes)
    max_upload_mb: float = 200.0     # uploads larger than this are refused (also gradio's max_file_size)
    max_pixels: int = 4096 * 2160    # uploads with larger frames are refused: a decoded frame is 3 bytes/pixel
    thumb_height: int = 72           # pixels, frame thumbnails of the alignment strip
    strips_in_memory: int = 512      # videos whose frame strip stays in memory (about 40 kB each)
    examples: int = 6                # example queries taken from the collection's captions
    search: str = "auto"             # text to video: exact, two-stage, or auto (two-stage from TWO_STAGE_FROM videos)
    pool: int | None = None          # two-stage candidates (None: measured on the collection's captions)
    storage: str = "auto"            # frame embeddings: float32, float16, bfloat16, or auto (see frame_storage)
    familiarity: FamiliarityConfig = field(default_factory=FamiliarityConfig)  # when inputs get a caveat
    vector_db: str | None = None     # two-stage candidates: None here, or Milvus (milvus://HOST:PORT, a Lite .db)


@dataclass
class Prepared:
    """A query after normalisation and checks: the text the model reads, its graph, and what to tell the user."""
    text: str
    graph: RoleGraph
    warnings: list[str]


def _round(x, digits: int = 4):
    return np.round(np.asarray(x, dtype=np.float64), digits).tolist()


def node_slots(inputs: CaptionInputs, num_verbs: int) -> dict[str, int]:
    """Graph node name -> node slot of the model (0 = event, 1..num_verbs = actions, then entities)."""
    slots = {name: 1 + k for k, name in enumerate(inputs.verb_nodes)}
    slots.update({name: 1 + num_verbs + k for k, name in enumerate(inputs.noun_nodes)})
    return slots


def graph_json(graph: RoleGraph, inputs: CaptionInputs, num_verbs: int) -> dict:
    """The query graph as the API returns it: nodes (level, role, words, spans, model slot) and labelled edges."""
    slots = node_slots(inputs, num_verbs)
    event = graph.event.name if graph.event else None
    nodes = [{"id": n.name, "level": n.level, "role": n.role, "words": list(n.words), "spans": list(n.spans),
              "slot": 0 if n.name == event else slots.get(n.name)} for n in graph.nodes]
    edges = [{"source": v, "target": a, "role": d["role"]} for v, a, d in graph.to_networkx().edges(data=True)]
    return {"words": graph.words, "nodes": nodes, "edges": edges}


def attention_json(trace: QueryTrace, graph: dict) -> tuple[list[str], list[list[list[float]]]]:
    """Per-layer graph attention (Eq. 8) restricted to the nodes the model read: (node ids, [layer][row][col]).

    Row = receiving node, column = the node it gathers context from; order = `node ids`.
    """
    used = sorted((n["slot"], n["id"]) for n in graph["nodes"] if n["slot"] is not None)
    order = [s for s, _ in used]
    return [i for _, i in used], [_round(layer[np.ix_(order, order)]) for layer in trace.graph_attention]


def alignment_json(ranked: Ranked, i: int, inputs: CaptionInputs) -> dict[str, list[float]]:
    """Frame weights phi (Eq. 12) of each action and entity node of the query for result i: {node id: [F]}."""
    n = ranked.frame_counts[i]
    out = {name: _round(ranked.action_alignment[i, k, :n]) for k, name in enumerate(inputs.verb_nodes)}
    out.update({name: _round(ranked.entity_alignment[i, k, :n]) for k, name in enumerate(inputs.noun_nodes)})
    return out


def scores_json(ranked: Ranked, i: int) -> dict[str, float]:
    return {level: round(float(ranked.scores[level][i]), 4) for level in LEVELS}


@contextlib.contextmanager
def named_upload(path: Path):
    """A VideoError about an upload names the file as it was sent: the decoder's messages hold the path, which on a
    server is gradio's temporary upload folder (not the user's to see, and no help to them)."""
    try:
        yield
    except VideoError as err:
        raise VideoError(str(err).replace(str(path.parent) + os.sep, "")) from None


class DemoService:
    """A collection and a checkpoint, encoded once: video side at start-up, all captions for video-to-text."""

    def __init__(self, collection: Collection, checkpoint: Checkpoint, video_ids: Sequence[str] | None = None,
                 config: AppConfig | None = None) -> None:
        collection.check_features(checkpoint.card.get("features"), f"checkpoint {checkpoint.path or ''}".strip())
        collection.check_dim(checkpoint.config.dim_fts, what=f"checkpoint {checkpoint.path or ''}".strip())
        self.collection, self.checkpoint, self.config = collection, checkpoint, config or AppConfig()
        self.cfg = checkpoint.config
        self.video_ids = list(video_ids if video_ids is not None else collection.video_ids)
        if not self.video_ids:
            raise HGRError(f"collection {collection.name!r} has no videos to search")
        self._graphs = graph_lookup(collection.role_graphs)
        self._inputs = collection_inputs(collection, self.cfg)
        storage = frame_storage(len(self.video_ids), self.config.storage)
        kept = "" if storage == torch.float32 else f"frames {storage}"   # float32 keeps the name caches had before
        cache = (index_cache_path(collection, checkpoint, extra=kept, video_ids=self.video_ids)
                 if collection.root is not None else None)
        self.searcher = Searcher(checkpoint, self.frame_features, self.video_ids, self._graphs, cache=cache,
                                 storage=storage, vector_db=self.config.vector_db)
        self.index = self.searcher.index          # every video encoded once, kept on the model's device
        captions = collection.captions
        self.sentences, _ = unique_captions(self.video_ids, captions)       # the captions video-to-text ranks
        plan_cache = (index_cache_path(collection, checkpoint, "pool", kept, self.video_ids)
                      if collection.root is not None else None)
        self.plan = plan_search(self.searcher, self.config.search, self.config.pool, self.sentences, plan_cache)
        if self.plan.mode == "two-stage":
            self.searcher.key_index()             # the first-stage index, built now rather than on the first query
        self._row = {c: i for i, c in enumerate(self.sentences)}
        self.caption_video = {}
        for v in self.video_ids:
            for c in captions.get(v, []):
                self.caption_video.setdefault(c, v)
        self.frame_strips = FrameStrips(self.video_path, self.sampling, self.cfg.max_frames, self.config.thumb_height,
                                        cache.parent if cache is not None else None, self.config.strips_in_memory)

    # ------------------------------------------------------------------------------------------------ facts
    @property
    def sampling(self) -> Sampling | None:
        s = self.collection.manifest.get("sampling")
        return Sampling.from_dict(s) if s and s.get("policy") in ("uniform", "fps", "every") else None

    @functools.cached_property
    def encoded(self) -> Encoded | None:
        """Every caption of the collection encoded once (on first use, then cached on disk), for video-to-text."""
        if not self.sentences:
            return None
        cache = None
        if self.collection.root is not None:
            graphs = self.collection.role_graphs_file
            stamp = f"{graphs}:{graphs.stat().st_mtime_ns}" if graphs and graphs.exists() else ""
            cache = index_cache_path(self.collection, self.checkpoint, "captions", stamp, self.video_ids)
        return self.searcher.encode_captions(self.sentences, cache=cache)

    @functools.cached_property
    def frame_reference(self) -> FrameReference | None:
        """The collection's frames a clip is compared with, calibrated on its own clips (`hgr.app.familiarity`): on
        first use, then cached on disk beside the index."""
        cache = (index_cache_path(self.collection, self.checkpoint, "familiarity", "", self.video_ids)
                 if self.collection.root is not None else None)
        dim = self.collection.dim                           # whole-frame features, without region cells
        return frame_reference(self.video_ids, lambda v: self.frame_features(v)[:, :dim], cache,
                               self.config.familiarity)

    def clip_familiarity(self, features: np.ndarray, video_id: str | None = None) -> dict:
        """How like the collection's frames a clip's frame features [n, frame_dim] are, with a caveat when they are
        not; `video_id`: the collection video they are from (compared with the others only)."""
        return clip_familiarity(features[:, :self.collection.dim], self.frame_reference, video_id,
                                self.config.familiarity)

    @functools.cached_property
    def parser_warning(self) -> str | None:
        """Set when the model's training captions were parsed by another parser than typed queries are now; a model
        card that names no parser falls back to the collection's (the graphs the model meets here)."""
        from hgr.parsing import parser_mismatch
        data = self.checkpoint.card.get("data", {}) if isinstance(self.checkpoint.card, dict) else {}
        recorded = data.get("parser") if isinstance(data, dict) else None
        if recorded:
            return parser_mismatch(recorded, "the model's training captions")
        return parser_mismatch(self.collection.manifest.get("parser"),
                               "the collection's captions (the model card names no parser)")

    def frame_features(self, video_id: str) -> np.ndarray:
        return self._inputs(video_id)                                  # [n <= max_frames, frame_dim]

    def examples(self) -> list[str]:
        """A handful of the collection's captions, one per video, spread over the collection."""
        with_caption = [v for v in self.video_ids if self.collection.captions.get(v)]
        if not with_caption:
            return []
        picks = np.unique(np.linspace(0, len(with_caption) - 1, self.config.examples).round().astype(int))
        return [self.collection.captions[with_caption[i]][0] for i in picks]

    @functools.cached_property
    def _video_paths(self) -> dict[str, Path | None]:
        """Every video's playable file, looked up once (a lookup globs the videos folder)."""
        return {v: self.collection.video_path(v) for v in self.video_ids}

    def video_path(self, video_id: str) -> Path | None:
        if video_id not in self._video_paths:
            return self.collection.video_path(video_id)
        path = self._video_paths[video_id]
        return path if path is not None and path.is_file() else None

    def describe(self, video_id: str) -> str:
        """What a clip is, for a result card: its first caption when the collection has one, else its file name
        (the id when it has no file)."""
        captions = self.collection.captions.get(video_id)
        if captions:
            return captions[0]
        path = self._video_paths.get(video_id) or self.collection.video_path(video_id)
        return path.name if path is not None else video_id

    def video_folders(self) -> list[str]:
        """Folders holding the collection's playable videos: the only paths the web server may serve."""
        return sorted({str(p.parent) for p in self._video_paths.values() if p is not None})

    # ------------------------------------------------------------------------------------------------ text
    def example(self) -> str:
        """A query to suggest in an error message: the collection's first example, or a generic one."""
        return (self.examples() or ["a dog is chasing a cat"])[0]

    def prepare(self, query: str, graph=None) -> Prepared:
        """Normalise and check a typed query, or take `graph` (a role graph in the official JSON, e.g. an edited one:
        its event node's words are the query) as it is, without parsing; ParseError says what is wrong."""
        edited, warnings = (None, []) if graph is None else check_graph(graph)
        if edited is not None:
            query = " ".join(edited.words)
        if not isinstance(query, str) or not query.strip():
            raise ParseError("the query is empty: type a sentence describing a video, e.g. "
                             f"{self.example()!r}")
        if len(query) > self.config.max_query_chars:
            raise ParseError(f"the query is {len(query):,} characters long; keep it under "
                             f"{self.config.max_query_chars:,} (the model reads only its first {self.cfg.max_words} "
                             "words): type one sentence")
        from hgr.parsing import normalize_caption
        text = query if edited is not None else normalize_caption(query)
        words = text.split()
        if not words:
            raise ParseError("no words in the query, only punctuation or symbols: type a sentence")
        vocab = self.checkpoint.vocab
        read = words[:self.cfg.max_words]
        if all(w in FUNCTION_WORDS for w in read):
            raise ParseError(f"{' '.join(read[:8])!r} has only function words (articles, pronouns, prepositions, "
                             "auxiliaries): it names no one, nothing and no action to match, so every video would "
                             "rank by chance; say who does what, e.g. "
                             f"{self.example()!r}")
        unknown = [w for w in read if w not in vocab]
        if len(unknown) == len(read):
            raise ParseError(f"none of the words {' '.join(read[:8])!r} is in the model's vocabulary "
                             f"({len(vocab):,} words), so there is nothing to match: describe the video with "
                             "everyday words (who does what)")
        graph = edited if edited is not None else RoleGraph.from_json(self._graphs(text))
        if unknown:
            warnings.append(f"unknown to the model, read as <UNK>: {', '.join(dict.fromkeys(unknown))}")
        if len(words) > self.cfg.max_words:
            warnings.append(f"the model reads only the first {self.cfg.max_words} of the query's {len(words)} words")
        if not graph.actions:
            warnings.append("no verb found: the query has no action node, so the action score is 0 for every "
                            "video and the ranking rests on the event and entities (add a verb, e.g. 'is running')")
        return Prepared(text, graph, warnings)

    def _trace(self, prepared: Prepared) -> tuple[QueryTrace, dict, list[str], list]:
        encoded = self.searcher.encode_captions([prepared.text], graphs=[prepared.graph.to_json()])
        from hgr.search import trace_of
        trace = trace_of(encoded, 0, prepared.text)
        graph = graph_json(prepared.graph, trace.inputs, self.cfg.num_verbs)
        ids, attention = attention_json(trace, graph)
        return trace, graph, ids, attention

    def parse(self, sentence: str) -> dict:
        """A sentence's graph and per-layer graph attention, without searching."""
        prepared = self.prepare(sentence)
        _, graph, ids, attention = self._trace(prepared)
        return {"query": prepared.text, "graph": graph, "role_graph": prepared.graph.to_json(),
                "attention_nodes": ids, "attention": attention, "warnings": prepared.warnings}

    def search(self, query: str, top_k: int | None = None, graph=None, previous=None) -> dict:
        """Text to video: the collection's videos ranked by fused score (Eq. 13), with graph, attention, alignment.

        `graph`: the query as a role graph (official JSON, e.g. edited) instead of `query`'s text. `previous`: an
        earlier query (text, or a graph) to compare with: each result then says how it moved (`compare.rank_changes`).
        """
        prepared = self.prepare(query, graph)
        before = None
        if previous is not None:
            before = self.prepare(previous) if isinstance(previous, str) else self.prepare("", previous)
        k = self._top_k(top_k)
        ranked, trace = self.searcher.search(prepared.text, k, pool=self.plan.pool, graph=prepared.graph.to_json())
        graph = graph_json(prepared.graph, trace.inputs, self.cfg.num_verbs)
        ids, attention = attention_json(trace, graph)
        results = [{"video_id": vid, "rank": i + 1, "description": self.describe(vid),
                    "scores": scores_json(ranked, i), "frames": ranked.frame_counts[i],
                    "alignment": alignment_json(ranked, i, trace.inputs)}
                   for i, vid in enumerate(ranked.ids)]
        answer = {"query": prepared.text, "graph": graph, "role_graph": prepared.graph.to_json(),
                  "attention_nodes": ids, "attention": attention, "results": results, "warnings": prepared.warnings,
                  "familiarity": query_familiarity(prepared.text, self.checkpoint.vocab, self.cfg.max_words,
                                                   self.config.familiarity),
                  "search": self.plan.to_json()}
        if before is not None:
            from hgr.app.compare import rank_changes
            rank_changes(self, answer, before)
        return answer

    # ------------------------------------------------------------------------------------------------ why
    def compare(self, caption_a: str, caption_b: str, video=None, video_id: str | None = None) -> dict:
        """Two captions against one clip (an upload `video` or a collection `video_id`): per-level winners."""
        from hgr.app.compare import compare
        return compare(self, caption_a, caption_b, video, video_id)

    def perturbations(self, video_id: str, caption: str | None = None) -> dict:
        """A demo-world clip's true caption and its Table 6 perturbations, to compare."""
        from hgr.app.compare import perturbations
        return perturbations(self, video_id, caption)

    def similar(self, video=None, video_id: str | None = None, top_k: int | None = None) -> dict:
        """Video to video: the collection's clips most like an upload `video` or a collection `video_id`."""
        from hgr.app.compare import similar
        return similar(self, self._top_k(top_k), video, video_id)

    @functools.cached_property
    def similar_clips(self):
        """`hgr.similar.SimilarClips` over the encoded collection (on the model's device)."""
        from hgr.similar import SimilarClips
        return SimilarClips(self.index)

    @functools.cached_property
    def _video_rows(self) -> dict[str, int]:
        return {v: i for i, v in enumerate(self.video_ids)}

    def video_row(self, video_id: str) -> int:
        """Row of a collection video in the index; HGRError for an id the app does not search."""
        row = self._video_rows.get(video_id) if isinstance(video_id, str) else None
        if row is None:
            raise HGRError(f"no video {str(video_id)[:80]!r} in the collection searched; pick one of its video ids "
                           f"(e.g. {self.video_ids[0]!r})")
        return row

    def _top_k(self, top_k) -> int:
        try:
            k = int(self.config.top_k if top_k is None else top_k)
        except (TypeError, ValueError, OverflowError):               # OverflowError: top_k = inf
            raise HGRError(f"top_k must be a whole number, got {top_k!r}") from None
        if not 1 <= k <= self.config.max_top_k:
            raise HGRError(f"top_k must be between 1 and {self.config.max_top_k}, got {k}")
        return k

    # ------------------------------------------------------------------------------------------------ video
    def check_upload(self, path: str | Path) -> Path:
        """VideoError unless `path` is a file of an accepted type within the size limit."""
        path = Path(path)
        if not path.is_file():
            raise VideoError(f"{path.name}: the uploaded file is missing; upload it again")
        if path.suffix.lower() not in UPLOAD_EXTENSIONS:
            raise VideoError(f"{path.name}: not a video file type this app accepts; upload "
                             f"{', '.join(e.lstrip('.') for e in UPLOAD_EXTENSIONS)}")
        size_mb = path.stat().st_size / 2**20
        if size_mb > self.config.max_upload_mb:
            raise VideoError(f"{path.name}: {size_mb:.0f} MB is over the upload limit of "
                             f"{self.config.max_upload_mb:.0f} MB; trim or compress the clip")
        return path

    def clip_features(self, path: str | Path) -> np.ndarray:
        """Frame features [n <= max_frames, dim] of a clip file, with the collection's extractor and sampling."""
        path = self.check_upload(path)
        with named_upload(path):
            return self._clip_features(path)

    def _clip_features(self, path: Path) -> np.ndarray:
        from hgr.features import extract_upload

        info = probe_video(path, self.config.max_duration_s)
        if info.width * info.height > self.config.max_pixels:     # memory: frames are decoded at full size
            raise VideoError(f"{path.name}: frames of {info.width}x{info.height} pixels are over the limit of "
                             f"{self.config.max_pixels / 1e6:.1f} megapixels (4K); scale the clip down first")
        manifest = self.collection.manifest
        if (manifest.get("extractor") or {}).get("name") not in ("efficientnet-lite0", "resnet152"):
            raise VideoError(f"collection {self.collection.name!r} holds features from "
                             f"{(manifest.get('extractor') or {}).get('name')!r}, which this app cannot compute for "
                             "an upload; pick one of the collection's videos instead")
        clip = extract_upload(path, manifest, max_duration=self.config.max_duration_s,
                              device=str(self.checkpoint.model.device))
        return frame_inputs(clip.features, clip.regions, self.cfg)

    def captions_for_features(self, features: np.ndarray, top_k: int | None = None,
                              video_id: str | None = None) -> tuple[Ranked, dict]:
        """Video to text over the collection's captions for frame features [n, dim], and how familiar the clip is
        (`video_id`: the collection video the features are from, which is not compared with itself)."""
        if self.encoded is None:
            raise HGRError(f"collection {self.collection.name!r} has no captions to rank")
        k = self._top_k(top_k)
        ranked = self.searcher.search_video(features, self.sentences, self.encoded, k)
        results = []
        for i, caption in enumerate(ranked.ids):
            inputs = self.encoded.inputs[self._row[caption]]
            results.append({"caption": caption, "video_id": self.caption_video.get(caption), "rank": i + 1,
                            "scores": scores_json(ranked, i), "frames": ranked.frame_counts[i],
                            "alignment": alignment_json(ranked, i, inputs)})
        return ranked, {"results": results, "familiarity": self.clip_familiarity(features, video_id)}

    def captions(self, video: str | Path, top_k: int | None = None) -> dict:
        """Video to text for an uploaded clip file. The file is left in place: byte-identical uploads share one
        path in gradio's upload folder, so a request cannot know whether a queued one still needs it; gradio's
        cache sweep (`delete_cache` in `hgr.app.ui.build`) deletes uploads."""
        return self.captions_for_features(self.clip_features(video), top_k)[1]

    def caption_graph(self, caption: str) -> dict:
        """Graph of one of the collection's captions (for labelling its alignment rows)."""
        graph = RoleGraph.from_json(self._graphs(caption))
        inputs = self.encoded.inputs[self._row[caption]] if self.encoded else None
        return graph_json(graph, inputs, self.cfg.num_verbs) if inputs is not None else {}

    # ------------------------------------------------------------------------------------------------ frames
    def thumbnails(self, video_id: str) -> list[Thumb]:
        """(JPEG data URI, time in s) of each frame the model saw of a collection video; [] if it has no file."""
        return self.frame_strips(video_id)

    def upload_thumbnails(self, path: str | Path) -> list[Thumb]:
        sampling = self.sampling or Sampling(max_frames=self.cfg.max_frames)
        with named_upload(Path(path)):
            return encode_strip(clip_thumbnails(path, sampling, self.cfg.max_frames, self.config.thumb_height,
                                                self.config.max_duration_s))

    @classmethod
    def open(cls, collection: Collection, checkpoint: Checkpoint, split: str | None = None,
             config: AppConfig | None = None) -> DemoService:
        ids = collection.split(split) if split else None
        return cls(collection, checkpoint, ids, config)
