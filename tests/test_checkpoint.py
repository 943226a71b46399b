"""Our checkpoint format and the official one: round trips, hostile files, files that do not fit."""
from __future__ import annotations

import pickle

import pytest
import torch

import hgr
from hgr import checkpoint
from hgr.errors import CheckpointError
from hgr.model import HGR, HGRConfig
from hgr.vocab import Vocabulary


def tiny() -> tuple[HGR, Vocabulary]:
    vocab = Vocabulary(["<BOS>", "<EOS>", "<UNK>", "a", "dog"])
    return HGR(HGRConfig(dim_fts=8, dim_embed=12, num_words=5, dim_word=4, rnn_type="lstm", gcn_layers=2)), vocab


def test_round_trip_keeps_weights_config_vocab_and_card(tmp_path):
    model, vocab = tiny()
    path = checkpoint.save(tmp_path / "m.pt", model, vocab, card={"preset": "test"})
    loaded = hgr.load(path, device="cpu")
    assert loaded.config == model.cfg and loaded.vocab.words == vocab.words and loaded.card == {"preset": "test"}
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v)
    assert not loaded.model.training
    assert not list(tmp_path.glob("*.tmp"))                     # the temporary file was renamed away


class Payload:
    """Unpickling this writes a marker file: proof that the payload ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (self.marker.write_text, ("payload ran",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    with open(tmp_path / "plain.pt", "wb") as f:
        pickle.dump({"format": "hgr", "payload": Payload(marker)}, f, protocol=2)
    torch.save({"format": "hgr", "payload": Payload(marker)}, tmp_path / "zip.pt")
    for name in ("plain.pt", "zip.pt"):
        with pytest.raises(CheckpointError, match="refused to load"):
            hgr.load(tmp_path / name)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Payload(marker)))                 # the payload is real: unpickling does run it
    assert marker.exists()


def test_missing_and_misshaped_tensors_are_named(tmp_path):
    model, vocab = tiny()
    path = checkpoint.save(tmp_path / "m.pt", model, vocab)
    obj = torch.load(path, weights_only=True)
    del obj["state_dict"]["video_encoder.ft_attn.bias"]
    obj["state_dict"]["text_encoder.role_embedding.weight"] = torch.zeros(3, 12)
    torch.save(obj, path)
    with pytest.raises(CheckpointError) as err:
        hgr.load(path)
    assert "video_encoder.ft_attn.bias" in str(err.value) and "role_embedding.weight (3, 12)" in str(err.value)


def test_truncated_and_foreign_files(tmp_path):
    model, vocab = tiny()
    path = checkpoint.save(tmp_path / "m.pt", model, vocab)
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable"):
        hgr.load(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="not found"):
        hgr.load(tmp_path / "nope.pt")
    torch.save({"video_encoder": {}, "text_encoder": {}}, tmp_path / "off.pt")
    with pytest.raises(CheckpointError, match="official"):
        hgr.load(tmp_path / "off.pt")


def test_official_checkpoint_with_lstm_and_two_layers_is_inferred(tmp_path):
    model, vocab = tiny()
    state = model.state_dict()
    official = {"video_encoder": {k[len("video_encoder."):]: v for k, v in state.items() if k.startswith("video_")},
                "text_encoder": {k[len("text_encoder."):]: v for k, v in state.items() if k.startswith("text_")}}
    cfg = checkpoint.infer_official_config(official)
    assert (cfg.rnn_type, cfg.gcn_layers, cfg.dim_fts, cfg.dim_embed, cfg.num_words) == ("lstm", 2, 8, 12, 5)


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from hgr.errors import DeviceError

    with pytest.raises(DeviceError, match="no CUDA GPU"):
        checkpoint.resolve_device("cuda")


def test_a_gpu_keeps_recurrent_layers_float32_and_nothing_else(monkeypatch):
    """resolve_device('cuda') sets cuDNN's float32 rule for recurrent layers only (checked on the CPU: the setting
    is a flag torch keeps whether or not a GPU is there); convolutions keep torch's default."""
    from hgr import device as hgr_device
    from hgr import features

    assert features.resolve_device is checkpoint.resolve_device is hgr_device.resolve_device   # one home
    cudnn = torch.backends.cudnn
    if not hasattr(getattr(cudnn, "rnn", None), "fp32_precision"):
        pytest.skip(f"torch {torch.__version__} has no per-layer cuDNN float32 switch")
    rnn, conv = cudnn.rnn.fp32_precision, cudnn.conv.fp32_precision
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    try:
        assert hgr_device.resolve_device("cuda").type == "cuda"
        assert cudnn.rnn.fp32_precision == "ieee" and cudnn.conv.fp32_precision == conv
    finally:
        cudnn.rnn.fp32_precision = rnn


def test_save_removes_temporaries_of_killed_saves_only(tmp_path):
    import os

    from hgr.checkpoint import atomic_torch_save

    path = tmp_path / "model.pt"
    dead = tmp_path / ".model.pt.999999999.abc.tmp"             # beyond any pid_max: a killed save's leftover
    live = tmp_path / f".model.pt.{os.getppid()}.abc.tmp"        # a running process's save in progress
    other = tmp_path / ".other.pt.999999999.abc.tmp"             # another checkpoint's: not ours to touch
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    atomic_torch_save({"x": 1}, path)
    assert path.exists() and not dead.exists() and live.exists() and other.exists()


def test_half_storage_loads_as_float32_and_files_are_readable(tmp_path):
    import os

    model, vocab = tiny()
    old = os.umask(0o022)
    try:
        full = checkpoint.save(tmp_path / "full.pt", model, vocab)
        half = checkpoint.save(tmp_path / "half.pt", model, vocab, half=True)
    finally:
        os.umask(old)
    assert full.stat().st_mode & 0o777 == 0o644                        # not mkstemp's 0600
    assert half.stat().st_size < full.stat().st_size
    loaded = hgr.load(half, device="cpu")
    for k, v in model.state_dict().items():
        got = loaded.model.state_dict()[k]
        assert got.dtype == v.dtype
        if v.is_floating_point():
            torch.testing.assert_close(got, v.half().float())          # exactly the float16 rounding
