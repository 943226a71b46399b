"""`hgr srl-train`: train a semantic role parser on CoNLL-2012 PropBank gold (verbal predicates).

    hgr srl-train --backend transformer --train ewt_train.gold_conll.gz --dev ewt_dev.gold_conll   # default parser
    hgr srl-train --backend spacy --train ewt_train.gold_conll.gz --out hgr/parsing/srl_model.npz

`--backend transformer` fine-tunes the transformer tagger (transformer_train.py). `--backend spacy`, below:

Candidates come from spaCy's parse of the gold tokens (candidates.py); a candidate's target is the gold role of
the argument with exactly its span, else NONE. Multinomial logistic regression on hashed features (torch, CPU).
"""
from __future__ import annotations

import argparse
import collections
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hgr.errors import ParseError
from hgr.parsing.candidates import candidates, features, is_passive
from hgr.parsing.conll import GoldSentence, read_conll
from hgr.parsing.labeller import DEFAULT_WEIGHTS, NONE, RoleLabeller, hash_features
from hgr.parsing.spacy_nlp import parse_tokens


@dataclass
class TrainConfig:
    n_buckets: int = 1 << 18     # hashed feature rows (int8 on disk: n_buckets * n_roles bytes before zip)
    min_role_count: int = 30     # rarer roles are not learned (their candidates train as NONE)
    iterations: int = 150        # L-BFGS iterations (full batch, deterministic)
    l2: float = 1e-5             # L2 penalty on the weights (the loss is the mean over candidates)
    none_offset: float = 1.0     # NONE logit offset at decoding (recall vs precision; 1.0 best on EWT dev)


def candidate_examples(sentences: list[GoldSentence], docs):
    """Yield (doc, predicate index, candidates, gold role per candidate) for every verbal gold predicate."""
    for sent, doc in zip(sentences, docs):
        for gp in sent.predicates:
            if not gp.is_verbal:
                continue
            gold = {(a, b): r for a, b, r in gp.arguments}
            cands = candidates(doc, gp.index)
            yield doc, gp.index, cands, [gold.get((c.start, c.end), NONE) for c in cands]


def train(train_path: str | Path, cfg: TrainConfig, log=print) -> RoleLabeller:
    """Parse the gold file's tokens with spaCy and fit the labeller on its verbal predicates."""
    sentences = read_conll(train_path)
    log(f"read {len(sentences)} sentences from {train_path}")
    return fit(sentences, parse_tokens(s.words for s in sentences), cfg, log)


