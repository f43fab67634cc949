"""`ocr`: text lines with boxes through RapidOCR (PP-OCR detection, orientation, recognition; ONNX)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vision.adapters.base import Adapter
from vision.adapters.params import OcrParams
from vision.errors import WeightsUnavailableError
from vision.image_input import DecodedImage
from vision.results import OcrLine, OcrResult

# RapidOCR's model files by role; a registered version carries copies of exactly these.
_ROLES = {"Det": "*det*.onnx", "Cls": "*cls*.onnx", "Rec": "*rec*.onnx"}


class RapidOcr(Adapter):
    task = "ocr"
    family = "rapidocr"
    requirements = ("rapidocr", "onnxruntime")
    weight_globs = ("*det*.onnx", "*cls*.onnx", "*rec*.onnx")  # the files load() picks, by role
    Params = OcrParams

    def load(self, weights: Path | None) -> None:
        from rapidocr import RapidOCR

        if weights is None:
            raise WeightsUnavailableError(f"{self.spec.name}: rapidocr needs its model folder")
        folder = Path(weights)
        settings: dict[str, Any] = {"Global.log_level": "warning"}
        for role, pattern in _ROLES.items():
            found = sorted(folder.glob(pattern))
            if not found:
                raise WeightsUnavailableError(f"no {role} model ({pattern}) in {folder}")
            settings[f"{role}.model_path"] = str(found[0])
        if self.device.startswith("cuda"):
            settings["EngineConfig.onnxruntime.use_cuda"] = True
        settings.update(self.spec.options.get("rapidocr", {}))
        self.engine = RapidOCR(params=settings)
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)

    @property
    def min_side(self) -> int | None:
        # Small scene text needs pixels: decode at full size unless the spec says otherwise.
        return self.spec.options.get("min_side")

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> Sequence[DecodedImage]:
        return images

    def forward(self, batch: Sequence[DecodedImage], params: dict[str, Any]) -> list[Any]:
        return [self.engine(d.image, text_score=params["min_score"]) for d in batch]

    def postprocess(self, raw: list[Any], images: Sequence[DecodedImage], params: dict[str, Any]) -> list[OcrResult]:
        out = []
        for result, decoded in zip(raw, images):
            lines = []
            if result.boxes is not None and result.txts is not None:
                for quad, text, score in zip(result.boxes, result.txts, result.scores):
                    if score < params["min_score"] or not text.strip():
                        continue
                    xs, ys = [float(p[0]) for p in quad], [float(p[1]) for p in quad]
                    lines.append(
                        OcrLine(
                            text=text,
                            score=round(float(score), 4),
                            box=decoded.to_original([min(xs), min(ys), max(xs), max(ys)]),
                            polygon=[decoded.to_original([x, y]) for x, y in zip(xs, ys)],
                        )
                    )
            out.append(OcrResult(text="\n".join(line.text for line in lines), lines=lines))
        return out
