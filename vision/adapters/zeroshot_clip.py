"""`zeroshot` with a CLIP folder: scores for free-text labels given per request.

``labels`` is one string, split on ``|`` when it holds one (so labels may contain commas),
else on ``,``; a list is accepted too. Each label is put into the prompt template
(``options.prompt``, default "a photo of {}") and the scores are a softmax over the labels.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vision.adapters.base import Adapter
from vision.adapters.classify_hf import ranked_labels
from vision.adapters.hf_folders import HF_REQUIREMENTS, ProcessorInput, from_folder, place, pretrained_folder
from vision.adapters.params import MAX_ZEROSHOT_LABELS, ZeroShotParams
from vision.errors import BadRequestError, ModelSpecError
from vision.image_input import DecodedImage
from vision.results import ZeroShotResult

MAX_LABELS = MAX_ZEROSHOT_LABELS
TEXT_CACHE_SIZE = 64  # label sets whose text embeddings are kept


def parse_labels(value: Any) -> list[str]:
    """'cat, dog' or 'a cat, sitting|a dog' or ['cat', 'dog'] -> distinct, stripped labels."""
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        text = str(value or "")
        parts = text.split("|") if "|" in text else text.split(",")
    return list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))


def features(output: Any) -> torch.Tensor:
    """CLIP's get_*_features return a tensor in transformers 4 and an output with the projection in 5."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipZeroShot(ProcessorInput, Adapter):
    task = "zeroshot"
    family = "clip"
    requirements = HF_REQUIREMENTS
    Params = ZeroShotParams

    def load(self, weights: Path | None) -> None:
        from transformers import CLIPModel, CLIPProcessor

        folder = pretrained_folder(weights, self.family)
        processor = from_folder(CLIPProcessor, folder)
        self.image_processor, self.tokenizer = processor.image_processor, processor.tokenizer
        self.model: Any = place(from_folder(CLIPModel, folder), self.device, self.use_half)
        self.prompt = str(self.spec.options.get("prompt", "a photo of {}"))
        if "{}" not in self.prompt:
            raise ModelSpecError(
                f"{self.spec.name}: the prompt option needs a '{{}}' where the label goes, got {self.prompt!r}"
            )
        # Text embeddings per label set; only touched inside predict, which the base class locks.
        self._text_cache: OrderedDict[tuple[str, ...], torch.Tensor] = OrderedDict()

    def resolve_params(self, given: dict[str, Any] | None) -> dict[str, Any]:
        resolved = super().resolve_params(given)
        labels = parse_labels(resolved["labels"]) or list(self.spec.labels or [])
        if not labels:
            raise BadRequestError(
                "zeroshot needs labels: pass the parameter labels, e.g. "
                '"labels": "a cat,a dog" (or separated by \'|\' when a label holds a comma)'
            )
        if len(labels) > MAX_LABELS:
            raise BadRequestError(f"zeroshot takes at most {MAX_LABELS} labels, got {len(labels)}")
        resolved["labels"] = labels
        return resolved

    def text_embeddings(self, labels: Sequence[str]) -> torch.Tensor:
        key = tuple(labels)
        if key in self._text_cache:
            self._text_cache.move_to_end(key)
            return self._text_cache[key]
        max_length = self.model.config.text_config.max_position_embeddings
        tokens = self.tokenizer(
            [self.prompt.format(label) for label in labels],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(self.device)
        embeds = features(
            self.model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        ).float()
        embeds = torch.nn.functional.normalize(embeds, dim=-1)
        self._text_cache[key] = embeds
        if len(self._text_cache) > TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        return embeds

    def forward(self, batch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        image = torch.nn.functional.normalize(
            features(self.model.get_image_features(pixel_values=batch)).float(), dim=-1
        )
        text = self.text_embeddings(params["labels"])
        logits = self.model.logit_scale.float().exp() * image @ text.T
        return logits.softmax(dim=-1).cpu()

    def postprocess(
        self, raw: torch.Tensor, images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[ZeroShotResult]:
        return [ZeroShotResult(labels=labels) for labels in ranked_labels(raw, params["labels"], params["top_k"])]
