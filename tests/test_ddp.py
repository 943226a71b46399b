"""Issue 18 item 4: training under torchrun. Two gloo processes, each encoding its part of a global batch, compute
the loss, gradients and step one process computes on the whole batch (in-batch negatives gathered across them);
`torchrun --nproc-per-node 2 -m hgr train` writes one checkpoint that `hgr evaluate` reads, resumes, and trains
as one process does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hgr
from hgr import distributed
from hgr.cli import main
from hgr.collection import Collection
from hgr.graph import graph_lookup, role_swapped
from hgr.inputs import caption_inputs, collection_inputs
from hgr.model import HGRConfig, preset
from hgr.train import TrainConfig, TrainingData, train, train_step
from hgr.vocab import Vocabulary
from tests import synthetic
from tests.appfixture import free_port

REPO = Path(__file__).resolve().parents[1]
NO_DROPOUT = {"text_dropout": 0.0, "video_dropout": 0.0, "gcn_dropout": 0.0}   # the processes draw other masks
SMALL = {"dim_embed": 16, "dim_word": 8, **NO_DROPOUT}
# a global batch of 7 splits 4 + 3 (videos of 3 to 7 frames, captions with and without hard negatives); a batch of
# 1 (a caption with a hard negative: a hinge, not zero) leaves the second process without a row
BATCHES = (7, 1)


def _setup(root: Path) -> tuple[torch.nn.Module, TrainingData, list[list[tuple[str, str]]]]:
    """The same model, inputs and batches in every process (seeded)."""
    collection = Collection.open(root)
    graphs = graph_lookup(collection.role_graphs)
    pairs = [(v, c) for v in collection.split("train") for c in collection.captions[v]]
    vocab = Vocabulary.build([c for _, c in pairs] + [role_swapped(c, graphs(c))[0] for _, c in pairs])
    cfg = HGRConfig(dim_fts=collection.dim, num_words=len(vocab), rnn_type="lstm", gcn_layers=2, **SMALL)
    torch.manual_seed(0)
    model = hgr.HGR(cfg).train()
    items = {c: caption_inputs(c, graphs(c), vocab, cfg) for _, c in pairs}
    hard = {c: [caption_inputs(*role_swapped(c, graphs(c)), vocab, cfg)] for _, c in pairs[1::2]}   # every other
    load = collection_inputs(collection, cfg)
    frames = {v: load(v) for v, _ in pairs}
    batches, at = [], 0
    for size in BATCHES:
        batches.append(pairs[at:at + size])
        at += size
    return model, TrainingData(frames, items, hard, cfg, torch.device("cpu")), batches


def _steps(model, data, batches, world: distributed.World) -> dict:
    """SGD steps (the update is the gradient, unlike Adam's first step); each step's loss, gradients, weights."""
    net = distributed.wrap(model, world, torch.device("cpu"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    draw = torch.Generator().manual_seed(1)
    record = []
    for batch in batches:
        loss = train_step(net, optimizer, batch, data, draw, world)
        record.append({"loss": loss, "grads": {k: p.grad.clone() for k, p in model.named_parameters()},
                       "weights": {k: p.detach().clone() for k, p in model.named_parameters()}})
    return record


def _threads() -> list[str]:
    """The names of this process's threads (gloo's are pt_gloo_runloop and gloo_tcp_loop)."""
    return [Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in os.listdir("/proc/self/task")]


def _worker(rank: int, world_size: int, port: int, root: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    with distributed.launched(torch.device("cpu")) as world:       # as `hgr train` runs under torchrun
        assert (world.rank, world.size) == (rank, world_size)
        model, data, batches = _setup(Path(root))
        steps = _steps(model, data, batches, world)
        distributed.from_main(world, {"epoch": 1})                # training ends each epoch on such a broadcast
        during = _threads()
    torch.save({"steps": steps, "threads": (during, _threads())}, f"{out}.{rank}")


def test_two_processes_take_the_step_one_process_takes_on_the_global_batch(tmp_path):
    root = synthetic.build(tmp_path / "coll", n_train=12, n_val=4)
    torch.multiprocessing.spawn(_worker, args=(2, free_port(), str(root), str(tmp_path / "steps")), nprocs=2)
    model, data, batches = _setup(root)
    assert sum(c in data.hard for _, c in batches[0]) == 3 and batches[1][0][1] in data.hard   # both parts
    one = _steps(model, data, batches, distributed.World())
    for rank in (0, 1):
        saved = torch.load(tmp_path / f"steps.{rank}")
        for step, (a, b) in enumerate(zip(one, saved["steps"])):
            assert b["loss"] == pytest.approx(a["loss"], abs=1e-6), (rank, step)
            for name in a["grads"]:
                where = f"process {rank}, step {step}, {name}"
                torch.testing.assert_close(b["grads"][name], a["grads"][name], rtol=0, atol=1e-6, msg=where)
                torch.testing.assert_close(b["weights"][name], a["weights"][name], rtol=0, atol=1e-6, msg=where)
        # the group's worker threads are joined when the block ends, not left to interpreter shutdown, where one
        # still releasing the broadcast's tensors aborts the process (torchrun then fails a finished run)
        during, after = saved["threads"]
        assert "pt_gloo_runloop" in during and not [t for t in after if "gloo" in t], (rank, during, after)
    assert one[0]["loss"] > 0.1 and any(g.abs().max() > 1e-3 for g in one[1]["grads"].values())   # real steps


def test_batch_parts_cover_the_batch_in_rank_order():
    parts = [distributed.BatchPart.of(7, distributed.World(rank, 3), negative_rows=[0, 2, 3, 6]) for rank in range(3)]
    assert [p.rows for p in parts] == [range(0, 3), range(3, 5), range(5, 7)]
    assert parts[0].negative_sizes == (2, 1, 1)
    assert [p.rows for p in (distributed.BatchPart.of(1, distributed.World(r, 2)) for r in range(2))] == [
        range(0, 1), range(1, 1)]


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "hgr", *args], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_torchrun_trains_resumes_and_writes_one_checkpoint_that_evaluate_reads(tmp_path, capsys):
    root = synthetic.build(tmp_path / "coll")
    config = tmp_path / "small.json"
    config.write_text(json.dumps(SMALL))
    out = tmp_path / "run" / "model.pt"
    args = ["train", "--collection", str(root), "--preset", "demo", "--config", str(config), "--no-glove",
            "--batch-size", "16", "--lr", "3e-3", "--device", "cpu", "--out", str(out)]
    first = _torchrun([*args, "--epochs", "1"], tmp_path)
    assert first.stdout.count("epoch 1: loss") == 1                      # the main process alone logs
    second = _torchrun([*args, "--epochs", "2"], tmp_path)               # resumes after epoch 1
    assert second.stdout.count("resuming from") == 1 and second.stdout.count("epoch 2: loss") == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.last.pt", "model.pt"]

    ddp = hgr.load(out.with_suffix(".last.pt"), device="cpu")
    assert ddp.card["train"]["processes"] == 2
    history = ddp.extra["train_state"]["history"]
    single = train(Collection.open(root), preset("demo", **SMALL).replace(dim_fts=24), tmp_path / "one.pt",
                   TrainConfig(epochs=2, batch_size=16, lr=3e-3, glove=False), device="cpu", progress=False)
    # 4 steps an epoch (16, 16, 16, 12 pairs): the same batches and, epoch by epoch, the same loss as one process
    assert [h["loss"] for h in history] == pytest.approx([h["loss"] for h in single.history], rel=1e-5)
    assert [h["val_rsum"] for h in history] == pytest.approx([h["val_rsum"] for h in single.history], abs=1e-3)
    reference = hgr.load(tmp_path / "one.last.pt", device="cpu").model.state_dict()
    for name, weights in ddp.model.state_dict().items():
        if name.endswith(("ft_attn.bias", "edge_attn_key.bias")):   # shift a softmax's logits alike: the gradient
            continue                          # is rounding noise, which Adam's normalisation turns into steps of ~lr
        torch.testing.assert_close(weights, reference[name], rtol=0, atol=1e-4, msg=name)

    assert main(["evaluate", "--collection", str(root), "--checkpoint", str(out), "--split", "val",
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "20 videos x " in printed and "unique captions, split 'val'" in printed and "rsum" in printed
