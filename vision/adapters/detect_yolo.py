"""`detect` with an Ultralytics YOLO checkpoint (a ``.pt`` file as Ultralytics saves it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vision.adapters.base import Adapter
from vision.adapters.params import DetectParams
from vision.errors import ModelSpecError, WeightsUnavailableError
from vision.image_input import DecodedImage
from vision.results import DetectedObject, DetectResult
from vision.settings import quiet_ultralytics


def checkpoint_file(weights: Path | None) -> Path:
    """The .pt file itself, or the only one in a folder (how the registry stores it)."""
    path = Path(weights) if weights is not None else None
    if path is not None and path.is_dir():
        files = sorted(path.glob("*.pt"))
        if len(files) != 1:
            raise WeightsUnavailableError(f"expected one YOLO .pt file in {path}, found {len(files)}")
        path = files[0]
    if path is None or not path.is_file():
        raise WeightsUnavailableError(f"no YOLO checkpoint at {weights}; register ultralytics:NAME.pt or a .pt file")
    return path


class YoloDetector(Adapter):
    task = "detect"
    family = "yolo"
    requirements = ("ultralytics", "torchvision")
    Params = DetectParams  # both go into Ultralytics' NMS, so they are forward parameters

    def load(self, weights: Path | None) -> None:
        quiet_ultralytics()
        from ultralytics import YOLO

        path = checkpoint_file(weights)
        try:
            self.model = YOLO(str(path))
        except Exception as exc:  # noqa: BLE001 - Ultralytics raises many kinds for a bad file
            raise WeightsUnavailableError(f"cannot load the YOLO checkpoint {path}: {exc}") from None
        if self.model.task != "detect":
            raise ModelSpecError(f"{path.name} is a YOLO {self.model.task!r} model, not a detector")
        names = self.model.names
        self.names = dict(enumerate(self.spec.labels)) if self.spec.labels else {int(k): v for k, v in names.items()}
        self.imgsz = int(self.spec.options.get("imgsz", 640))

    @property
    def min_side(self) -> int | None:
        # YOLO letterboxes the longer side to imgsz; a shorter side of imgsz is always enough.
        return self.spec.options.get("min_side", self.imgsz)

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> list[np.ndarray]:
        # BGR arrays, as Ultralytics expects; a PIL image would be EXIF-rotated a second time.
        return [np.ascontiguousarray(np.asarray(d.image)[:, :, ::-1]) for d in images]

    def forward(self, batch: list[np.ndarray], params: dict[str, Any]) -> list:
        return list(
            self.model.predict(
                batch,
                imgsz=self.imgsz,
                conf=params["min_score"],
                max_det=params["max_detections"],
                device=self.device,
                quantize=16 if self.use_half else 32,
                verbose=False,
            )
        )

    def postprocess(self, raw: list, images: Sequence[DecodedImage], params: dict[str, Any]) -> list[DetectResult]:
        out = []
        for result, decoded in zip(raw, images):
            boxes = result.boxes
            objects = [
                DetectedObject(
                    label=self.names.get(int(c), str(int(c))), score=round(float(s), 4), box=decoded.to_original(b)
                )
                for b, s, c in zip(
                    boxes.xyxy.float().cpu().tolist(), boxes.conf.float().cpu().tolist(), boxes.cls.cpu().tolist()
                )
            ]
            out.append(DetectResult(objects=objects))
        return out
