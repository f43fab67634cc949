"""When a face attribute must not be scored: the abstention checks and their stable codes.

A score on a face the scorer cannot read is worse than no score: an analysis over millions of
photos counts it as an answer. Every attribute scorer (the eye-darkness heuristic and learned
models alike) runs these checks first and answers ``null`` with a reason code instead.

Codes (stable; part of the wire contract, docs/wire-contract.md):
  face_too_small      the eyes are closer than ``min_eye_distance`` px in the decoded image
                      (the heuristic's eye patches shrink to a few JPEG-blurred pixels) or the
                      face box is under a learned model's ``min_face_px``
  occluded_landmarks  a landmark lies outside the face box or the picture, or the landmarks do
                      not form a frontal face (one eye hidden in profile, nose outside the eyes)
  grayscale           the face has no colour: black-and-white film darkens irises and eye
                      sockets in ways the colour photos the heuristic was calibrated on do not
  low_contrast        the face's luma barely varies (fog, flat scans, heavy over-exposure)
  low_confidence      a learned model's probability is within ``min_confidence`` of a coin flip
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

ABSTENTION_CODES = ("face_too_small", "occluded_landmarks", "grayscale", "low_contrast", "low_confidence")
# Which checks each scorer runs unless its spec lists its own (``attributes.abstain_on``): the
# heuristic reads luma at landmark positions, so all image checks apply; a learned model saw
# its own training data, so colour and contrast are its business unless its spec says so.
DEFAULT_CHECKS = {
    "eye-darkness": ("face_too_small", "occluded_landmarks", "grayscale", "low_contrast"),
    "model": ("face_too_small", "occluded_landmarks", "low_confidence"),
}


@dataclass(frozen=True)
class QualityFloors:
    """The floors under which a scorer abstains; set per model in ``options.attributes``."""

    checks: tuple[str, ...] = DEFAULT_CHECKS["eye-darkness"]
    # Bus.jpg's sunglasses wearers have eyes 15 px apart: the heuristic still reads them.
    min_eye_distance: float = 12.0
    min_face_px: float = 0.0
    # Mean (max - min) over RGB in the face box, 0-255: colour faces in the bundled photos
    # measure 52-93, a colour photo converted to black and white measures 0.
    min_chroma: float = 8.0
    # Standard deviation of luma in the face box, 0-255 (bundled photos: 48-61).
    min_luma_std: float = 12.0
    # A probability p abstains when |p - 0.5| < min_confidence.
    min_confidence: float = 0.0

    @classmethod
    def from_options(cls, attributes: Mapping[str, Any]) -> QualityFloors:
        method = str(attributes.get("method", "eye-darkness"))
        checks = tuple(attributes.get("abstain_on") or DEFAULT_CHECKS.get(method, ()))
        unknown = sorted(set(checks) - set(ABSTENTION_CODES))
        if unknown:
            raise ValueError(f"unknown abstention check(s) {unknown}; known: {', '.join(ABSTENTION_CODES)}")
        defaults = cls()
        return cls(
            checks=checks,
            min_eye_distance=float(attributes.get("min_eye_distance", defaults.min_eye_distance)),
            min_face_px=float(attributes.get("min_face_px", defaults.min_face_px)),
            min_chroma=float(attributes.get("min_chroma", defaults.min_chroma)),
            min_luma_std=float(attributes.get("min_luma_std", defaults.min_luma_std)),
            min_confidence=float(attributes.get("min_confidence", defaults.min_confidence)),
        )


def _landmarks_hidden(box: np.ndarray, points: np.ndarray, width: int, height: int) -> bool:
    x1, y1, x2, y2 = (float(v) for v in box)
    margin = 0.1 * max(x2 - x1, y2 - y1)
    xs, ys = points[:, 0], points[:, 1]
    if (xs < max(0.0, x1 - margin)).any() or (xs > min(width - 1.0, x2 + margin)).any():
        return True
    if (ys < max(0.0, y1 - margin)).any() or (ys > min(height - 1.0, y2 + margin)).any():
        return True
    left, right, nose = points[0], points[1], points[2]
    # In profile the far eye is guessed, not seen: the eyes collapse together and the nose
    # leaves the span between them.
    if float(np.linalg.norm(right - left)) < 0.25 * (x2 - x1):
        return True
    return not (min(left[0], right[0]) <= nose[0] <= max(left[0], right[0]))


def abstention(image: np.ndarray, box: np.ndarray, points: np.ndarray, floors: QualityFloors) -> str | None:
    """The first reason code under which a face's attributes must not be scored, or None.

    ``image`` is the decoded RGB picture (H, W, 3) that ``box`` and ``points`` (5 x 2, MTCNN's
    order: left eye, right eye, nose, mouth left, mouth right) are in.
    """
    height, width = image.shape[:2]
    checks = floors.checks
    x1, y1, x2, y2 = (float(v) for v in box)
    if "face_too_small" in checks:
        eye_distance = float(np.linalg.norm(points[1] - points[0]))
        if eye_distance < floors.min_eye_distance or min(x2 - x1, y2 - y1) < floors.min_face_px:
            return "face_too_small"
    if "occluded_landmarks" in checks and _landmarks_hidden(box, points, width, height):
        return "occluded_landmarks"
    crop = image[max(0, int(y1)) : max(0, int(y2)), max(0, int(x1)) : max(0, int(x2))].astype(np.float32)
    if crop.size == 0:
        return "occluded_landmarks"
    if "grayscale" in checks and float((crop.max(axis=2) - crop.min(axis=2)).mean()) < floors.min_chroma:
        return "grayscale"
    if "low_contrast" in checks and float(crop.mean(axis=2).std()) < floors.min_luma_std:
        return "low_contrast"
    return None


def confident(probability: float, floors: QualityFloors) -> bool:
    """Whether a learned model's probability is far enough from a coin flip to report."""
    return "low_confidence" not in floors.checks or abs(probability - 0.5) >= floors.min_confidence
