"""SRL backends: anything that maps sentences to AllenNLP-style SRL outputs.

`SRLBackend` is the plug-in point; `make_backend(name)` builds one by name:
- "transformer" (default): TransformerSRL, a fine-tuned MiniLM encoder that finds the predicates and tags their
  arguments itself (transformer_srl.py);
- "spacy": SpacySRL, spaCy's dependency parse, candidate phrases and the learned labeller (labeller.py), or
  hand-written rules (`rules=True`).
All offline, on the CPU or a GPU.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from hgr.errors import ParseError
from hgr.parsing.candidates import is_predicate
from hgr.parsing.frames import describe
from hgr.parsing.labeller import DEFAULT_WEIGHTS, RoleLabeller
from hgr.parsing.spacy_nlp import SPACY_PACKAGE, load_spacy, parse_tokens

SRLOutput = dict[str, Any]   # {"words": [...], "verbs": [{"verb", "description", "tags"}]}
BACKENDS = ("transformer", "spacy")
DEFAULT_BACKEND = "transformer"
# The transformer's arithmetic. fp32: what the shipped graphs were parsed with. bf16: the network under
# torch.autocast(bfloat16): 1.56x the sentences per second of fp32 in benchmarks/parse.py's transformer-bf16 row on a
# Zen 4 CPU with AVX-512 BF16 (random 20,000 MSR-VTT captions), with 0.8 % of the graphs different; opt-in (`hgr
# parse --precision`, `hgr srl-eval --precision`), not what collections are built or queries parsed with.
PRECISIONS = ("fp32", "bf16")


@runtime_checkable
class SRLBackend(Protocol):
    """sentences (token lists, or strings split on whitespace) -> one AllenNLP SRL output per sentence."""

    def predict(self, sentences: Sequence[Sequence[str] | str]) -> list[SRLOutput]: ...


def as_tokens(sentence: Sequence[str] | str) -> list[str]:
    return sentence.split() if isinstance(sentence, str) else [str(w) for w in sentence]


def frame_tags(n_words: int, verb: int, arguments: Sequence[tuple[int, int, str]]) -> list[str]:
    """(start, end inclusive, role) arguments of the verb at `verb` -> BIO tags."""
    tags = ["O"] * n_words
    for start, end, role in arguments:
        tags[start] = f"B-{role}"
        for i in range(start + 1, end + 1):
            tags[i] = f"I-{role}"
    tags[verb] = "B-V"
    return tags


def make_backend(name: str = DEFAULT_BACKEND, weights: str | None = None, rules: bool = False,
                 precision: str = "fp32") -> SRLBackend:
    """The backend called `name`, with its shipped weights unless `weights` names a file (`precision`: the
    transformer's, one of PRECISIONS)."""
    if name == "transformer":
        from hgr.parsing.transformer_srl import TransformerSRL
        return TransformerSRL.load(weights, precision=precision)
    if name != "spacy":
        raise ValueError(f"unknown SRL backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if precision != "fp32":
        raise ParseError(f"--precision {precision} applies to the transformer backend only, not {name!r}")
    return SpacySRL(weights=None if rules else (weights or str(DEFAULT_WEIGHTS)))


class SpacySRL:
    """spaCy dependency parse -> candidate phrases -> learned role labeller."""

    name = "spacy"

    def __init__(self, weights: str | None = str(DEFAULT_WEIGHTS), package: str = SPACY_PACKAGE,
                 batch_size: int = 256):
        self.nlp = load_spacy(package)
        self.labeller = RoleLabeller.load(weights) if weights else RoleLabeller.rules_only()
        self.batch_size = batch_size

    def predict(self, sentences: Sequence[Sequence[str] | str]) -> list[SRLOutput]:
        return [self.frames(doc) for doc in self.parse(sentences)]

    def parse(self, sentences: Sequence[Sequence[str] | str], batch_size: int | None = None) -> Iterator:
        """spaCy Docs over exactly the given tokens (batched)."""
        return parse_tokens((as_tokens(s) for s in sentences), batch_size=batch_size or self.batch_size,
                            nlp=self.nlp)

    def frames(self, doc) -> SRLOutput:
        """AllenNLP-style output for one parsed Doc: a frame per verb that is not an auxiliary."""
        words = [t.text for t in doc]
        verbs = []
        for tok in doc:
            if is_predicate(tok):
                tags = frame_tags(len(words), tok.i, self.labeller.label(doc, tok.i))
                verbs.append({"verb": tok.text, "description": describe(words, tags), "tags": tags})
        return {"words": words, "verbs": verbs}
