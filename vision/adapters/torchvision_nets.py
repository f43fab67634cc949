"""Building torchvision ImageNet-style networks from a local state dict, shared by the
classifier, the embedder and classifier training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vision.adapters.base import conv_layout
from vision.errors import ModelSpecError, WeightsUnavailableError
from vision.image_input import DecodedImage

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_categories(arch: str) -> list[str]:
    """ImageNet class names as torchvision ships them (no download)."""
    import torchvision

    return list(torchvision.models.get_model_weights(arch).DEFAULT.meta["categories"])


def replace_head(net: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last Linear layer of a torchvision classifier for one with num_classes outputs."""
    for parent in net.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Sequential) and isinstance(child[-1], nn.Linear):
                last = child[-1]
                child[-1] = nn.Linear(last.in_features, num_classes)
                return net
            if isinstance(child, nn.Linear) and name in ("fc", "head", "classifier"):
                setattr(parent, name, nn.Linear(child.in_features, num_classes))
                return net
    raise ModelSpecError(f"cannot find the classification head of {type(net).__name__}")


def build_net(arch: str, num_classes: int, weights: Path | None) -> nn.Module:
    import torchvision

    try:
        net = torchvision.models.get_model(arch, weights=None)
    except ValueError:
        raise ModelSpecError(f"torchvision has no model named {arch!r}") from None
    if num_classes != 1000:
        replace_head(net, num_classes)
    if weights is not None:
        path = Path(weights)
        if path.is_dir():
            files = sorted(path.glob("*.pt*"))
            if not files:
                raise WeightsUnavailableError(f"no .pth/.pt state dict in {path}")
            path = files[0]
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        net.load_state_dict(state)
    return net.eval()


def to_batch(
    images: Sequence[DecodedImage], size: int, resize: int, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Resize the shorter side, centre-crop and normalise (torchvision's ImageNet eval
    transform) on ``device``: the uint8 pixels of the whole batch go up in one copy, and the
    resizing, cropping and normalising run there as tensor ops (the same code on the CPU)."""
    from torchvision.transforms.v2 import functional as F

    pixels = [torch.from_numpy(np.array(d.image)) for d in images]  # (H, W, 3) uint8 each, writable
    if torch.device(device).type != "cpu":
        flat = torch.cat([p.reshape(-1) for p in pixels])
        if torch.cuda.is_available():
            flat = flat.pin_memory()
        flat = flat.to(device, non_blocking=True)
        pixels = list(torch.split(flat, [p.numel() for p in pixels]))
        pixels = [t.view(d.image.height, d.image.width, 3) for t, d in zip(pixels, images)]
    batch = torch.empty((len(images), 3, size, size), dtype=torch.uint8, device=device)
    for i, hwc in enumerate(pixels):
        chw = hwc.permute(2, 0, 1)
        chw = F.resize(chw, [resize], antialias=True)
        batch[i] = F.center_crop(chw, [size, size])
    mean = torch.tensor(IMAGENET_MEAN, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    return ((batch.float() / 255.0 - mean) / std).to(dtype).contiguous(memory_format=conv_layout(device))


class ImagenetInput:
    """The input half of a torchvision-network adapter: torchvision's ImageNet eval transform
    at ``self.input_size`` after resizing the shorter side to ``self.resize`` (mixed in before Adapter)."""

    input_size: int
    resize: int

    @property
    def min_side(self) -> int | None:
        return self.spec.options.get("min_side", self.resize)  # type: ignore[attr-defined]

    def preprocess(self, images: Sequence[DecodedImage], params: dict) -> torch.Tensor:
        device = self.device  # type: ignore[attr-defined]
        dtype = torch.float16 if self.use_half else torch.float32  # type: ignore[attr-defined]
        return to_batch(images, self.input_size, self.resize, device, dtype)
