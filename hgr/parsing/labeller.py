"""The learned argument labeller: hashed features of (predicate, candidate phrase) -> role or NONE, then decoding.

A multinomial logistic regression over hashed string features (candidates.py), trained on PropBank EWT with
`hgr srl-train` (srl_train.py). Scoring is numpy only: logits = sum of the weight rows of a candidate's features.
Decoding takes candidates by confidence, without overlapping phrases and with each core role (ARG0-5) once.
`RoleLabeller.rules_only()` (SpacySRL(weights=None), `--rules` on the CLI) uses the hand-written guesses of
candidates.rule_role instead, for comparison.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hgr.errors import ParseError
from hgr.parsing.candidates import Candidate, candidates, features, is_passive, rule_role
from hgr.parsing.frames import CORE_ROLES

NONE = "NONE"
DEFAULT_WEIGHTS = Path(__file__).with_name("srl_model.npz")


def hash_features(feats: list[str], n_buckets: int, memo: dict[str, int]) -> list[int]:
    """Stable (crc32) feature hashing, memoised per labeller."""
    out = []
    for f in feats:
        idx = memo.get(f)
        if idx is None:
            idx = zlib.crc32(f.encode("utf-8")) % n_buckets
            if len(memo) < 2_000_000:
                memo[f] = idx
        out.append(idx)
    return out


@dataclass
class RoleLabeller:
    """Weights [n_buckets, n_roles] + bias [n_roles]; roles[0] is NONE. `weights=None` means rules only."""

    roles: list[str]
    weights: np.ndarray | None = None     # [n_buckets, n_roles] float32
    bias: np.ndarray | None = None        # [n_roles] float32
    none_offset: float = 0.0              # subtracted from the NONE logit at decoding: > 0 favours recall
    _memo: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n_buckets(self) -> int:
        return 0 if self.weights is None else self.weights.shape[0]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_WEIGHTS) -> RoleLabeller:
        path = Path(path)
        if not path.exists():
            raise ParseError(f"SRL labeller weights not found: {path}; train them with `hgr srl-train`")
        try:
            with np.load(path, allow_pickle=False) as z:
                scale = z["scale"].astype(np.float32) if "scale" in z else np.float32(1.0)
                weights = z["weights"].astype(np.float32) * scale      # [n_buckets, n_roles]
                offset = float(z["none_offset"]) if "none_offset" in z else 0.0
                return cls(roles=[str(r) for r in z["roles"]], weights=weights, bias=z["bias"].astype(np.float32),
                           none_offset=offset)
        except (OSError, KeyError, ValueError) as err:
            raise ParseError(f"cannot read SRL labeller weights {path}: {err}") from err

    @classmethod
    def rules_only(cls) -> RoleLabeller:
        return cls(roles=[NONE])

    def save(self, path: str | Path) -> None:
        """int8 weights with a per-role scale keep the shipped file small."""
        assert self.weights is not None and self.bias is not None
        scale = np.abs(self.weights).max(axis=0) / 127.0 + 1e-12           # [n_roles]
        q = np.round(self.weights / scale).astype(np.int8)
        np.savez_compressed(path, weights=q, scale=scale.astype(np.float32), bias=self.bias,
                            roles=np.array(self.roles), none_offset=np.float32(self.none_offset))

    # ---- scoring -------------------------------------------------------------------------------------------
    def probabilities(self, doc, p: int, cands: list[Candidate]) -> np.ndarray:
        """[n_candidates, n_roles] softmax probabilities."""
        passive = is_passive(doc[p])
        rows = [hash_features(features(doc, p, c, passive), self.n_buckets, self._memo) for c in cands]
        logits = self.weights[np.array(rows)].sum(1) + self.bias   # [n_cand, n_feats, n_roles] -> [n_cand, n_roles]
        logits[:, 0] -= self.none_offset
        logits -= logits.max(1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(1, keepdims=True)

    def label(self, doc, p: int) -> list[tuple[int, int, str]]:
        """Arguments (start, end inclusive, role) of the predicate at token p, non-overlapping."""
        cands = candidates(doc, p)
        if not cands:
            return []
        if self.weights is None:
            passive = is_passive(doc[p])
            scored = [(1.0, c, rule_role(doc, p, c, passive)) for c in cands if c.kind != "trim"]
            scored = [(s, c, r) for s, c, r in scored if r != NONE]
            return decode([(s, c, [r]) for s, c, r in scored])
        probs = self.probabilities(doc, p, cands)
        order = np.argsort(-probs, axis=1)
        scored = []
        for i, c in enumerate(cands):
            ranked = [self.roles[j] for j in order[i][: int(np.nonzero(order[i] == 0)[0][0])]]  # roles above NONE
            if ranked:
                scored.append((1.0 - probs[i, 0], c, ranked))
        return decode(scored)


def decode(scored: list[tuple[float, Candidate, list[str]]]) -> list[tuple[int, int, str]]:
    """Greedy: most confident first; skip phrases overlapping a kept one; a core role is used once."""
    kept: list[tuple[int, int, str]] = []
    used: set[str] = set()
    for _, c, roles in sorted(scored, key=lambda t: -t[0]):
        if any(not (c.end < a or c.start > b) for a, b, _ in kept):
            continue
        role = next((r for r in roles if r not in used or r not in CORE_ROLES), None)
        if role is None:
            continue
        kept.append((c.start, c.end, role))
        used.add(role)
    return sorted(kept)
