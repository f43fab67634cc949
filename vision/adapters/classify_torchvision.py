"""`classify` with a torchvision network: ImageNet models and our fine-tuned classifiers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vision.adapters.base import Adapter, conv_layout
from vision.adapters.params import ClassifyParams
from vision.adapters.torchvision_nets import ImagenetInput, build_net, imagenet_categories
from vision.image_input import DecodedImage
from vision.results import ClassifyResult, Label


class TorchvisionClassifier(ImagenetInput, Adapter):
    task = "classify"
    family = "torchvision"
    requirements = ("torchvision",)
    Params = ClassifyParams
    forward_params = ()  # top_k and min_score only choose among the same scores

    def load(self, weights: Path | None) -> None:
        arch = self.spec.options.get("arch", "mobilenet_v2")
        self.labels = self.spec.labels or imagenet_categories(arch)
        self.input_size = int(self.spec.options.get("input_size", 224))
        self.resize = int(self.spec.options.get("resize", round(self.input_size * 256 / 224)))
        net = build_net(arch, len(self.labels), weights).to(self.device)
        self.net = net.to(memory_format=conv_layout(self.device))
        if self.use_half:
            self.net.half()

    def forward(self, batch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        batch = batch.to(self.device, torch.float16 if self.use_half else torch.float32)
        return self.net(batch).float().softmax(dim=-1).cpu()

    def postprocess(
        self, raw: torch.Tensor, images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[ClassifyResult]:
        k = min(params["top_k"], raw.shape[-1])
        scores, indices = raw.topk(k, dim=-1)
        return [
            ClassifyResult(
                labels=[
                    Label(label=self.labels[i], score=round(float(s), 4))
                    for s, i in zip(row_s.tolist(), row_i.tolist())
                    if s >= params["min_score"]
                ]
            )
            for row_s, row_i in zip(scores, indices)
        ]
