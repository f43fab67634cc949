"""`classify` with a Hugging Face ``AutoModelForImageClassification`` folder (ViT, ConvNeXt,
EfficientNet, ... and fine-tuned attribute classifiers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vision.adapters.base import Adapter
from vision.adapters.hf_folders import HF_REQUIREMENTS, ProcessorInput, from_folder, place, pretrained_folder
from vision.adapters.params import ClassifyParams
from vision.errors import ModelSpecError
from vision.image_input import DecodedImage
from vision.results import ClassifyResult, Label


def ranked_labels(probs: torch.Tensor, labels: Sequence[str], top_k: int, min_score: float = 0.0) -> list[list[Label]]:
    """Per row of class probabilities, the top_k labels at or above min_score, best first."""
    scores, indices = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    return [
        [
            Label(label=labels[i], score=round(float(s), 4))
            for s, i in zip(row_s.tolist(), row_i.tolist())
            if s >= min_score
        ]
        for row_s, row_i in zip(scores, indices)
    ]


class HFClassifier(ProcessorInput, Adapter):
    task = "classify"
    family = "hf-classifier"
    requirements = HF_REQUIREMENTS
    Params = ClassifyParams
    forward_params = ()  # top_k and min_score only choose among the same scores

    def load(self, weights: Path | None) -> None:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        folder = pretrained_folder(weights, self.family)
        self.image_processor = from_folder(AutoImageProcessor, folder)
        self.model: Any = place(from_folder(AutoModelForImageClassification, folder), self.device, self.use_half)
        config = self.model.config
        self.labels = list(self.spec.labels or [config.id2label[i] for i in range(config.num_labels)])
        if len(self.labels) != config.num_labels:
            raise ModelSpecError(
                f"{self.spec.name}: {len(self.labels)} labels given for a model with {config.num_labels} outputs"
            )
        # Multi-label heads (one independent yes/no per class, e.g. face attributes) score with a sigmoid.
        self.multi_label = config.problem_type == "multi_label_classification"

    def forward(self, batch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        logits = self.model(pixel_values=batch).logits.float()
        return (logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)).cpu()

    def postprocess(
        self, raw: torch.Tensor, images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[ClassifyResult]:
        return [
            ClassifyResult(labels=labels)
            for labels in ranked_labels(raw, self.labels, params["top_k"], params["min_score"])
        ]
