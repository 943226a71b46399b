"""Time per epoch of `hgr train --official-root --preset official` at the official dimensions, extrapolated to MSR-VTT.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/official_epoch.py                     # CPU (about 4 minutes)
    .venv/bin/python benchmarks/official_epoch.py --device cuda --train-videos 640     # a GPU

Builds an official-layout root in a temporary folder at the release's sizes where they matter for speed: 2048-d
ResNet-152 frame features (30 a video, resampled to 20), a 10,510-word vocabulary (MSR-VTT's), 20 captions a video
of 9 words with a verb and three arguments each (MSR-VTT: 9.3 words on average), and the official preset
(bi-GRU 1024, one attention graph layer, 300-d words, batch 64, Adam 1e-4). It trains one epoch on
`--train-videos` videos through the same code as `hgr train --official-root` (hgr.official.open_release, hgr.train;
its per-epoch validation on a 2-video split, so that the epoch is the training steps), then times the official
validation (every caption of the split) on `--val-videos` videos: by default MSR-VTT's 497, so that figure is
measured, not extrapolated.

MSR-VTT's epoch is then its 2,036 training steps (6,513 videos x 20 captions, 64 a step) at the measured time a
step, plus the validation (scaled by videos x captions when `--val-videos` is not 497: a rough upper bound, since
encoding grows only linearly). Prints its figures and a last JSON line.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MSRVTT = {"train_videos": 6513, "val_videos": 497, "captions_per_video": 20, "num_words": 10510}
WORDS_PER_CAPTION = 9           # "a w1 is w2 a w3 in the w4": ARG0, V, ARG1, ARGM-LOC


def build_root(root: Path, train_videos: int, val_videos: int, frames: int = 30, seed: int = 0) -> Path:
    """An official-layout root (spec section 2) of random 2048-d features and 9-word captions over 10,510 words."""
    import h5py

    from hgr.collection import feature_key

    rng = np.random.default_rng(seed)
    words = ["<BOS>", "<EOS>", "<UNK>", "a", "is", "in", "the"]
    words += [f"w{i}" for i in range(MSRVTT["num_words"] - len(words))]
    ann = root / "annotation" / "RET"
    ann.mkdir(parents=True)
    (root / "public_split").mkdir()
    features = root / "ordered_feature" / "SA" / "resnet152.pth"
    features.mkdir(parents=True)
    captions, graphs = {}, {}
    for split, count in (("trn", train_videos), ("val", val_videos), ("mini", 2)):
        names = [f"{split}{i}" for i in range(count)]
        with h5py.File(features / f"{split}_ft.hdf5", "w") as f:
            for name in names:
                f[feature_key(name)] = rng.random((frames, 2048), dtype=np.float32)
                captions[name] = []
                for _ in range(MSRVTT["captions_per_video"]):
                    agent, verb, patient, place = (words[int(i)] for i in rng.integers(7, len(words), 4))
                    sentence = f"a {agent} is {verb} a {patient} in the {place}"
                    tokens = sentence.split()
                    graphs[sentence] = [
                        {"ROOT": {"role": "ROOT", "spans": list(range(len(tokens))), "words": tokens},
                         "1": {"role": "V", "spans": [3], "words": [verb]},
                         "2": {"role": "ARG0", "spans": [0, 1], "words": tokens[:2]},
                         "3": {"role": "ARG1", "spans": [4, 5], "words": tokens[4:6]},
                         "4": {"role": "ARGM-LOC", "spans": [6, 7, 8], "words": tokens[6:]}},
                        [["1", "2", "ARG0"], ["1", "3", "ARG1"], ["1", "4", "ARGM-LOC"]]]
                    captions[name].append(sentence)
        np.save(root / "public_split" / f"{split}_names.npy", np.array(names))
    np.save(ann / "int2word.npy", np.array(words))
    (ann / "word2int.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    (ann / "ref_captions.json").write_text(json.dumps(captions))
    (ann / "sent2rolegraph.augment.json").write_text(json.dumps(graphs))
    return root


def machine(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "?"
    return f"{model}, {torch.get_num_threads()} torch threads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-videos", type=int, default=32, help="videos trained on (x20 captions; default 32: "
                        "10 steps of 64)")
    parser.add_argument("--val-videos", type=int, default=MSRVTT["val_videos"], help="videos validated on (x20 "
                        "captions; default 497, MSR-VTT's val split)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch

    from hgr.collection import Collection
    from hgr.device import resolve_device
    from hgr.graph import graph_lookup
    from hgr.model import preset
    from hgr.official import open_release
    from hgr.train import TRAIN_PRESETS, TrainConfig, train, validate

    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root = build_root(Path(tmp) / "root", args.train_videos, args.val_videos)
        print(f"built a root of {args.train_videos} + {args.val_videos} videos in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        release = open_release(root, val_split="mini")           # validation timed on its own, below
        cfg = preset("official").replace(dim_fts=release.collection.dim)
        tcfg = TrainConfig(**{**TRAIN_PRESETS["official"], "epochs": 1, "train_split": "trn", "val_split": "mini",
                              "glove": False})
        result = train(release.collection, cfg, Path(tmp) / "model.pt", tcfg, str(device), vocab=release.vocab,
                       progress=False)
        train_s = result.history[0]["minutes"] * 60               # the training steps (+ 2 videos' validation)
        import hgr

        ckpt = hgr.load(Path(tmp) / "model.pt", device=device)
        coll = Collection.from_official(root, "val")
        val = coll.split("val")
        frames = {v: coll.frame_features(v)[0] for v in val}
        graphs = graph_lookup(coll.role_graphs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        validate(ckpt, coll, val, frames, graphs, 0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        val_s = time.perf_counter() - t0
    steps = math.ceil(args.train_videos * MSRVTT["captions_per_video"] / tcfg.batch_size)
    step_s = train_s / steps
    full_steps = math.ceil(MSRVTT["train_videos"] * MSRVTT["captions_per_video"] / tcfg.batch_size)
    val_scale = (MSRVTT["val_videos"] / args.val_videos) ** 2              # videos x captions, both grow
    full_val_s = val_s * val_scale
    full_epoch_s = full_steps * step_s + full_val_s
    where = machine(device)
    print(f"{where}: {steps} training steps of {tcfg.batch_size} in {train_s:.1f} s "
          f"({step_s:.2f} s a step); validation of {args.val_videos} videos x "
          f"{args.val_videos * MSRVTT['captions_per_video']} captions in {val_s:.1f} s")
    print(f"MSR-VTT at the official dimensions: {full_steps} steps -> {full_steps * step_s / 60:.1f} min, "
          f"validation of 497 x 9,940 -> ~{full_val_s / 60:.1f} min"
          f"{'' if args.val_videos == MSRVTT['val_videos'] else ' (extrapolated by videos x captions)'}; "
          f"~{full_epoch_s / 60:.0f} min an epoch, ~{50 * full_epoch_s / 3600:.1f} h for the official 50 epochs")
    print(json.dumps({"device": where, "train_videos": args.train_videos, "val_videos": args.val_videos,
                      "step_s": round(step_s, 3), "val_s": round(val_s, 2), "msrvtt_steps": full_steps,
                      "msrvtt_val_s": round(full_val_s, 1), "msrvtt_epoch_min": round(full_epoch_s / 60, 1),
                      "msrvtt_50_epochs_h": round(50 * full_epoch_s / 3600, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
