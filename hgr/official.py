"""The official HGR data release opened in place: its splits as a collection, a checkpoint (the release's format or
ours), the release's vocabulary and word embeddings, and what a model trained on it records.

    collection, ckpt = open_official(root, "epoch.N.th", split="tst")    # hgr evaluate / hgr serve --official-root
    collection, ckpt = open_official(root, "runs/msrvtt.pt")              # ours, from hgr train --official-root
    data = open_release(root)                                             # hgr train --official-root: trn + val
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hgr.checkpoint import Checkpoint, load_any
from hgr.collection import Collection
from hgr.collection.official import annotation_dir
from hgr.errors import CheckpointError, CollectionError
from hgr.features import EXTRACTORS
from hgr.vocab import Vocabulary

# where the release keeps its GloVe-42B init of the word embeddings ({'text_encoder': {'embedding.we.weight'}}):
# the README's name, and the name it ships under (the author's typo, hgr_v2t issue #7); spec section 3
WORD_EMBEDS = ("results/RET.released/word_embeds.glove42b.th", "results/RET/word_embeds.glove32b.th")


def open_official(root: str | Path, checkpoint: str | Path, split: str = "tst", features_name: str = "resnet152.pth",
                  model_json: str | Path | None = None, device: str = "auto") -> tuple[Collection, Checkpoint]:
    """The release's `split` under `root` and a `checkpoint` to search it with: an official one (with the release's
    vocabulary, annotation/RET/int2word.npy and word2int.json when present) or ours (its vocabulary inside)."""
    collection = Collection.from_official(root, split, features_name)
    ann = annotation_dir(root)
    word2int = ann / "word2int.json"
    ckpt = load_any(checkpoint, ann / "int2word.npy", word2int if word2int.exists() else None, model_json,
                    device=device)
    collection.check_features(ckpt.card.get("features"), f"checkpoint {Path(checkpoint).name}")
    return collection, ckpt


def official_checkpoint(args) -> Path:
    """The checkpoint given beside --official-root: --official-checkpoint (the release's format) or --checkpoint
    (ours); either file format is read by `open_official`, the flag only says what the user has."""
    from hgr.errors import HGRError

    given = [p for p in (args.official_checkpoint, args.checkpoint) if p is not None]
    if len(given) != 1:
        raise HGRError("--official-root needs one checkpoint: --checkpoint FILE (ours, e.g. from `hgr train "
                       "--official-root`) or --official-checkpoint FILE (the release's format)")
    return given[0]


@dataclass
class Release:
    """What `hgr train --official-root` trains on: trn and val read in place, the release's vocabulary, its word
    embeddings when it ships them, and the provenance the model card records."""
    collection: Collection                      # splits trn (train) and val (validation), features in place
    vocab: Vocabulary                           # word2int.json (int2word.npy beside it must agree)
    word_vectors: torch.Tensor | None           # [num_words, dim_word] the release's GloVe init, or None
    card: dict                                  # the model card's "release" entry


def open_release(root: str | Path, features_name: str = "resnet152.pth", train_split: str = "trn",
                 val_split: str = "val") -> Release:
    """The release under `root` ready for training (spec section 2); CollectionError naming what is missing."""
    root = Path(root)
    collection = Collection.from_official(root, [train_split, val_split], features_name)
    from hgr.parsing import parser_id

    vocab, vocab_file = release_vocabulary(root)
    vectors, vectors_file = release_word_vectors(root, len(vocab))
    ext = collection.manifest["extractor"]
    spec = EXTRACTORS.get(ext["ours"])
    if spec is not None:            # the features a model trained here expects: known by name, preprocessing assumed
        ext["preprocessing"] = spec.preprocessing.to_dict()
    card = {"dataset": root.resolve().name,                       # the folder's name: no server path in the app
            "splits": {"train": train_split, "val": val_split},
            "videos": {s: len(collection.split(s)) for s in (train_split, val_split)},
            "features": f"ordered_feature/SA/{features_name}", "extractor": ext["ours"] if spec else None,
            "preprocessing": "as hgr's extractor" if spec and ext["ours"] == features_name else
            ("not published; hgr's is assumed (docs/official.md)" if spec else "not published"),
            "vocabulary": str(vocab_file.relative_to(root)),
            "role_graphs": str(collection.role_graphs_file.relative_to(root)) if collection.role_graphs_file
            else f"none in the release: parsed by {parser_id()}",
            "word_embeddings": str(vectors_file.relative_to(root)) if vectors_file else None}
    return Release(collection, vocab, vectors, card)


def release_vocabulary(root: str | Path) -> tuple[Vocabulary, Path]:
    """The release's vocabulary: word2int.json (what the official reader maps tokens with), checked against
    int2word.npy when both are there; either alone will do."""
    ann = annotation_dir(root)
    int2word, word2int = ann / "int2word.npy", ann / "word2int.json"
    if int2word.is_file():
        return Vocabulary.from_official(int2word, word2int if word2int.is_file() else None), (
            word2int if word2int.is_file() else int2word)
    if word2int.is_file():
        from hgr.collection.layout import read_json
        return Vocabulary.from_ids(read_json(word2int, "vocabulary"), word2int), word2int
    raise CollectionError(f"missing vocabulary: neither {word2int} nor {int2word} (official layout, spec section 2)")


def release_word_vectors(root: str | Path, num_words: int) -> tuple[torch.Tensor | None, Path | None]:
    """The release's word-embedding init ([num_words, dim] float32) and its file, or (None, None) if it has none."""
    for name in WORD_EMBEDS:
        path = Path(root) / name
        if path.is_file():
            try:
                weight = torch.load(path, map_location="cpu", weights_only=True)["text_encoder"]["embedding.we.weight"]
            except Exception as err:          # not a tensor file, or not the {'text_encoder': ...} layout
                raise CheckpointError(f"{path}: not the release's word-embedding file ({{'text_encoder': "
                                      f"{{'embedding.we.weight': tensor}}}}): {err}") from None
            if weight.ndim != 2 or weight.shape[0] != num_words:
                raise CheckpointError(f"{path} holds {tuple(weight.shape)} word vectors but the vocabulary has "
                                      f"{num_words} words: they come from different releases")
            return weight.float(), path
    return None, None
