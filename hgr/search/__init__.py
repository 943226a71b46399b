"""Ranking a collection with HGR: the one scoring path shared by evaluation, training, the CLI and the app.

    searcher = Searcher(checkpoint, features, video_ids, graphs)       # video side encoded once (cached)
    ranked, trace = searcher.search("a dog chases a cat", top_k=10)   # exact, or two-stage with pool=N

The files follow the data flow: cache.py (the encoded sides kept beside the collection) -> exact.py (every video
against every caption by the fused score, Eq. 13, in bounded chunks) -> keys.py (first-stage keys: Eq. 13 with the
frame attention of Eq. 12 made uniform, and the index over them: FAISS, or a float16 scan from 50,000 videos) ->
first_stage.py (where two-stage search takes its candidates: that index, or a Milvus collection of the keys) ->
searcher.py (`Searcher`: encode, score, two-stage search) -> calibration.py (the two-stage pool sized from recall
against exact ranking) -> planning.py (exact or two-stage for a collection, `frame_storage`: the dtype its frame
embeddings are kept in, `uses_frame_store`: in RAM or in store.py's memory-mapped frame store on disk, from which
search reads only the videos it scores).
"""
from hgr.search.cache import index_cache_path, read_cache, write_cache
from hgr.search.calibration import POOLS, choose_pool
from hgr.search.exact import (
                              HALF_VIDEOS_PER_CHUNK,
                              PAIRS_PER_CHUNK,
                              Encoded,
                              QueryTrace,
                              Ranked,
                              score_all,
                              select_captions,
                              store_frames,
                              trace_of,
)
from hgr.search.keys import HALF_KEYS_FROM, caption_keys, video_keys
from hgr.search.planning import (
                              CALIBRATION_CAPTIONS,
                              DISK_FROM,
                              HALF_FRAMES_FROM,
                              STORAGES,
                              TWO_STAGE_FROM,
                              SearchPlan,
                              frame_storage,
                              plan_search,
                              uses_frame_store,
)
from hgr.search.searcher import Searcher
from hgr.search.store import FrameStore, StoreError

__all__ = ["CALIBRATION_CAPTIONS", "DISK_FROM", "HALF_FRAMES_FROM", "HALF_KEYS_FROM", "HALF_VIDEOS_PER_CHUNK",
           "PAIRS_PER_CHUNK", "POOLS", "STORAGES", "TWO_STAGE_FROM", "Encoded", "FrameStore", "QueryTrace", "Ranked",
           "SearchPlan", "Searcher", "StoreError", "caption_keys", "choose_pool", "frame_storage", "index_cache_path",
           "plan_search", "read_cache", "score_all", "select_captions", "store_frames", "trace_of", "uses_frame_store",
           "video_keys", "write_cache"]
