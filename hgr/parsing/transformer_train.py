"""`hgr srl-train --backend transformer`: fine-tune the transformer SRL tagger on CoNLL-2012 PropBank gold.

    hgr srl-train --backend transformer --train ../shared/data/srl/ewt_train.gold_conll.gz \
        --dev ../shared/data/srl/ewt_dev.gold_conll --out hgr/parsing/srl_transformer.pt

Targets: every verbal predicate (POS VB*) as a positive of the predicate head, every other word as a negative;
per verbal predicate, BIO tags of its arguments (roles seen at least `min_role_count` times; rarer ones are O).
Each sentence is seen, at random per epoch, as written or in caption form (normalize_caption per token: no
punctuation, "'s" -> "s"), since captions reach the parser normalised. Fixed seed; GPU when there is one.
The epoch with the best dev F1 (caption form and as written, averaged) is kept when --dev is given.
`--frames DIR` adds the annotated examples of PropBank's frame files (propbank_frames.py): argument tags only,
since their other verbs are unannotated (`GoldSentence.complete` is False, so no predicate-finding target).
`--filler-swap P`: a share P of the sentences is seen each epoch with one plain noun phrase argument exchanged for
another of the training data's (fillers.py), so that roles are read from the clause rather than from who fills them.
"""
from __future__ import annotations

import collections
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hgr.parsing.conll import GoldPredicate, GoldSentence, read_conll
from hgr.parsing.fillers import filler_pool, swap_filler
from hgr.parsing.normalize import normalize_caption
from hgr.parsing.transformer_srl import SRLTagger, TaggerConfig, TransformerSRL, load_encoder, piece_batch, save_tagger


@dataclass
class TransformerTrainConfig:
    epochs: int = 3
    batch_size: int = 32            # sentences per step
    encoder_lr: float = 5e-5        # fine-tuned encoder layers (AdamW)
    head_lr: float = 1e-3           # predicate head, BiLSTM, tag layer
    weight_decay: float = 0.01
    warmup: float = 0.06            # share of the steps with a linear warm-up, then linear decay to 0
    caption_form: float = 0.5       # chance a sentence is seen in caption form in an epoch
    min_role_count: int = 5         # rarer roles are not learned (tagged O)
    max_words: int = 120            # longer training sentences are left out (a handful in EWT)
    filler_swap: float = 0.0        # chance a sentence is seen with a noun phrase argument exchanged (fillers.py)
    seed: int = 0


def caption_form(sent: GoldSentence) -> GoldSentence:
    """The sentence as normalize_caption would give it: tokens normalised, emptied ones dropped, spans moved."""
    words: list[str] = []
    where: list[tuple[int, int] | None] = []          # old token -> (first, last) new word, or None
    for w in sent.words:
        pieces = normalize_caption(w).split()
        where.append((len(words), len(words) + len(pieces) - 1) if pieces else None)
        words.extend(pieces)
    predicates = []
    for gp in sent.predicates:
        if where[gp.index] is None:
            continue
        args = []
        for start, end, role in gp.arguments:
            kept = [where[i] for i in range(start, end + 1) if where[i] is not None]
            if kept:
                args.append((kept[0][0], kept[-1][1], role))
        predicates.append(GoldPredicate(where[gp.index][0], gp.pos, gp.lemma, args))
    return GoldSentence(words=words, pos=[], predicates=predicates, complete=sent.complete)


def role_tags(sentences: list[GoldSentence], min_count: int) -> list[str]:
    counts = collections.Counter(r for s in sentences for p in s.predicates if p.is_verbal for _, _, r in p.arguments)
    roles = sorted(r for r, n in counts.items() if n >= min_count and r != "V")
    return ["O"] + [f"{b}-{r}" for r in roles for b in "BI"]