def fit(sentences: list[GoldSentence], docs, cfg: TrainConfig, log=print) -> RoleLabeller:
    """Fit on already parsed sentences (docs[i] is spaCy's parse of sentences[i].words)."""
    import torch
    warnings.filterwarnings("ignore", message="Sparse")           # torch's beta notice for CSR tensors

    t0 = time.time()
    rows, targets = [], []
    memo: dict[str, int] = {}
    for doc, p, cands, gold in candidate_examples(sentences, docs):
        passive = is_passive(doc[p])
        for c, role in zip(cands, gold):
            rows.append(hash_features(features(doc, p, c, passive), cfg.n_buckets, memo))
            targets.append(role)
    counts = collections.Counter(targets)
    roles = [NONE] + sorted(r for r, n in counts.items() if r != NONE and n >= cfg.min_role_count)
    role_id = {r: i for i, r in enumerate(roles)}
    y = torch.tensor([role_id.get(r, 0) for r in targets])
    log(f"{len(rows)} candidates, {len(roles)} roles, features in {time.time() - t0:.0f}s")

    # full-batch L-BFGS on the L2-regularised mean softmax loss: X [n, n_used] sparse 0/1 (features present),
    # logits = X @ W + b, dL/dW = X^T @ (softmax - onehot) / n + 2 * l2 * W (sparse matmuls, explicit gradient)
    x = torch.tensor(rows)                                          # [n, n_features] hashed feature ids
    used, cols = torch.unique(x, return_inverse=True)               # train only rows that occur: [n_used]
    n, n_feat = cols.shape
    ones = torch.ones(n * n_feat)
    X = torch.sparse_coo_tensor(torch.stack([torch.arange(n).repeat_interleave(n_feat), cols.reshape(-1)]),
                                ones, (n, len(used))).coalesce()
    XT = X.t().coalesce().to_sparse_csr()
    X = X.to_sparse_csr()
    onehot = torch.nn.functional.one_hot(y, len(roles)).float()      # [n, n_roles]
    params = torch.zeros(len(used) * len(roles) + len(roles), requires_grad=True)
    opt = torch.optim.LBFGS([params], lr=1, max_iter=cfg.iterations, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-10)
    step = [0]

    def split(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return flat[: -len(roles)].view(len(used), len(roles)), flat[-len(roles):]

    def closure():
        with torch.no_grad():
            w, b = split(params)
            logits = X @ w + b                                      # [n, n_roles]
            logp = torch.log_softmax(logits, dim=1)
            loss = -(logp * onehot).sum() / n + cfg.l2 * w.pow(2).sum()
            delta = (logp.exp() - onehot) / n                       # [n, n_roles]
            grad = torch.cat([(XT @ delta + 2 * cfg.l2 * w).reshape(-1), delta.sum(0)])
        params.grad = grad
        step[0] += 1
        if step[0] % 25 == 0:
            log(f"evaluation {step[0]}: loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
        return loss

    opt.step(closure)
    w, b = split(params.detach())
    weights = np.zeros((cfg.n_buckets, len(roles)), dtype=np.float32)  # [n_buckets, n_roles]
    weights[used.numpy()] = w.numpy()
    return RoleLabeller(roles=roles, weights=weights, bias=b.numpy().astype(np.float32), none_offset=cfg.none_offset)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hgr.parsing.backend import BACKENDS
    parser.add_argument("--backend", choices=BACKENDS, default="transformer",
                        help="transformer: the MiniLM tagger (default); spacy: the candidate labeller")
    parser.add_argument("--train", required=True, help="CoNLL-2012 gold file (.gold_conll or .gz)")
    parser.add_argument("--out", default=None, help="weights file to write (default: the shipped file's path)")
    parser.add_argument("--dev", help="gold file to score after training (transformer: after every epoch, "
                        "keeping the best epoch)")
    parser.add_argument("--epochs", type=int, default=None, help="transformer: passes over the training set")
    parser.add_argument("--tuned-layers", type=int, default=None, help="transformer: top encoder layers fine-tuned")
    parser.add_argument("--predicate-layers", type=int, default=None,
                        help="transformer: top encoder layers run again per predicate, its pieces marked")
    parser.add_argument("--device", default=None, help="transformer: auto (a GPU if any; the default), cpu, cuda")
    parser.add_argument("--init", help="transformer: go on training from this weights file (its layers, heads and "
                        "tags; with --dev an epoch is saved only if it beats the file's dev F1)")
    parser.add_argument("--frames", help="transformer: also train on the annotated examples of PropBank's frame files "
                        "(the frames/ folder of a github.com/propbank/propbank-frames checkout)")
    parser.add_argument("--seed", type=int, default=None, help="transformer: random seed (default 0)")
    parser.add_argument("--encoder-lr", type=float, default=None, help="transformer: peak learning rate of the "
                        "tuned encoder layers (default 5e-5; the heads get 20 times it)")
    parser.add_argument("--filler-swap", type=float, default=None, metavar="P",
                        help="transformer: share of sentences seen each epoch with a noun phrase argument exchanged "
                        "for another of the training data's (default 0)")
    parser.add_argument("--iterations", type=int, default=None,
                        help=f"spacy: L-BFGS iterations (default {TrainConfig.iterations})")
    parser.add_argument("--l2", type=float, default=None, help=f"spacy: L2 penalty (default {TrainConfig.l2})")
    parser.add_argument("--buckets", type=int, default=None,
                        help=f"spacy: hashed feature rows (default {TrainConfig.n_buckets})")


# the options that only one backend reads (their defaults are None, so a given one is seen)
BACKEND_OPTIONS = {"transformer": ("epochs", "tuned_layers", "predicate_layers", "device", "init", "frames", "seed",
                                   "encoder_lr", "filler_swap"),
                   "spacy": ("iterations", "l2", "buckets")}


def main(args: argparse.Namespace) -> int:
    for backend, names in BACKEND_OPTIONS.items():
        given = [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) is not None]
        if backend != args.backend and given:
            one = len(given) == 1
            raise ParseError(f"{', '.join(given)} {'applies' if one else 'apply'} to --backend {backend} only, not "
                             f"{args.backend}: leave {'it' if one else 'them'} out or give --backend {backend}")
    if args.backend == "transformer":
        return _main_transformer(args)
    out = args.out or str(DEFAULT_WEIGHTS)
    given = {"iterations": args.iterations, "n_buckets": args.buckets, "l2": args.l2}
    cfg = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    labeller = train(args.train, cfg)
    labeller.save(out)
    print(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB, roles: {' '.join(labeller.roles)})")
    if args.dev:
        from hgr.parsing.backend import SpacySRL
        from hgr.parsing.srl_eval import evaluate, format_report
        print(format_report(evaluate(args.dev, SpacySRL(weights=out))))
    return 0


def _main_transformer(args: argparse.Namespace) -> int:
    from hgr.parsing import transformer_train as tt
    from hgr.parsing.srl_eval import evaluate, format_report
    from hgr.parsing.transformer_srl import DEFAULT_TRANSFORMER_WEIGHTS, TaggerConfig
    out = args.out or str(DEFAULT_TRANSFORMER_WEIGHTS)
    schedule = {"epochs": args.epochs, "seed": args.seed, "encoder_lr": args.encoder_lr,
                "head_lr": args.encoder_lr and 20 * args.encoder_lr, "filler_swap": args.filler_swap}
    cfg = tt.TransformerTrainConfig(**{k: v for k, v in schedule.items() if v is not None})
    given = {"tuned_layers": args.tuned_layers, "predicate_layers": args.predicate_layers}
    if args.init and any(v is not None for v in given.values()):
        raise ParseError("--tuned-layers and --predicate-layers come from the --init file; leave them out")
    if args.filler_swap is not None and not 0 <= args.filler_swap <= 1:
        raise ParseError(f"--filler-swap {args.filler_swap}: give the share of sentences, from 0 to 1")
    tagger = TaggerConfig(**{k: v for k, v in given.items() if v is not None})
    t0 = time.time()
    extra = None
    if args.frames:
        from hgr.parsing.propbank_frames import read_frame_examples
        extra = read_frame_examples(args.frames)
    backend = tt.train(args.train, out, cfg, tagger, dev_path=args.dev, device=args.device or "auto",
                       init=args.init, extra=extra)
    print(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB) in {(time.time() - t0) / 60:.1f} min")
    if args.dev:
        print(format_report(evaluate(args.dev, backend)))
    return 0
