"""The whole demo: world -> real features -> role graphs -> trained models -> the paper's tables -> shipped assets.

    hgr demo-world ship --work runs/demo                # everything, resumable; then assets/demo + checkpoints/demo.pt

Each step leaves its output under --work and is skipped when that output is already complete, so an interrupted
run continues where it stopped. Every model (the paper's encoder, the Table 4 ablations, the VSE++ baseline and
the spatiotemporal encoder) trains with the same budget (epochs and minutes).
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hgr.demo_world.world import SPLITS, WorldConfig

VARIANTS = ("full", "no_graph_attention", "no_role_awareness", "no_hierarchical_video", "vsepp", "spatiotemporal",
            "spatiotemporal_negatives", "spatiotemporal_negatives_sum")
# variants that differ from a model of hgr.model.ABLATIONS in their training alone (hgr.train.TrainConfig fields;
# a relative `negatives` file is under --work)
TRAINING = {"spatiotemporal_negatives": ("spatiotemporal", {"negatives": "negatives.json"}),
            "spatiotemporal_negatives_sum": ("spatiotemporal_sum", {"negatives": "negatives.json"})}
# candidates for checkpoints/demo.pt: the one with the best binary-selection average on the validation clips ships
# (`choose_shipped`)
SHIP_CANDIDATES = ("full", "spatiotemporal", "spatiotemporal_negatives")
EVAL_SPLITS = ("test", "test_novel")
SHIP_SPLITS = ("test", "test_novel")


@dataclass
class PipelineConfig:
    clips: int = 1600
    seed: int = 0
    frames_per_clip: int = 10          # frames sampled uniformly per clip for features
    regions: str = "1x2"               # region grid stored beside each frame (for the spatiotemporal encoder)
    epochs: int = 30
    budget_min: float = 6.0            # per model; the demo model must train in under 30 min on 2 cores
    batch_size: int = 64
    lr: float = 2e-4
    binary_pairs: int = 500
    variants: str = ""                 # comma-separated subset of VARIANTS to train and evaluate ("": all of them)

    def variant_names(self) -> tuple[str, ...]:
        """The variants this run trains: all, or the given subset (it must hold every ship candidate)."""
        if not self.variants:
            return VARIANTS
        names = tuple(v.strip() for v in self.variants.split(",") if v.strip())
        unknown = [v for v in names if v not in VARIANTS]
        if unknown or not set(SHIP_CANDIDATES) <= set(names):
            raise ValueError(f"--variants {self.variants!r}: known variants are {', '.join(VARIANTS)}, and the "
                             f"ship candidates {', '.join(SHIP_CANDIDATES)} must be among them")
        return names


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build(work: Path, cfg: PipelineConfig) -> Path:
    from hgr.demo_world.build import build_world

    world = work / "world"
    if not (world / "world.json").exists():
        log(f"rendering {cfg.clips} clips into {world}")
        build_world(world, WorldConfig(seed=cfg.seed, clips=cfg.clips), workers=1)
    return world


def index(work: Path, world: Path, cfg: PipelineConfig) -> Path:
    """Real EfficientNet-Lite0 features (with region cells) of every clip, captions, splits and role graphs."""
    from hgr.collection import Collection, CollectionWriter
    from hgr.indexer import index_videos
    from hgr.parsing import parse_many, parser_id

    out = work / "collection"
    captions = json.loads((world / "captions.json").read_text())
    splits = json.loads((world / "splits.json").read_text())
    log(f"indexing {len(captions)} clips into {out}")
    report = index_videos(world / "videos", out, captions=captions, max_frames=cfg.frames_per_clip,
                          regions=cfg.regions, name="demo-world", progress=True)
    if report.failed:
        raise RuntimeError(f"clips failed to index: {report.failed[:3]}")
    shutil.copyfile(world / "world.json", out / "world.json")     # ground truth for binary selection (Table 6)
    coll = Collection.open(out)
    if set(coll.splits) >= set(SPLITS) and coll.role_graphs and coll.manifest.get("parser") == parser_id():
        return out
    sentences = sorted({c for caps in captions.values() for c in caps})
    log(f"parsing {len(sentences)} unique captions into role graphs")
    graphs = {s: g.to_json() for s, g in zip(sentences, parse_many(sentences, progress=True))}
    m = coll.manifest
    coll.close()
    with CollectionWriter(out, extractor=m["extractor"], dim=m["dim"], sampling=m["sampling"], name=m["name"],
                          dtype=m["dtype"], regions=m["regions"]) as writer:
        writer.set_role_graphs(graphs, parser=parser_id())
        writer.set_splits({name: list(ids) for name, ids in splits.items()})
    return out


def write_negatives(world: Path, out: Path, split: str = "train") -> dict[str, int]:
    """Hard negatives of `split`'s captions (`training_negatives`) with their role graphs, as `hgr train
    --negatives` reads them."""
    from hgr.collection.writer import _atomic_write_json
    from hgr.demo_world.binary_selection import training_negatives
    from hgr.parsing import parse_many

    negatives = training_negatives(world, split)
    sentences = sorted({f for falses in negatives.values() for f in falses})
    log(f"parsing {len(sentences):,} hard negatives of {len(negatives):,} {split} captions")
    graphs = {s: g.to_json() for s, g in zip(sentences, parse_many(sentences, progress=True))}
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_json(out, {"negatives": negatives, "role_graphs": graphs}, indent=None)
    return {"captions": len(negatives), "negatives": len(sentences)}


def train_all(work: Path, collection_dir: Path, cfg: PipelineConfig) -> dict[str, Path]:
    from hgr.collection import Collection
    from hgr.model import ABLATIONS, preset
    from hgr.train import TrainConfig, train

    collection = Collection.open(collection_dir)
    out = {}
    for name in cfg.variant_names():
        path = work / "models" / f"{name}.pt"
        out[name] = path
        if (work / "models" / f"{name}.done").exists():
            continue
        model_name, options = TRAINING.get(name, (name, {}))
        if options.get("negatives"):
            options = dict(options, negatives=str(work / options["negatives"]))
            if not Path(options["negatives"]).exists():
                write_negatives(work / "world", Path(options["negatives"]))
        model_cfg = preset("demo", dim_fts=collection.dim, **ABLATIONS[model_name])
        tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                           time_budget_min=cfg.budget_min, **options)
        log(f"training {name} ({cfg.epochs} epochs or {cfg.budget_min} min)")
        result = train(collection, model_cfg, path, tcfg, card={"preset": "demo", "variant": name,
                                                              "overrides": ABLATIONS[model_name]})
        (work / "models" / f"{name}.done").write_text(json.dumps(asdict(result)))
    return out


def evaluate(collection_dir: Path, checkpoint: Path, split: str, out: Path, binary_pairs: int) -> dict:
    """`hgr evaluate` of one checkpoint on one split, its JSON written to `out` and returned."""
    from hgr.cli import main as cli


    out.parent.mkdir(parents=True, exist_ok=True)
    cli(["evaluate", "--collection", str(collection_dir), "--checkpoint", str(checkpoint), "--split", split,
         "--json", str(out), "--binary-selection", str(binary_pairs)])
    return json.loads(out.read_text())


def evaluate_all(work: Path, collection_dir: Path, models: dict[str, Path], cfg: PipelineConfig) -> dict:
    results = {}
    for name, path in models.items():
        for split in EVAL_SPLITS:
            out = work / "results" / f"{name}.{split}.json"
            if not out.exists():
                log(f"evaluating {name} on {split}")
                pairs = cfg.binary_pairs if split == "test" else 0
                evaluate(collection_dir, path, split, out, pairs)
            results[f"{name}.{split}"] = json.loads(out.read_text())
    return results


def choose_shipped(work: Path, collection_dir: Path, models: dict[str, Path], cfg: PipelineConfig) -> str:
    """The candidate that tells true from minimally wrong captions best on the validation clips (Table 6's average
    there, the fine-grained measure the demo is about; validation rsum breaks a tie). Test clips are not looked at.
    Each candidate's validation figures are written to results/<name>.val.json."""
    def figures(name: str) -> tuple[float, float]:
        out = work / "results" / f"{name}.val.json"
        if not out.exists():
            log(f"evaluating {name} on val")
            evaluate(collection_dir, models[name], "val", out, cfg.binary_pairs)
        val = json.loads(out.read_text())
        return val["binary_selection"]["average"], val["rsum"]

    chosen = {name: figures(name) for name in SHIP_CANDIDATES}
    best = max(SHIP_CANDIDATES, key=lambda n: chosen[n])
    log("validation binary selection / rsum: " + ", ".join(f"{n} {b:.1f} / {r:.1f}" for n, (b, r) in chosen.items()))
    return best


def ship(work: Path, world: Path, collection_dir: Path, models: dict[str, Path], results: dict,
         assets: Path, checkpoints: Path, cfg: PipelineConfig) -> str:
    """Copy the test splits (clips, features, captions, graphs) to `assets`, the chosen model to `checkpoints`."""
    from hgr.collection import Collection, CollectionWriter

    best = choose_shipped(work, collection_dir, models, cfg)
    log(f"shipping {best} (best validation binary selection of {', '.join(SHIP_CANDIDATES)})")
    src = Collection.open(collection_dir)
    ids = [v for split in SHIP_SPLITS for v in src.split(split)]
    if assets.exists():
        shutil.rmtree(assets)
    m = src.manifest
    with CollectionWriter(assets, extractor=m["extractor"], dim=m["dim"], sampling=m["sampling"], name="demo-world",
                          dtype=m["dtype"], regions=m["regions"], created_with=m.get("created_with")) as writer:
        for v in ids:
            writer.add(v, src.features(v), src.region_features(v))
        captions = {v: src.captions[v] for v in ids}
        writer.set_captions(captions)
        writer.set_role_graphs({c: src.role_graphs[c] for caps in captions.values() for c in caps},
                               parser=m.get("parser"))
        writer.set_splits({split: list(src.split(split)) for split in SHIP_SPLITS})
    (assets / "videos").mkdir(exist_ok=True)
    for v in ids:
        shutil.copyfile(world / "videos" / f"{v}.mp4", assets / "videos" / f"{v}.mp4")
    world_json = json.loads((world / "world.json").read_text())
    world_json["clips"] = {k: c for k, c in world_json["clips"].items() if k in set(ids)} \
        if isinstance(world_json.get("clips"), dict) else world_json.get("clips")
    (assets / "world.json").write_text(json.dumps(world_json))
    ship_model(best, models, results, assets, checkpoints, cfg, work)
    return best


def ship_model(best: str, models: dict[str, Path], results: dict, assets: Path, checkpoints: Path,
               cfg: PipelineConfig, work: Path) -> None:
    """Write `best` as checkpoints/demo.pt (float16 weights, to stay small) with the figures of those very weights
    in its model card and, with every other variant's, in assets/results.json."""
    import hgr
    from hgr import checkpoint

    ckpt = hgr.load(models[best], device="cpu")
    half = checkpoint.save(work / "models" / f"{best}.float16.pt", ckpt.model, ckpt.vocab, ckpt.card, half=True)
    for split in EVAL_SPLITS:                       # the figures of the float16-stored weights that ship
        out = work / "results" / f"{best}.{split}.json"
        log(f"evaluating the shipped weights ({best}, float16) on {split}")
        results[f"{best}.{split}"] = evaluate(assets, half, split, out, cfg.binary_pairs if split == "test" else 0)
    card = dict(ckpt.card, shipped_variant=best, weights="float16 (widened to float32 when loaded)",
                test={k.split(".", 1)[1]: v for k, v in results.items() if k.startswith(best + ".")})
    checkpoint.save(checkpoints / "demo.pt", ckpt.model, ckpt.vocab, card, half=True)
    (assets / "results.json").write_text(json.dumps(results, indent=1))


def run(work: Path, cfg: PipelineConfig, assets: Path = Path("assets/demo"),
        checkpoints: Path = Path("checkpoints")) -> None:
    work.mkdir(parents=True, exist_ok=True)
    world = build(work, cfg)
    collection = index(work, world, cfg)
    models = train_all(work, collection, cfg)
    results = evaluate_all(work, collection, models, cfg)
    best = ship(work, world, collection, models, results, assets, checkpoints, cfg)
    log(f"done: assets in {assets}, checkpoint {checkpoints / 'demo.pt'} ({best})")