def targets(sent: GoldSentence, tag_id: dict[str, int]) -> tuple[list[int], list[list[int]]]:
    """(verbal predicate indices, one tag-id row per predicate); arguments of unknown roles stay O."""
    predicates, rows = [], []
    for gp in sent.predicates:
        if not gp.is_verbal or gp.index >= len(sent.words):
            continue
        row = [0] * len(sent.words)
        for start, end, role in gp.arguments:
            if f"B-{role}" in tag_id:
                row[start] = tag_id[f"B-{role}"]
                for i in range(start + 1, end + 1):
                    row[i] = tag_id[f"I-{role}"]
        predicates.append(gp.index)
        rows.append(row)
    return predicates, rows


def batches(sentences: list[GoldSentence], size: int, rng: random.Random) -> list[list[GoldSentence]]:
    """Batches of similar length (sorted within shuffled pools of 50 batches), in shuffled order."""
    order = list(range(len(sentences)))
    rng.shuffle(order)
    pool = size * 50
    out = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: len(sentences[i].words))
        out.extend([sentences[i] for i in chunk[k:k + size]] for k in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


def step_loss(model: SRLTagger, tokenizer, batch: list[GoldSentence], tag_id: dict[str, int],
              device: torch.device) -> torch.Tensor:
    pieces, first, mask = piece_batch(tokenizer, [s.words for s in batch])
    pieces = {k: v.to(device) for k, v in pieces.items()}
    mask = mask.to(device)
    states = model.encode(pieces, first.to(device))
    is_predicate = torch.zeros(mask.shape, device=device)
    sentence, predicate, gold = [], [], []
    for b, sent in enumerate(batch):
        preds, rows = targets(sent, tag_id)
        for p, row in zip(preds, rows):
            is_predicate[b, p] = 1.0
            sentence.append(b)
            predicate.append(p)
            gold.append(row + [-100] * (mask.shape[1] - len(row)))
    logits = model.predicate_logits(states)
    found = mask & torch.tensor([s.complete for s in batch], device=device)[:, None]   # unannotated verbs: no target
    loss = (nn.functional.binary_cross_entropy_with_logits(logits[found], is_predicate[found]) if found.any()
            else logits.sum() * 0.0)
    if sentence:
        gold_t = torch.tensor(gold, device=device)                       # [P, W]
        rows = torch.tensor(sentence, device=device)
        gold_t[~mask[rows]] = -100                                        # words the encoder did not read
        lengths = torch.tensor([len(batch[b].words) for b in sentence])
        scores = model.argument_logits(states, rows, torch.tensor(predicate, device=device), lengths)  # [P, W, T]
        loss = loss + nn.functional.cross_entropy(scores.flatten(0, 1), gold_t.flatten(), ignore_index=-100)
    return loss


def dev_f1(backend: TransformerSRL, dev: list[GoldSentence]) -> tuple[float, float]:
    """(F1 as written, F1 in caption form) on the dev sentences."""
    from hgr.parsing.srl_eval import score_sentences
    backend.model.eval()
    as_written = score_sentences(dev, backend).overall[2]
    captions = score_sentences([caption_form(s) for s in dev], backend).overall[2]
    return 100 * as_written, 100 * captions


def train(train_path: str | Path, out: str | Path, cfg: TransformerTrainConfig, tagger: TaggerConfig | None = None,
          dev_path: str | Path | None = None, device: str = "auto", init: str | Path | None = None,
          extra: list[GoldSentence] | None = None, log=print) -> TransformerSRL:
    """Fine-tune on `train_path` (plus `extra` sentences, e.g. PropBank frame-file examples) and write `out`.

    Extra sentences whose roles are not all in the tag set are left out (the tagger has no tag for them)."""
    from tqdm import tqdm

    from hgr.checkpoint import resolve_device
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    device = resolve_device(device)

    def fits(sent: GoldSentence) -> bool:
        return 0 < len(sent.words) <= cfg.max_words

    sentences = [s for s in read_conll(train_path) if fits(s)]
    dev = read_conll(dev_path) if dev_path else []
    if init:                                   # go on from a tagger file: its layers, heads and tags
        model, tokenizer = _initial_tagger(init, device)
        tags = model.cfg.tags
    else:
        tags = role_tags(sentences, cfg.min_role_count)
        encoder, tokenizer = load_encoder()
        model = SRLTagger(encoder, TaggerConfig(**{**(tagger.__dict__ if tagger else {}), "tags": tags})).to(device)
    tag_id = {t: i for i, t in enumerate(tags)}
    if extra:
        usable = [s for s in extra if fits(s)
                  and all(f"B-{r}" in tag_id for p in s.predicates for _, _, r in p.arguments)]
        log(f"{len(usable)} of {len(extra)} extra sentences added "
            "(the rest are too long or have roles without a tag)")
        sentences = sentences + usable
    log(f"{len(sentences)} training sentences, {len(tags)} tags, device {device}"
        + (f", starting from {init}" if init else ""))
    tuned = tuple(model.tuned_prefixes())
    encoder_params, head_params = [], []
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith(tuned)
        if param.requires_grad:
            (encoder_params if name.startswith("encoder.") else head_params).append(param)
    opt = torch.optim.AdamW([{"params": encoder_params, "lr": cfg.encoder_lr},
                             {"params": head_params, "lr": cfg.head_lr}], weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(sentences) / cfg.batch_size)
    warm = max(1, int(cfg.warmup * steps))
    def schedule(step: int) -> float:                  # linear warm-up, then linear decay to 0
        return min((step + 1) / warm, max(0.0, (steps - step) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    backend = TransformerSRL(model, tokenizer, device)
    best, t0 = -1.0, time.time()
    if init and dev:                           # the file it starts from is the bar an epoch must pass to be saved
        written, captions = dev_f1(backend, dev)
        best = (written + captions) / 2
        log(f"start: dev F1 {written:.2f} as written, {captions:.2f} caption form")
    start = {"init": str(init), "seed": cfg.seed} if init else {}
    pool = filler_pool(sentences) if cfg.filler_swap else []
    if pool:
        log(f"filler swaps: {cfg.filler_swap:.0%} of sentences an epoch, from {len(pool)} noun phrases")
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        seen = [swap_filler(s, pool, rng) if pool and rng.random() < cfg.filler_swap else s for s in sentences]
        seen = [caption_form(s) if rng.random() < cfg.caption_form else s for s in seen]
        bar = tqdm(batches(seen, cfg.batch_size, rng), desc=f"epoch {epoch}/{cfg.epochs}", file=sys.stderr)
        total = 0.0
        for k, batch in enumerate(bar, 1):
            loss = step_loss(model, tokenizer, batch, tag_id, device)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(encoder_params + head_params, 1.0)
            opt.step()
            sched.step()
            total += loss.item()
            bar.set_postfix(loss=f"{total / k:.3f}")
        minutes = (time.time() - t0) / 60
        if dev:
            written, captions = dev_f1(backend, dev)
            log(f"epoch {epoch}: loss {total / k:.4f}, dev F1 {written:.2f} as written, {captions:.2f} caption form "
                f"({minutes:.1f} min)")
            if (written + captions) / 2 > best:
                best = (written + captions) / 2
                save_tagger(model, out, {"version": f"{Path(out).name} epoch {epoch}", "epoch": epoch, **start})
        else:
            log(f"epoch {epoch}: loss {total / k:.4f} ({minutes:.1f} min)")
            save_tagger(model, out, {"version": f"{Path(out).name} epoch {epoch}", "epoch": epoch, **start})
    if not Path(out).exists():
        log(f"no epoch beat the dev F1 of {init}: nothing written to {out}")
        return TransformerSRL.load(init, device=str(device))
    return TransformerSRL.load(out, device=str(device))


def _initial_tagger(path: str | Path, device: torch.device) -> tuple[SRLTagger, object]:
    """The model a tagger file holds (TransformerSRL.load widens its float16 weights to float32) and its tokenizer."""
    backend = TransformerSRL.load(path, device=str(device))
    return backend.model, backend.tokenizer
