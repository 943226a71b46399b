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
