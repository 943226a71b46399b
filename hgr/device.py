"""The device the model, the CNN and the parser run on, and the one numeric rule that goes with a GPU.

    resolve_device("auto")    # CUDA when torch sees a GPU, else the CPU; 'cuda' without one is a DeviceError
"""
from __future__ import annotations

import torch

from hgr.errors import DeviceError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error that says so. On a GPU, recurrent layers
    compute float32 in full precision (`keep_recurrent_float32`)."""
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    if device.type == "cuda":
        keep_recurrent_float32()
    return device


def keep_recurrent_float32() -> None:
    """cuDNN's GRU/LSTM kernels in float32, not TF32 (a 10-bit mantissa): TF32 moved the parity case's scores by
    6e-5 on an H100, and reference scores must not depend on the device (tests/test_cuda.py). Only the recurrent
    layers: convolutions (the frame extractor) keep PyTorch's default, the same under `hgr index` and the app.
    A torch without the per-layer switch (before 2.9) turns TF32 off for every cuDNN layer instead."""
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    if rnn is not None and hasattr(rnn, "fp32_precision"):
        rnn.fp32_precision = "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = False
