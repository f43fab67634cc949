"""`caption` with a Hugging Face image-to-text folder: VisionEncoderDecoder (e.g. ViT-GPT2)
or BLIP. The folder's own config says which; its generation_config.json is honoured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vision.adapters.base import Adapter
from vision.adapters.hf_folders import HF_REQUIREMENTS, ProcessorInput, from_folder, place, pretrained_folder
from vision.adapters.params import CaptionParams
from vision.errors import ModelSpecError
from vision.image_input import DecodedImage
from vision.results import CaptionResult


class HFCaptioner(ProcessorInput, Adapter):
    task = "caption"
    family = "hf-captioner"
    requirements = HF_REQUIREMENTS
    Params = CaptionParams

    def load(self, weights: Path | None) -> None:
        import transformers
        from transformers import AutoConfig

        folder = pretrained_folder(weights, self.family)
        config: Any = from_folder(AutoConfig, folder)
        architectures = config.architectures or []
        if config.model_type == "blip" and architectures in ([], ["BlipForConditionalGeneration"]):
            processor = from_folder(transformers.BlipProcessor, folder)
            self.image_processor, self.tokenizer = processor.image_processor, processor.tokenizer
            model_cls: Any = transformers.BlipForConditionalGeneration
        elif config.model_type == "vision-encoder-decoder":
            self.image_processor = from_folder(transformers.AutoImageProcessor, folder)
            self.tokenizer = from_folder(transformers.AutoTokenizer, folder)
            model_cls = transformers.VisionEncoderDecoderModel
        else:
            raise ModelSpecError(
                f"{self.spec.name}: {folder} holds a {config.model_type!r} model ({', '.join(architectures) or '?'}); "
                "hf-captioner loads VisionEncoderDecoder (e.g. ViT-GPT2) and BlipForConditionalGeneration folders"
            )
        self.model: Any = place(from_folder(model_cls, folder), self.device, self.use_half)

    def forward(self, batch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return self.model.generate(pixel_values=batch, max_new_tokens=params["max_new_tokens"]).cpu()

    def postprocess(
        self, raw: torch.Tensor, images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[CaptionResult]:
        texts = self.tokenizer.batch_decode(raw, skip_special_tokens=True)
        return [CaptionResult(caption=" ".join(text.split())) for text in texts]
