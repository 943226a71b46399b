"""The first stage in Milvus (issue 18, item 2): Milvus Lite and FAISS give the same re-ranked top 10 (synthetic
collection, in RAM and from a float16-key frame store, and the demo), a build cut short resumes without duplicates,
a bad --vector-db value is a clear error, and `hgr search --vector-db` uses it. One Milvus Lite database serves the
module (each Searcher's keys get their own collection in it)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import hgr.search.first_stage as first_stage
import hgr.search.store as store_module
from hgr.collection import Collection
from hgr.demo_assets import DEMO_CHECKPOINT, DEMO_COLLECTION
from hgr.errors import HGRError
from hgr.evaluate import graph_lookup
from hgr.inputs import collection_inputs
from hgr.search import Searcher
from tests import synthetic

pytest.importorskip("milvus_lite")
HAVE_DEMO = DEMO_COLLECTION.exists() and DEMO_CHECKPOINT.exists()
# HGR_TEST_MILVUS=milvus://HOST:PORT runs the same tests against that Milvus server instead of Milvus Lite
# (docs/scale.md section 3 says how a local standalone server was run for them)
SERVER = os.environ.get("HGR_TEST_MILVUS", "")


@pytest.fixture(scope="module")
def lite_db(tmp_path_factory):
    return SERVER or tmp_path_factory.mktemp("milvus") / "first-stage.db"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return synthetic.searcher_world(tmp_path_factory.mktemp("fs"))


make = synthetic.searcher          # (world, video_ids=None, checkpoint=None, **Searcher's kw)


def captions(collection, n: int) -> list[str]:
    ids = collection.video_ids
    return [collection.captions[ids[i]][0] for i in np.linspace(0, len(ids) - 1, n).astype(int)]


def assert_same_top10(faiss: Searcher, milvus: Searcher, sentences: list[str], pool: int) -> None:
    """The same candidates (FLAT below IVF_FROM is exact, as FAISS is) and the same re-ranked top 10 and scores."""
    assert isinstance(milvus.key_index(), first_stage.MilvusKeys)
    assert not isinstance(faiss.key_index(), first_stage.MilvusKeys)
    for sentence in sentences:
        text = faiss.encode_captions([sentence]).text
        assert set(milvus.candidates(text, pool).tolist()) == set(faiss.candidates(text, pool).tolist()), sentence
        a, _ = faiss.search(sentence, top_k=10, pool=pool)
        b, _ = milvus.search(sentence, top_k=10, pool=pool)
        assert b.ids == a.ids, sentence
        np.testing.assert_allclose(b.scores["fused"], a.scores["fused"], atol=1e-6)


def test_milvus_lite_and_faiss_give_the_same_top10_on_a_synthetic_collection(world, lite_db):
    collection, _ = world
    faiss, milvus = make(world), make(world, vector_db=lite_db)
    assert_same_top10(faiss, milvus, captions(collection, 6), pool=30)
    index = milvus.key_index()
    assert index.plan.index_type == "FLAT" and index.videos == len(collection.video_ids)
    assert first_stage.count(index.client, index.name) == len(collection.video_ids)
    assert SERVER or lite_db.is_dir()                                      # Lite keeps a folder there


def test_float16_keys_from_a_frame_store_are_widened_and_give_the_same_top10(world, lite_db, tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "HALF_KEYS_FROM", 0)                 # the store keeps float16 keys
    monkeypatch.setattr(first_stage, "INSERT_ROWS", 48)                    # several batches, widened one at a time
    faiss = make(world, store="disk", cache=tmp_path / "index.pt")
    milvus = make(world, store="disk", cache=tmp_path / "index.pt", vector_db=lite_db)
    assert faiss.first_stage_keys().dtype == torch.float16
    assert_same_top10(faiss, milvus, captions(world[0], 4), pool=30)
    # another key dtype, another collection: vectors of other keys are never reused
    assert milvus.key_index().name != make(world, vector_db=lite_db).key_index().name


def stored_rows(index: first_stage.MilvusKeys) -> tuple[list[int], np.ndarray]:
    rows = index.client.query(index.name, filter=f"{first_stage.ID_FIELD} >= 0", output_fields=["row", "key"],
                              limit=16_384, consistency_level="Strong")
    rows.sort(key=lambda r: r["row"])
    return [r["row"] for r in rows], np.array([r["key"] for r in rows], dtype=np.float32)


def test_a_build_cut_short_resumes_without_duplicates(world, lite_db, monkeypatch):
    collection, _ = world
    videos = collection.video_ids[:150]                                     # its own collection in the db
    monkeypatch.setattr(first_stage, "INSERT_ROWS", 32)
    logs: list[str] = []
    stage = first_stage.MilvusFirstStage(lite_db, log=logs.append)
    searcher = make(world, video_ids=videos)
    client, name = stage.connect(), first_stage.collection_name(searcher)
    if client.has_collection(name):
        client.drop_collection(name)

    class Interrupted(Exception):
        pass

    real_insert, calls = first_stage.insert_keys, []

    def insert_three_batches_then_die(client, name, keys, start, stop, release=None):
        for first in range(start, stop, first_stage.INSERT_ROWS):
            if len(calls) == 3:
                raise Interrupted
            calls.append(first)
            real_insert(client, name, keys, first, min(first + first_stage.INSERT_ROWS, stop), release)
        return stop - start

    monkeypatch.setattr(first_stage, "insert_keys", insert_three_batches_then_die)
    with pytest.raises(Interrupted):
        stage.build(searcher)
    keys = searcher.first_stage_keys()
    assert first_stage.count(client, name) == 96
    # and a fourth batch that landed in part, with a hole: rows 100-110 without 96-99
    real_insert(client, name, keys[:111], 100, 111)
    monkeypatch.setattr(first_stage, "insert_keys", real_insert)
    index = stage.build(searcher)
    assert logs and "inserted 54 of 150 keys" in logs[-1] and "resumed from 96" in logs[-1], logs
    rows, vectors = stored_rows(index)
    assert rows == list(range(150))                                         # each row once, none missing
    np.testing.assert_array_equal(vectors, keys.float().numpy())
    logs.clear()
    again = stage.build(searcher)                                          # complete: nothing inserted
    assert not logs and first_stage.count(again.client, again.name) == 150
    searcher.use_vector_db(lite_db)
    assert_same_top10(make(world, video_ids=videos), searcher, captions(collection, 3)[:2], pool=25)


@pytest.mark.parametrize("value, says", [
    ("http://localhost:19530", "unknown scheme 'http'"),
    ("redis://somewhere:6379", "unknown scheme 'redis'"),
    ("milvus://host:port", "port is not a number"),
    ("runs/first-stage", "neither milvus://HOST:PORT nor a Milvus Lite path ending in .db"),
    ("{file}/first-stage.db", "cannot write there"),
    ("{file}.db", "a file, not a Milvus Lite database"),
])
def test_a_bad_vector_db_value_is_a_clear_error(world, tmp_path, value, says):
    file = tmp_path / "plain"
    file.write_text("not a folder")
    (tmp_path / "plain.db").write_text("not a folder")
    with pytest.raises(HGRError, match=says) as err:
        make(world, vector_db=value.format(file=file))
    assert "--vector-db" in str(err.value) and "leave it out for the FAISS first stage" in str(err.value)


def test_milvus_uris_name_the_server_the_client_connects_to(tmp_path):
    assert first_stage.parse_vector_db("milvus://milvus.internal:19531") == ("http://milvus.internal:19531", "")
    assert first_stage.parse_vector_db("milvus://10.0.0.5") == ("http://10.0.0.5:19530", "")
    assert first_stage.parse_vector_db("milvus://root:Milvus@db:19530") == ("http://db:19530", "root:Milvus")
    lite = tmp_path / "new" / "keys.db"
    assert first_stage.parse_vector_db(str(lite)) == (str(lite.resolve()), None) and lite.parent.is_dir()


def test_a_milvus_lite_folder_another_process_holds_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    held = tmp_path / "held.db"
    first_stage.MilvusFirstStage(held).connect()                           # this process holds it now
    code = ("from hgr.search.first_stage import MilvusFirstStage\n"
            "from hgr.errors import HGRError\n"
            "try:\n"
            f"    MilvusFirstStage({str(held)!r}).connect()\n"
            "except HGRError as err:\n"
            "    print(err)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "in use by another process" in done.stdout and "use a Milvus server" in done.stdout, done.stderr[-2000:]


def test_an_unreachable_milvus_server_is_a_clear_error(world, monkeypatch):
    monkeypatch.setattr(first_stage, "CONNECT_TIMEOUT_S", 1.0)
    searcher = make(world, vector_db="milvus://127.0.0.1:9")              # nothing listens on the discard port
    with pytest.raises(HGRError, match="cannot reach a Milvus server there .* start it or check the host and port"):
        searcher.search(captions(world[0], 1)[0], pool=20)


def test_ivf_flat_is_built_from_ivf_from_videos_and_searched_with_its_nprobe(world, lite_db, monkeypatch):
    import dataclasses

    collection, _ = world
    monkeypatch.setattr(first_stage, "IVF_FROM", 100)                      # this collection (200 videos) is past it
    videos = collection.video_ids[:180]                                    # its own collection in the db
    faiss, milvus = make(world, video_ids=videos), make(world, video_ids=videos, vector_db=lite_db)
    index = milvus.key_index()
    nlist = int(4 * 180 ** 0.5)
    assert index.plan == first_stage.IndexPlan("IVF_FLAT", {"nlist": nlist}, {"nprobe": nlist // 2})
    described = index.client.describe_index(index.name, index_name=first_stage.VECTOR_FIELD)
    built_with = described.get("params") or described                    # Lite nests them, a server flattens
    assert described["index_type"] == "IVF_FLAT" and int(built_with["nlist"]) == nlist, described
    text = faiss.encode_captions(captions(collection, 1)).text
    scanned = milvus.candidates(text, 30).tolist()                         # half of the clusters scanned
    assert len(scanned) == len(set(scanned)) and set(scanned) <= set(range(180))
    # every cluster probed: exact, so the search parameters reach the index (the default nprobe would not be)
    milvus._key_index = dataclasses.replace(index, plan=dataclasses.replace(index.plan, search={"nprobe": nlist}))
    assert milvus.candidates(text, 30).tolist() == faiss.candidates(text, 30).tolist()


def test_an_index_plan_by_size():
    # FLAT through the sizes measured (IVF_FLAT lost the true top 10 at 100,000 and 200,000 videos)
    assert first_stage.index_plan(300_000).index_type == "FLAT"
    assert first_stage.index_plan(first_stage.IVF_FROM - 1).index_type == "FLAT"
    plan = first_stage.index_plan(4_000_000)
    assert plan.index_type == "IVF_FLAT" and plan.build == {"nlist": 8000} and plan.search == {"nprobe": 4000}


@pytest.mark.skipif(not HAVE_DEMO, reason="no embedded demo")
def test_milvus_lite_and_faiss_give_the_same_top10_on_the_demo(lite_db):
    from hgr.checkpoint import load

    ckpt = load(DEMO_CHECKPOINT, device="cpu")
    with Collection.open(DEMO_COLLECTION) as coll:
        args = (ckpt, collection_inputs(coll, ckpt.config), coll.video_ids,
                graph_lookup(coll.role_graphs, coll.manifest["parser"]))
        assert_same_top10(Searcher(*args), Searcher(*args, vector_db=lite_db), captions(coll, 4), pool=60)


@pytest.mark.skipif(not HAVE_DEMO, reason="no embedded demo")
def test_hgr_search_takes_its_candidates_from_milvus_lite(tmp_path, capsys):
    from hgr.cli import main

    query = "a person is walking"
    argv = ["search", query, "--search", "two-stage", "--pool", "40", "--device", "cpu"]
    assert main(argv) == 0
    faiss = capsys.readouterr().out
    db = tmp_path / "cli" / "first-stage.db"
    assert main([*argv, "--vector-db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "first stage: Milvus Lite FLAT, collection hgr_keys_" in captured.out and db.is_dir()
    assert "inserted 352 of 352 keys" in captured.err

    def table(out: str) -> list[str]:
        return [line for line in out.splitlines() if line[:4].strip().isdigit()]
    assert table(captured.out) == table(faiss) and len(table(faiss)) == 10
    assert main([*argv, "--vector-db", "redis://localhost"]) == 2
    assert "unknown scheme 'redis'" in capsys.readouterr().err
