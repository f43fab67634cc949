"""Dark lenses drawn at a face's eye landmarks: synthetic sunglasses wearers from real faces.

For exercising the attribute loop (and the heuristic's evaluation) offline, where no labelled
sunglasses photos exist. Shapes and tints vary so a model cannot learn one exact stamp; the
pictures say nothing about how sunglasses look in the real world.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

# Near-black, brown, green and blue lens tints (RGB) and how much of the eye they hide.
TINTS = ((12, 12, 14), (45, 28, 16), (18, 38, 22), (16, 22, 48), (30, 30, 30))


def render_lenses(
    picture: Image.Image, faces: Sequence[Mapping[str, Sequence[float]]], rng: np.random.Generator
) -> Image.Image:
    """A copy of ``picture`` with a pair of dark lenses (and a bridge) on every face, placed by
    the faces' ``left_eye`` / ``right_eye`` landmarks (pixels of ``picture``)."""
    out = picture.convert("RGB")
    overlay = Image.new("RGBA", out.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(overlay)
    for landmarks in faces:
        left, right = np.asarray(landmarks["left_eye"], float), np.asarray(landmarks["right_eye"], float)
        eye_distance = float(np.linalg.norm(right - left))
        tint = TINTS[int(rng.integers(len(TINTS)))]
        alpha = int(rng.uniform(215, 250))
        half_w = eye_distance * rng.uniform(0.30, 0.42)
        half_h = half_w * rng.uniform(0.65, 0.95)
        round_lens = bool(rng.integers(2))
        for cx, cy in (left, right):
            box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
            if round_lens:
                pen.ellipse(box, fill=(*tint, alpha))
            else:
                pen.rounded_rectangle(box, radius=half_h * 0.5, fill=(*tint, alpha))
        bridge = max(1, int(eye_distance * 0.06))
        pen.line((left[0] + half_w, left[1], right[0] - half_w, right[1]), fill=(*tint, 255), width=bridge)
    return Image.alpha_composite(out.convert("RGBA"), overlay).convert("RGB")
