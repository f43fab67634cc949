"""One adapter per model family; ``build_adapter`` turns a spec plus local weights into one.

Families are imported lazily so that a process serving only OCR never imports transformers.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from vision.adapters.base import Adapter
from vision.errors import ModelSpecError
from vision.spec import ModelSpec

# family name -> "module:Class"
FAMILIES: dict[str, str] = {
    "torchvision": "vision.adapters.classify_torchvision:TorchvisionClassifier",
    "hf-classifier": "vision.adapters.classify_hf:HFClassifier",
    "yolo": "vision.adapters.detect_yolo:YoloDetector",
    "hf-detector": "vision.adapters.detect_hf:HFDetector",
    "hf-captioner": "vision.adapters.caption_hf:HFCaptioner",
    "clip": "vision.adapters.zeroshot_clip:ClipZeroShot",
    "clip-embed": "vision.adapters.embed:ClipEmbedder",
    "torchvision-embed": "vision.adapters.embed:TorchvisionEmbedder",
    "mtcnn": "vision.adapters.faces_mtcnn:MtcnnFaces",
    "rapidocr": "vision.adapters.ocr_rapid:RapidOcr",
    "properties": "vision.adapters.properties:ImageProperties",
    "describe": "vision.adapters.describe:Describer",
}


def adapter_class(family: str) -> type[Adapter]:
    if family not in FAMILIES:
        raise ModelSpecError(f"unknown model family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    module_name, _, class_name = FAMILIES[family].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_adapter(spec: ModelSpec, weights: Path | None, device: str | None = None) -> Adapter:
    cls = adapter_class(spec.family)
    if cls.task != spec.task:
        raise ModelSpecError(
            f"family {spec.family!r} answers {cls.task!r}, but {spec.name!r} is declared as {spec.task!r}"
        )
    return cls(spec, weights, device=device)
