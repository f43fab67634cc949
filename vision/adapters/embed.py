"""`embed`: an L2-normalised image vector, from CLIP's image tower or from the penultimate
layer of a torchvision classifier (its input to the classification head)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vision.adapters.base import Adapter, conv_layout
from vision.adapters.hf_folders import HF_REQUIREMENTS, ProcessorInput, from_folder, place, pretrained_folder
from vision.adapters.torchvision_nets import ImagenetInput, build_net
from vision.adapters.zeroshot_clip import features
from vision.errors import ModelSpecError
from vision.image_input import DecodedImage
from vision.results import EmbedResult


def to_results(vectors: torch.Tensor) -> list[EmbedResult]:
    vectors = nn.functional.normalize(vectors.float(), dim=-1).cpu()
    return [EmbedResult(dim=len(row), vector=[round(v, 6) for v in row]) for row in vectors.tolist()]


def drop_head(net: nn.Module, layer: str | None = None) -> nn.Module:
    """Replace the classification head (the named layer, else the last Linear) with Identity."""
    if layer is None:
        linears = [name for name, module in net.named_modules() if isinstance(module, nn.Linear)]
        if not linears:
            raise ModelSpecError(f"{type(net).__name__} has no Linear head; name the layer with options.embed_layer")
        layer = linears[-1]
    parent_name, _, child = layer.rpartition(".")
    try:
        parent = net.get_submodule(parent_name)
        getattr(parent, child)
    except AttributeError:
        raise ModelSpecError(f"{type(net).__name__} has no layer {layer!r}") from None
    setattr(parent, child, nn.Identity())  # also right for nn.Sequential, whose children are named "0", "1", ...
    return net


class ClipEmbedder(ProcessorInput, Adapter):
    task = "embed"
    family = "clip-embed"
    requirements = HF_REQUIREMENTS

    def load(self, weights: Path | None) -> None:
        from transformers import AutoImageProcessor, CLIPModel

        folder = pretrained_folder(weights, self.family)
        self.image_processor = from_folder(AutoImageProcessor, folder)
        self.model: Any = place(from_folder(CLIPModel, folder), self.device, self.use_half)

    def forward(self, batch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return features(self.model.get_image_features(pixel_values=batch))

    def postprocess(
        self, raw: torch.Tensor, images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[EmbedResult]:
        return to_results(raw)


class TorchvisionEmbedder(ImagenetInput, Adapter):
    task = "embed"
    family = "torchvision-embed"
    requirements = ("torchvision",)

    def load(self, weights: Path | None) -> None:
        opts = self.spec.options
        arch = opts.get("arch", "mobilenet_v2")
        # The state dict carries its head, so the net is built with it and the head dropped after.
        num_classes = len(self.spec.labels) if self.spec.labels else 1000
        net = drop_head(build_net(arch, num_classes, weights), opts.get("embed_layer"))
        self.input_size = int(opts.get("input_size", 224))
        self.resize = int(opts.get("resize", round(self.input_size * 256 / 224)))
        self.net = place(net, self.device, self.use_half).to(memory_format=conv_layout(self.device))

    def forward(self, batch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return self.net(batch.to(self.device, torch.float16 if self.use_half else torch.float32)).flatten(1)

    def postprocess(
        self, raw: torch.Tensor, images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[EmbedResult]:
        return to_results(raw)
