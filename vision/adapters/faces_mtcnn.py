"""`faces`: MTCNN boxes, scores and five landmarks, plus optional attributes per face.

Attributes (sunglasses, eyeglasses, smile, ...) are scored on face crops by a configured
model (``options.attributes``):
  ``{"method": "eye-darkness"}``  a model-free sunglasses score from the eye regions that
                                  the landmarks locate (the offline default; a heuristic)
  ``{"method": "model", "family": "clip", "prompts": {"sunglasses": ["a photo of a person
  wearing sunglasses", "a photo of a person"]}}``  zero-shot on crops, weights in
                                  ``<weights>/attributes``
  ``{"method": "model", "family": "torchvision"|"hf-classifier", "labels": {"sunglasses":
  "sunglasses"}}``                 a classifier's probability of the named class

Every attribute is a score or ``None`` with a reason code in ``Face.abstentions``: the checks
and floors (``abstain_on``, ``min_eye_distance``, ``min_face_px``, ``min_confidence``, ...) are
in vision/face_quality.py and are set per model next to ``method``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from vision.adapters.base import Adapter
from vision.adapters.mtcnn_batched import detect_batch
from vision.adapters.params import FacesParams
from vision.face_quality import QualityFloors, abstention, confident
from vision.image_input import DecodedImage
from vision.results import Face, FacesResult
from vision.spec import ModelSpec

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# The detector's working size (longer side, px): faces smaller than MTCNN's smallest face at
# this size are not worth the memory a 50-megapixel photo would cost at full size.
DEFAULT_MAX_SIDE = 1280
# Canvas sizes: the longer side rounds up to a multiple of this, the shorter side up to one
# of a few fractions of it (16:9, 3:4, square), so photos fall into a few buckets. Padding
# costs compute, never answers (see mtcnn_batched).
_CANVAS_STEP = 160
_CANVAS_RATIOS = (0.5625, 0.75, 1.0)
# Margin around a face box for attribute crops, as a share of the box's longer side.
DEFAULT_CROP_PAD = 0.25


def bucket_size(height: int, width: int, pad: bool = True) -> tuple[int, int]:
    """The padded canvas (height, width) a picture of this size is batched in. Without
    padding (on a CPU, where a batch saves little and padding costs compute), only pictures
    of one exact size share a batch."""
    if not pad:
        return height, width
    long_side, short_side = max(height, width), min(height, width)
    canvas_long = -(-long_side // _CANVAS_STEP) * _CANVAS_STEP
    canvas_short = next(c for c in (-(-int(canvas_long * r) // 16) * 16 for r in _CANVAS_RATIOS) if c >= short_side)
    return (canvas_long, canvas_short) if height >= width else (canvas_short, canvas_long)


class Bucket:
    """Pictures padded (top left, zeros beyond) to one canvas size: one MTCNN batch."""

    def __init__(self, canvas: tuple[int, int]):
        self.canvas = canvas
        self.indices: list[int] = []
        self.scales: list[float] = []
        self.pictures: list[Image.Image] = []

    def add(self, index: int, picture: Image.Image, scale: float) -> None:
        self.indices.append(index)
        self.scales.append(scale)
        self.pictures.append(picture)

    @property
    def extents(self) -> list[tuple[int, int]]:
        return [(p.height, p.width) for p in self.pictures]

    def tensor(self, device: str) -> torch.Tensor:
        """(N, 3, H, W) float32 on ``device``: one upload of uint8 pixels, converted there."""
        height, width = self.canvas
        canvas = np.zeros((len(self.pictures), height, width, 3), dtype=np.uint8)
        for i, picture in enumerate(self.pictures):
            canvas[i, : picture.height, : picture.width] = np.asarray(picture)
        return torch.from_numpy(canvas).to(device).permute(0, 3, 1, 2).float()


def face_crop_box(box: Sequence[float], width: int, height: int, pad: float) -> tuple[int, int, int, int]:
    """The face box grown by ``pad`` of its longer side on every side, squared, inside the picture.

    `idaas faces crops` exports training crops with it and a learned attribute model is served
    crops made by it: the model sees at serving time the framing it was trained on.
    """
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * pad)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    return left, top, min(width, round(cx + side / 2)), min(height, round(cy + side / 2))


def eye_darkness(image: np.ndarray, points: np.ndarray) -> float:
    """Sunglasses score in [0, 1]: how dark the eye regions are relative to the nose tip, read
    from the luma (mean of R, G, B) of three small patches of the (H, W, 3) picture.

    Bare eyes (and clear glasses) show sclera and lit skin around the iris; dark lenses
    cover the whole region. The nose tip is lit like the eye area, which makes the ratio
    robust to the scene's exposure (cheeks are not: they fall into shadow more often).
    A heuristic, calibrated on the six faces of the bundled photos (bus.jpg: two wearers,
    0.25 and 0.39; zidane.jpg, grace_hopper.jpg, astronaut.png: 0.48 to 0.74); a learned
    attribute model replaces it through ``options.attributes``.
    """
    h, w = image.shape[:2]
    left, right, nose = points[0], points[1], points[2]
    eye_dist = float(np.linalg.norm(right - left))
    if eye_dist < 4:
        return 0.0
    r = max(1, int(round(eye_dist * 0.15)))

    def patch(cx: float, cy: float) -> np.ndarray:
        # Luma of the patch only: converting the whole picture cost more than the detector's last stage.
        x, y = int(cx), int(cy)
        pixels = image[max(0, y - r) : min(h, y + r + 1), max(0, x - r) : min(w, x + r + 1)]
        return pixels.astype(np.float32).mean(axis=2).ravel()

    eyes = np.concatenate([patch(*left), patch(*right)])
    nose_patch = patch(*nose)
    if not eyes.size or not nose_patch.size:
        return 0.0
    ratio = float(eyes.mean()) / max(float(nose_patch.mean()), 1.0)
    return float(1.0 / (1.0 + np.exp((ratio - 0.44) * 20.0)))


class MtcnnFaces(Adapter):
    task = "faces"
    family = "mtcnn"
    requirements = ("torchvision", "facenet-pytorch")
    weight_files = ("pnet.pt", "rnet.pt", "onet.pt", "attributes")
    Params = FacesParams
    default_max_batch = 16
    forward_params = ()  # MTCNN's own thresholds are fixed; these filter its faces afterwards

    def load(self, weights: Path | None) -> None:
        from facenet_pytorch import MTCNN

        opts = self.spec.options
        self.mtcnn = MTCNN(
            keep_all=True,
            device=self.device,
            min_face_size=int(opts.get("min_face_size", 20)),
            thresholds=opts.get("thresholds", [0.6, 0.7, 0.7]),
            post_process=False,
        )
        if weights is not None and Path(weights).is_dir():
            # The registry's copy of pnet/rnet/onet.pt, so a version never depends on the package's files.
            for name in ("pnet", "rnet", "onet"):
                file = Path(weights) / f"{name}.pt"
                if file.exists():
                    getattr(self.mtcnn, name).load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
        # NCHW, not conv_layout(): channels-last ran MTCNN 1.2x faster on a CPU, but every input
        # shape (each pyramid level of each photo size, each count of candidates) then builds
        # and caches its own oneDNN kernels, and a 2-worker server grew 30% in the load test.
        self.layout = torch.contiguous_format
        self.mtcnn.eval()
        self.attributes = dict(opts.get("attributes") or {})
        self.floors = QualityFloors.from_options(self.attributes)
        self._attribute_model = None
        if self.attributes.get("method") == "model":
            self._attribute_model = self._load_attribute_model(Path(weights) / "attributes" if weights else None)

    def _load_attribute_model(self, weights: Path | None):
        from vision.adapters import adapter_class

        family = self.attributes["family"]
        cls = adapter_class(family)
        sub = ModelSpec(
            name=f"{self.spec.name}-attributes",
            task=cls.task,
            family=family,
            labels=self.attributes.get("class_names"),
            options=self.attributes.get("options", {}),
        )
        return cls(sub, weights, device=self.device)

    @property
    def min_side(self) -> int | None:
        # The detector works at most at max_side on the longer side; a JPEG far larger than
        # that is draft-decoded down towards it (the shorter side keeps 3/4 of max_side).
        return self.spec.options.get("min_side", (self.max_side * 3) // 4)

    @property
    def max_side(self) -> int:
        return int(self.spec.options.get("max_side", DEFAULT_MAX_SIDE))

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> list[Bucket]:
        """Images scaled to the working size and padded into a few canvas sizes, so each
        bucket's images go through MTCNN as one batch."""
        buckets: dict[tuple[int, int], Bucket] = {}
        smallest = self.mtcnn.min_face_size
        for index, decoded in enumerate(images):
            picture = decoded.image
            scale = min(1.0, self.max_side / max(picture.size))
            if scale < 1.0:
                picture = picture.resize(
                    (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                    Image.Resampling.BILINEAR,
                    reducing_gap=2.0,
                )
            if min(picture.size) < smallest:
                # MTCNN's pyramid is empty (and torch.cat fails) when the picture is smaller
                # than the smallest face it looks for: such a picture has no face to find.
                continue
            canvas = bucket_size(picture.height, picture.width, pad=self.device != "cpu")
            bucket = buckets.setdefault(canvas, Bucket(canvas))
            bucket.add(index, picture, scale)
        return list(buckets.values())

    def forward(self, batch: list[Bucket], params: dict[str, Any]) -> dict[int, tuple]:
        found: dict[int, tuple] = {}
        for bucket in batch:
            tensor = bucket.tensor(self.device)
            detections = detect_batch(
                tensor,
                bucket.extents,
                self.mtcnn.pnet,
                self.mtcnn.rnet,
                self.mtcnn.onet,
                min_face=self.mtcnn.min_face_size,
                thresholds=self.mtcnn.thresholds,
                factor=self.mtcnn.factor,
                layout=self.layout,
            )
            for index, scale, (boxes, probs, points) in zip(bucket.indices, bucket.scales, detections):
                found[index] = (boxes / scale, probs, points / scale) if len(boxes) else (None, None, None)
        return found

    def postprocess(
        self, raw: dict[int, tuple], images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[FacesResult]:
        out = []
        for index, decoded in enumerate(images):
            boxes, probs, points = raw.get(index, (None, None, None))
            faces: list[tuple[np.ndarray, float, np.ndarray]] = []
            if boxes is not None:
                for box, prob, pts in zip(boxes, probs, points):
                    if prob is not None and prob >= params["min_score"]:
                        faces.append((box, float(prob), pts))
            faces.sort(key=lambda f: -f[1])
            faces = faces[: params["max_faces"]]
            attributes = self._score_attributes(decoded, faces)
            out.append(
                FacesResult(
                    faces=[
                        Face(
                            box=decoded.to_original(box.tolist()),
                            score=round(prob, 4),
                            landmarks={n: decoded.to_original(p.tolist()) for n, p in zip(LANDMARKS, pts)},
                            attributes=attrs,
                            abstentions=reasons,
                        )
                        for (box, prob, pts), (attrs, reasons) in zip(faces, attributes)
                    ]
                )
            )
        return out

    @property
    def attribute_names(self) -> tuple[str, ...]:
        if self.attributes.get("method") == "eye-darkness":
            return ("sunglasses",)
        return tuple(self.attributes.get("prompts") or self.attributes.get("labels") or ())

    def _score_attributes(self, decoded: DecodedImage, faces: list) -> list[tuple[dict, dict]]:
        """Per face: (attribute -> score or None, attribute -> abstention code)."""
        method = self.attributes.get("method")
        if not faces or not method:
            return [({}, {}) for _ in faces]
        rgb = np.asarray(decoded.image)
        names = self.attribute_names
        reasons = [abstention(rgb, box, pts, self.floors) for box, _, pts in faces]
        readable = [i for i, reason in enumerate(reasons) if reason is None]
        scored: list[dict[str, float]] = [{} for _ in faces]
        if method == "eye-darkness":
            for i in readable:
                scored[i] = {"sunglasses": round(eye_darkness(rgb, faces[i][2]), 4)}
        elif readable:
            for i, scores in zip(readable, self._model_attributes(decoded, [faces[i] for i in readable])):
                scored[i] = scores
        out: list[tuple[dict, dict]] = []
        for i in range(len(faces)):
            values: dict[str, float | None] = {}
            why: dict[str, str] = {}
            for name in names:
                value = scored[i].get(name)
                reason = reasons[i] or (None if value is None or confident(value, self.floors) else "low_confidence")
                values[name] = None if reason else value
                if reason:
                    why[name] = reason
            out.append((values, why))
        return out

    def _model_attributes(self, decoded: DecodedImage, faces: list) -> list[dict[str, float]]:
        """Scores of the learned attribute model on padded crops of faces that passed the checks."""
        from vision.image_input import DecodedImage as _D

        crops = []
        pad = float(self.attributes.get("crop_pad", DEFAULT_CROP_PAD))
        for box, _, _ in faces:
            crop = decoded.image.crop(face_crop_box(box.tolist(), decoded.image.width, decoded.image.height, pad))
            crops.append(_D(image=crop, width=crop.width, height=crop.height, format="crop"))
        model = self._attribute_model
        assert model is not None  # only called when options.attributes names a model
        scores: list[dict[str, float]] = [{} for _ in faces]
        if "prompts" in self.attributes:  # zero-shot: P(positive prompt) against its negative
            for attr, (positive, negative) in self.attributes["prompts"].items():
                results = model.predict(crops, {"labels": f"{positive}|{negative}", "top_k": 2})
                for i, res in enumerate(results):
                    by_label = {label.label: label.score for label in getattr(res, "labels", [])}
                    scores[i][attr] = round(by_label.get(positive, 0.0), 4)
        else:  # classifier: probability of the named class
            results = model.predict(crops, {"top_k": 1000, "min_score": 0.0})
            for i, res in enumerate(results):
                by_label = {label.label: label.score for label in getattr(res, "labels", [])}
                for attr, class_name in self.attributes.get("labels", {}).items():
                    scores[i][attr] = round(by_label.get(class_name, 0.0), 4)
        return scores
