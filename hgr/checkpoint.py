"""Checkpoints: our single-file format and the official release's, both loaded with `weights_only=True`.

Ours: `{"format": "hgr", "version": 1, "config": {...}, "vocab": [words], "state_dict": {...}, "card": {...}}`.
Official (spec section 3): `{"video_encoder": {...}, "text_encoder": {...}}` beside `int2word.npy`/`word2int.json`;
it holds no config, so the architecture is read off the tensors' shapes (or the official `model.json`).
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hgr.atomic import atomic_write
from hgr.device import resolve_device
from hgr.errors import CheckpointError
from hgr.model import HGR, HGRConfig
from hgr.model.config import LEGACY_DEFAULTS
from hgr.vocab import Vocabulary

FORMAT = "hgr"
VERSION = 1


@dataclass
class Checkpoint:
    model: HGR
    vocab: Vocabulary
    card: dict = field(default_factory=dict)   # model card: data, preset, training time, metrics
    path: Path | None = None
    extra: dict = field(default_factory=dict)  # anything else saved beside the model (training state on resume)

    @property
    def config(self) -> HGRConfig:
        return self.model.cfg


def _read(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"refused to load {path}: it contains Python objects other than tensors and plain containers, "
            f"which could run code when unpickled ({str(err).splitlines()[0]}). Only load checkpoints you trust, "
            "saved with hgr or the official release.") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({err}); is the file complete?") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dictionary")
    return obj


def _load_weights(model: HGR, state: dict, path: Path) -> None:
    """Copy `state` into `model` after checking every name and shape, so nothing is half-loaded."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the weights are a {type(state).__name__}, not a dictionary of tensors")
    not_tensors = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise CheckpointError(f"{path} does not fit the model: entries that are not tensors: {', '.join(not_tensors)}")
    non_finite = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if non_finite:
        raise CheckpointError(f"{path}: tensors with NaN or infinite values (a diverged or damaged model): "
                              f"{', '.join(non_finite)}")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [f"{k} {tuple(state[k].shape)} (model wants {tuple(v.shape)})"
                 for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected)}")
    if misshaped:
        problems.append(f"mis-shaped tensors: {', '.join(misshaped)}")
    if problems:
        raise CheckpointError(f"{path} does not fit the model: " + "; ".join(problems))
    model.load_state_dict(state)


def save(path: str | Path, model: HGR, vocab: Vocabulary, card: dict | None = None, extra: dict | None = None,
         half: bool = False) -> Path:
    """Write a checkpoint atomically: a crash never leaves a broken or half-written file.

    `half`: store floating-point weights as float16 (half the file; `load` widens them back to float32).
    """
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    payload = {"format": FORMAT, "version": VERSION, "config": model.cfg.to_dict(), "vocab": list(vocab.words),
               "state_dict": state, "card": card or {}}
    if extra:
        payload.update(extra)
    return atomic_torch_save(payload, path)


def atomic_torch_save(payload: dict, path: str | Path) -> Path:
    """torch.save to a temporary file beside `path`, fsync, then rename over `path` (`hgr.atomic`)."""
    return atomic_write(path, lambda f: torch.save(payload, f))


def load(path: str | Path, device: str | torch.device = "auto") -> Checkpoint:
    """Load one of our checkpoints (config, vocabulary and card inside), in eval mode on `device`."""
    path = Path(path)
    return _ours(_read(path), path, device)


def load_any(path: str | Path, int2word: str | Path, word2int: str | Path | None = None,
             model_json: str | Path | None = None, device: str | torch.device = "auto") -> Checkpoint:
    """Ours (e.g. trained with `hgr train --official-root`: its vocabulary inside) or the release's format (its
    vocabulary from `int2word`/`word2int`), whichever `path` holds; the file is read once."""
    path = Path(path)
    obj = _read(path)
    if obj.get("format") == FORMAT:
        return _ours(obj, path, device)
    return _official(obj, path, int2word, word2int, model_json, device)


def _ours(obj: dict, path: Path, device: str | torch.device) -> Checkpoint:
    if obj.get("format") != FORMAT:
        if {"video_encoder", "text_encoder"} <= set(obj):
            raise CheckpointError(f"{path} is an official HGR checkpoint: load it with load_official() or the "
                                  "--official-checkpoint option, with the release's int2word.npy")
        raise CheckpointError(f"{path} is not an hgr checkpoint (no 'format': 'hgr' entry)")
    version = obj.get("version", 0)
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: format version {version!r} is not a number; the file is damaged")
    if version > VERSION:
        raise CheckpointError(f"{path} was written by a newer hgr (format version {obj['version']}); upgrade hgr")
    words, card = obj.get("vocab", []), obj.get("card", {})
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise CheckpointError(f"{path}: the vocabulary must be a list of words; the file is damaged")
    if not isinstance(card, dict):
        raise CheckpointError(f"{path}: the model card must be a dictionary, found a {type(card).__name__}")
    try:
        cfg = HGRConfig.from_dict({**LEGACY_DEFAULTS, **obj["config"]})
        model = HGR(cfg)                     # wrong types or sizes in the config fail here, before any weight
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} has an invalid config: {err}") from None
    vocab = Vocabulary(words)
    if len(vocab) != cfg.num_words:
        raise CheckpointError(f"{path}: vocabulary has {len(vocab)} words but the config says {cfg.num_words}")
    _load_weights(model, obj.get("state_dict", {}), path)
    standard = {"format", "version", "config", "vocab", "state_dict", "card"}
    extra = {k: v for k, v in obj.items() if k not in standard}
    return Checkpoint(model.to(resolve_device(device)).eval(), vocab, card, path, extra)


