"""`detect` with a Hugging Face ``AutoModelForObjectDetection`` folder (DETR, YOLOS, ...)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vision.adapters.base import Adapter
from vision.adapters.hf_folders import HF_REQUIREMENTS, ProcessorInput, from_folder, place, pretrained_folder
from vision.adapters.params import DetectParams
from vision.image_input import DecodedImage
from vision.results import DetectedObject, DetectResult


def legacy_timm_config(folder: Path) -> Any:
    """The config of a DETR-style folder that names a timm backbone the old way, or None.

    Hub checkpoints such as facebook/detr-resnet-50 say ``"backbone": "resnet50",
    "use_timm_backbone": true, "backbone_kwargs": {...}``; transformers 5 then asks the hub
    whether "resnet50" is a repository, which fails offline. Spelled out as a timm backbone
    config, the same weights load without any network call.
    """
    raw = json.loads((folder / "config.json").read_text())
    if (
        raw.get("backbone_config")
        or not raw.get("backbone")
        or raw.get("use_timm_backbone") is not True
        or not raw.get("backbone_kwargs")
    ):
        return None
    from transformers import AutoConfig

    extra = dict(raw.pop("backbone_kwargs"))
    backbone = {
        "model_type": "timm_backbone",
        "backbone": raw.pop("backbone"),
        "features_only": True,
        "num_channels": extra.pop("in_chans", raw.get("num_channels", 3)),
        "out_indices": extra.pop("out_indices", [1, 2, 3, 4]),
        **extra,
    }
    if raw.get("dilation"):
        backbone.setdefault("output_stride", 16)
    for key in ("use_timm_backbone", "use_pretrained_backbone"):  # the checkpoint holds the backbone's weights
        raw.pop(key, None)
    raw["backbone_config"] = backbone
    return AutoConfig.for_model(raw.pop("model_type"), **raw)


class HFDetector(ProcessorInput, Adapter):
    task = "detect"
    family = "hf-detector"
    requirements = HF_REQUIREMENTS + ("timm",)  # DETR checkpoints name timm backbones
    Params = DetectParams

    def load(self, weights: Path | None) -> None:
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        folder = pretrained_folder(weights, self.family)
        self.image_processor = from_folder(AutoImageProcessor, folder)
        config = legacy_timm_config(folder)
        model = from_folder(AutoModelForObjectDetection, folder, **({"config": config} if config else {}))
        self.model: Any = place(model, self.device, self.use_half)
        # COCO checkpoints number their classes with gaps (91 ids for 80 classes): keep the ids.
        self.names = (
            dict(enumerate(self.spec.labels))
            if self.spec.labels
            else {int(k): v for k, v in self.model.config.id2label.items()}
        )

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> dict[str, torch.Tensor]:
        # The processor pads a batch to its largest image and says where the padding is (pixel_mask).
        inputs = self.image_processor(images=[d.image for d in images], return_tensors="pt")
        return {
            k: v.to(self.device, self.dtype) if k == "pixel_values" else v.to(self.device) for k, v in inputs.items()
        }

    def forward(self, batch: dict[str, torch.Tensor], params: dict[str, Any]) -> Any:
        outputs = self.model(**batch)
        outputs.logits = outputs.logits.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        return outputs

    def postprocess(self, raw: Any, images: Sequence[DecodedImage], params: dict[str, Any]) -> list[DetectResult]:
        sizes = [(d.image.height, d.image.width) for d in images]
        detections = self.image_processor.post_process_object_detection(
            raw, threshold=params["min_score"], target_sizes=sizes
        )
        out = []
        for found, decoded, (height, width) in zip(detections, images, sizes):
            order = found["scores"].argsort(descending=True)[: params["max_detections"]]
            # Predicted boxes may reach past the picture; clip them to it.
            boxes = found["boxes"][order].clamp(min=0)
            boxes[:, 0::2] = boxes[:, 0::2].clamp(max=width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(max=height)
            out.append(
                DetectResult(
                    objects=[
                        DetectedObject(
                            label=self.names.get(int(c), str(int(c))),
                            score=round(float(s), 4),
                            box=decoded.to_original(b),
                        )
                        for b, s, c in zip(
                            boxes.cpu().tolist(),
                            found["scores"][order].cpu().tolist(),
                            found["labels"][order].cpu().tolist(),
                        )
                    ]
                )
            )
        return out
