"""Extractors without videos: the ResNet-152 architecture and loader, preprocessing, frame sampling policies."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hgr.errors import CheckpointError
from hgr.features import EXTRACTORS, IMAGENET_MEAN, IMAGENET_STD, Preprocessing, ResNet152, load_resnet152
from hgr.video_io import Sampling


def test_resnet152_matches_torchvision_layout_and_loads_a_weights_file(tmp_path):
    torch.manual_seed(0)
    model = ResNet152().eval()
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == 60_192_808      # torchvision's resnet152 count
    assert len(state) == 932                                              # incl. num_batches_tracked buffers
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.bias",
                "layer3.35.conv3.weight", "layer4.2.bn3.num_batches_tracked", "fc.weight"):
        assert key in state
    assert state["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)        # v1.5: stride on the 3x3 conv
    path = tmp_path / "resnet152.pth"
    torch.save(state, path)
    loaded = load_resnet152(path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert loaded.feature_map(x).shape == (1, 2048, 2, 2)
        torch.testing.assert_close(loaded(x), model(x))


def _hf_name(ours: str) -> str:
    """A torchvision ResNet key -> the same tensor's key in transformers' ResNetForImageClassification."""
    import re
    if ours.startswith("fc."):
        return "classifier.1." + ours[3:]
    stem = re.fullmatch(r"(conv1|bn1)\.(.+)", ours)
    if stem:
        part = "convolution" if stem[1] == "conv1" else "normalization"
        return f"resnet.embedder.embedder.{part}.{stem[2]}"
    block = re.fullmatch(r"layer(\d)\.(\d+)\.(conv|bn|downsample\.)(\d)\.(.+)", ours)
    stage, index, kind, number, rest = block.groups()
    where = f"resnet.encoder.stages.{int(stage) - 1}.layers.{index}"
    if kind == "downsample.":
        return f"{where}.shortcut.{'convolution' if number == '0' else 'normalization'}.{rest}"
    return f"{where}.layer.{int(number) - 1}.{'convolution' if kind == 'conv' else 'normalization'}.{rest}"


def test_resnet152_computes_what_an_independent_implementation_computes():
    """transformers' ResNet (written apart from ours and from torchvision, stride on the 3x3 conv like both) with
    random weights and batch-norm statistics, copied into ours by name: same feature map and logits."""
    from transformers import ResNetConfig, ResNetForImageClassification
    torch.manual_seed(0)
    cfg = ResNetConfig(depths=[3, 8, 36, 3], layer_type="bottleneck", hidden_sizes=[256, 512, 1024, 2048],
                       embedding_size=64, num_labels=1000, downsample_in_bottleneck=False)
    theirs = ResNetForImageClassification(cfg).eval()
    with torch.no_grad():
        for name, buf in theirs.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
        for name, p in theirs.named_parameters():
            if "normalization" in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.1)
    ours = ResNet152().eval()
    reference = theirs.state_dict()
    ours.load_state_dict({k: reference[_hf_name(k)] for k in ours.state_dict()})
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        out = theirs(pixel_values=x, output_hidden_states=True)
        torch.testing.assert_close(ours.feature_map(x), out.hidden_states[-1], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours(x), out.logits, rtol=1e-4, atol=1e-4)


def test_preprocessing_equals_an_independent_implementation():
    """transformers' PIL image processor set to torchvision's ImageNet recipe (shorter side 256 = 224 / 0.875,
    bilinear, centre crop 224, ImageNet mean/std): the same pixels wherever the crop offset is whole. (Where it is
    half a pixel, torchvision rounds, `int(round((w - 224) / 2.0))` in its center_crop, and so do we; that
    processor floors, one pixel apart: the red/green/blue test above pins our side.)"""
    from PIL import Image
    from transformers.models.convnext.image_processing_pil_convnext import ConvNextImageProcessorPil
    theirs = ConvNextImageProcessorPil(size={"shortest_edge": 224}, crop_pct=0.875, resample=Image.BILINEAR,
                                       image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD))
    ours = EXTRACTORS["resnet152"].preprocessing
    rng = np.random.default_rng(0)
    for shape in [(240, 320, 3), (480, 360, 3), (257, 300, 3), (256, 256, 3), (512, 1024, 3), (384, 640, 3)]:
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = theirs(images=[frame], return_tensors="np")["pixel_values"][0]
        np.testing.assert_allclose(ours([frame])[0].numpy(), expected, atol=1e-5, err_msg=str(shape))


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"notes\.pth.*weights_only"):
        load_resnet152(tmp_path / "notes.pth")
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "head.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other\.pth is not a torchvision ResNet-152.*missing.*unexpected"):
        load_resnet152(tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not found"):
        load_resnet152(tmp_path / "absent.pth")


def test_preprocessing_resizes_crops_and_normalises_like_torchvision():
    pre = EXTRACTORS["resnet152"].preprocessing
    assert (pre.resize_shorter, pre.crop) == (256, 224)
    frame = np.zeros((240, 480, 3), np.uint8)        # a wide frame: left third red, middle green, right third blue
    frame[:, :160, 0] = 255
    frame[:, 160:320, 1] = 255
    frame[:, 320:, 2] = 255
    x = pre([frame])
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    # resized to 512 x 256 then centre-cropped to columns 144..367: all green but the 32 outermost columns
    green = (np.array([0.0, 1.0, 0.0]) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(x[0, :, :, 40:184].mean((1, 2)).numpy(), green, atol=1e-5)
    assert x[0, 0, :, 0].mean() > 1.0 and x[0, 2, :, -1].mean() > 1.0       # red at the left edge, blue at the right
    flat = Preprocessing(224, 224)([np.full((50, 70, 3), 128, np.uint8)])
    np.testing.assert_allclose(flat[0, :, 0, 0].numpy(), (128 / 255 - np.array(IMAGENET_MEAN)) / IMAGENET_STD,
                               atol=1e-5)


def test_sampling_policies():
    np.testing.assert_array_equal(Sampling(max_frames=4).frame_indices(40, 10.0), [5, 15, 25, 35])
    np.testing.assert_array_equal(Sampling(max_frames=20).frame_indices(6, 10.0), np.arange(6))
    np.testing.assert_array_equal(Sampling(max_frames=None, every=16).frame_indices(300, 30.0), np.arange(0, 300, 16))
    assert len(Sampling(max_frames=20, every=16).frame_indices(1000, 30.0)) == 20                # capped by 'select'
    np.testing.assert_array_equal(Sampling(max_frames=None, fps=2.0).frame_indices(30, 10.0), [2, 7, 12, 17, 22, 27])
    with pytest.raises(ValueError):
        Sampling(fps=1.0, every=2)