def infer_official_config(state: dict, model_json: str | Path | None = None) -> HGRConfig:
    """The architecture of an official checkpoint, from its tensor shapes (and `model.json` when given)."""
    video, text = state["video_encoder"], state["text_encoder"]
    try:
        dim_embed, dim_fts = video["level_embeds.0.weight"].shape
        num_words, dim_word = text["embedding.we.weight"].shape
        gates = text["rnn.weight_ih_l0"].shape[0] // text["rnn.weight_hh_l0"].shape[1]
        num_roles = text["role_embedding.weight"].shape[0]
    except KeyError as err:
        raise CheckpointError(f"official checkpoint lacks tensor {err}; is it an HGR checkpoint?") from None
    except (AttributeError, TypeError, ValueError, IndexError) as err:   # entries that are not 2-d tensors
        raise CheckpointError(f"official checkpoint has damaged entries ({err}); is it an HGR checkpoint?") from None
    if gates not in (3, 4):
        raise CheckpointError(f"cannot tell GRU from LSTM: rnn.weight_ih_l0 has {gates}x the hidden size")
    layers = {k.split(".")[2] for k in text if k.startswith("gcn.layers.")}
    cfg = HGRConfig(
        dim_fts=int(dim_fts), dim_embed=int(dim_embed), num_words=int(num_words), dim_word=int(dim_word),
        rnn_type="gru" if gates == 3 else "lstm", num_roles=int(num_roles), gcn_layers=len(layers),
        gcn_attention=any("edge_attn_query" in k for k in text),
        video_encoder="hierarchical" if "level_embeds.1.weight" in video else "shared")
    if model_json is not None:
        sub = json.loads(Path(model_json).read_text())
        top, vcfg, tcfg = sub, sub["subcfgs"]["video_encoder"], sub["subcfgs"]["text_encoder"]
        cfg = cfg.replace(max_frames=top.get("max_frames_in_video") or cfg.max_frames,
                          max_words=top.get("max_words_in_sent", cfg.max_words),
                          num_verbs=top.get("num_verbs", cfg.num_verbs), num_nouns=top.get("num_nouns", cfg.num_nouns),
                          sigma=float(top.get("simattn_sigma", cfg.sigma)), margin=top.get("margin", cfg.margin),
                          video_dropout=vcfg.get("dropout", cfg.video_dropout),
                          text_dropout=tcfg.get("dropout", cfg.text_dropout),
                          gcn_dropout=tcfg.get("gcn_dropout", cfg.gcn_dropout))
    return cfg


def load_official(path: str | Path, int2word: str | Path, word2int: str | Path | None = None,
                  model_json: str | Path | None = None, device: str | torch.device = "auto") -> Checkpoint:
    """Load an official release checkpoint with its vocabulary files (annotation/RET/int2word.npy)."""
    path = Path(path)
    return _official(_read(path), path, int2word, word2int, model_json, device)


def _official(obj: dict, path: Path, int2word: str | Path, word2int: str | Path | None,
              model_json: str | Path | None, device: str | torch.device) -> Checkpoint:
    if not {"video_encoder", "text_encoder"} <= set(obj):
        raise CheckpointError(f"{path} is not an official HGR checkpoint: it needs 'video_encoder' and "
                              f"'text_encoder' entries, found {sorted(obj)[:6]}")
    cfg = infer_official_config(obj, model_json)
    vocab = Vocabulary.from_official(int2word, word2int)
    if len(vocab) != cfg.num_words:
        raise CheckpointError(f"{int2word} has {len(vocab)} words but {path} embeds {cfg.num_words}: "
                              "they come from different releases")
    model = HGR(cfg)
    state = {f"video_encoder.{k}": v for k, v in obj["video_encoder"].items()}
    state.update({f"text_encoder.{k}": v for k, v in obj["text_encoder"].items()})
    _load_weights(model, state, path)
    card = {"source": "official HGR release checkpoint", "file": str(path)}
    return Checkpoint(model.to(resolve_device(device)).eval(), vocab, card, path)
