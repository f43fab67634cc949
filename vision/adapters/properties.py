"""`properties`: size, brightness, contrast, sharpness and dominant colours. No model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vision.adapters.base import Adapter
from vision.adapters.params import PropertiesParams
from vision.image_input import DecodedImage
from vision.results import DominantColor, PropertiesResult

# Brightness, contrast and sharpness are measured on one working picture of luma, 512 px on
# the longer side: sharpness at a fixed scale (so a photo draft-decoded smaller and the same
# photo at full size score alike), and means that do not need 50 megapixels. Converting to
# luma before resizing resizes one channel instead of three (1.9x faster than resizing RGB).
_WORKING_SIDE = 512


def working_picture(image: Image.Image) -> Image.Image:
    """The picture (any mode) resized so its longer side is 512 px."""
    scale = _WORKING_SIDE / max(image.size)
    size = (max(3, round(image.width * scale)), max(3, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


def _luma(image: Image.Image) -> np.ndarray:
    """Luma in [0, 1] of the working picture."""
    return np.asarray(working_picture(image.convert("L")), dtype=np.float32) / 255.0


def laplacian_variance(y: np.ndarray) -> float:
    """Variance of the Laplacian of a luma array: low for blurred pictures."""
    lap = (y[:-2, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] + y[2:, 1:-1]) - 4.0 * y[1:-1, 1:-1]
    return float(lap.var())


def sharpness(image: Image.Image) -> float:
    """Variance of the Laplacian of luma at a 512 px long side: low for blurred pictures."""
    return laplacian_variance(_luma(image))


def dominant_colors(image: Image.Image, count: int = 5) -> list[DominantColor]:
    small = image.copy()
    small.thumbnail((64, 64), Image.Resampling.BILINEAR)
    # Fast octree: a fraction of median cut's time, and the same few colours on photos.
    quantized = small.quantize(colors=count, method=Image.Quantize.FASTOCTREE)
    palette = quantized.getpalette() or []
    colours = sorted(quantized.getcolors() or [], reverse=True)
    total = sum(n for n, _ in colours) or 1
    out = []
    for n, index in colours:
        r, g, b = palette[3 * int(index) : 3 * int(index) + 3]  # type: ignore[call-overload]
        out.append(DominantColor(hex=f"#{r:02x}{g:02x}{b:02x}", rgb=[r, g, b], fraction=round(n / total, 4)))
    return out


class ImageProperties(Adapter):
    task = "properties"
    family = "properties"
    needs_weights = False
    Params = PropertiesParams

    def load(self, weights: Path | None) -> None:
        pass

    @property
    def min_side(self) -> int | None:
        return self.spec.options.get("min_side", _WORKING_SIDE)

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> Sequence[DecodedImage]:
        return images

    def forward(self, batch: Sequence[DecodedImage], params: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for decoded in batch:
            y = _luma(decoded.image)
            out.append(
                {
                    "brightness": float(y.mean()),
                    "contrast": float(y.std()),
                    "sharpness": laplacian_variance(y),
                    "dominant_colors": dominant_colors(decoded.image, params["colors"]),
                }
            )
        return out

    def postprocess(
        self, raw: list[dict[str, Any]], images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[PropertiesResult]:
        return [
            PropertiesResult(
                width=img.width,
                height=img.height,
                brightness=round(r["brightness"], 4),
                contrast=round(r["contrast"], 4),
                sharpness=round(r["sharpness"], 6),
                dominant_colors=r["dominant_colors"],
            )
            for r, img in zip(raw, images)
        ]
