"""`properties`: size, brightness, contrast, sharpness and dominant colours. No model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from vision.adapters.base import Adapter
from vision.adapters.params import PropertiesParams
from vision.image_input import DecodedImage
from vision.results import DominantColor, PropertiesResult

# Sharpness is measured at one fixed scale, so a photo decoded at a smaller draft size and
# the same photo at full size score alike.
_SHARPNESS_SIDE = 512
_LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)


def _luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def sharpness(image: Image.Image) -> float:
    """Variance of the Laplacian of luma at a 512 px long side: low for blurred pictures."""
    scale = _SHARPNESS_SIDE / max(image.size)
    size = (max(3, round(image.width * scale)), max(3, round(image.height * scale)))
    y = _luma(image.resize(size, Image.Resampling.BILINEAR))
    lap = (_LAPLACIAN[0, 1] * y[:-2, 1:-1] + _LAPLACIAN[1, 0] * y[1:-1, :-2] + _LAPLACIAN[1, 1] * y[1:-1, 1:-1]
           + _LAPLACIAN[1, 2] * y[1:-1, 2:] + _LAPLACIAN[2, 1] * y[2:, 1:-1])
    return float(lap.var())


def dominant_colors(image: Image.Image, count: int = 5) -> list[DominantColor]:
    small = image.copy()
    small.thumbnail((96, 96))
    quantized = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    colours = sorted(quantized.getcolors() or [], reverse=True)
    total = sum(n for n, _ in colours) or 1
    out = []
    for n, index in colours:
        r, g, b = palette[3 * index:3 * index + 3]
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
        return self.spec.options.get("min_side", _SHARPNESS_SIDE)

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> Sequence[DecodedImage]:
        return images

    def forward(self, batch: Sequence[DecodedImage], params: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for decoded in batch:
            y = _luma(decoded.image)
            out.append({"brightness": float(y.mean()), "contrast": float(y.std()),
                        "sharpness": sharpness(decoded.image),
                        "dominant_colors": dominant_colors(decoded.image, params["colors"])})
        return out

    def postprocess(self, raw: list[dict[str, Any]], images: Sequence[DecodedImage],
                    params: dict[str, Any]) -> list[PropertiesResult]:
        return [PropertiesResult(width=img.width, height=img.height, brightness=round(r["brightness"], 4),
                                 contrast=round(r["contrast"], 4), sharpness=round(r["sharpness"], 6),
                                 dominant_colors=r["dominant_colors"])
                for r, img in zip(raw, images)]
