"""The batched MTCNN reads every resize off one summed-area table; its answers equal
facenet-pytorch's only if those resizes are bit-identical to ``F.interpolate(mode="area")``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vision.adapters.mtcnn_batched import _area_resize, _integral, _pyramid
from vision.samples import sample_photo


@pytest.mark.parametrize("photo", ["bus.jpg", "astronaut.png", "chelsea.png"])
def test_pyramid_levels_are_bit_identical_to_area_interpolation(photo):
    pixels = np.asarray(Image.open(sample_photo(photo)).convert("RGB"))
    image = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float()
    height, width = pixels.shape[:2]
    integral = _integral(image)
    levels = _pyramid(height, width, min_face=20, factor=0.709)
    assert len(levels) > 5
    for scale in levels:
        size = (int(height * scale + 1), int(width * scale + 1))
        expected = F.interpolate(image, size=size, mode="area")
        got = _area_resize(integral, height, width, size).permute(0, 3, 1, 2)
        assert torch.equal(got, expected), f"{photo} at scale {scale:.3f}"


def test_a_region_of_the_table_resizes_like_the_cropped_image():
    # Each image of a padded bucket is resized from its own top-left extent of the canvas.
    rng = np.random.default_rng(0)
    canvas = torch.from_numpy(rng.integers(0, 256, (1, 3, 90, 120))).float()
    got = _area_resize(_integral(canvas), 70, 100, (41, 59)).permute(0, 3, 1, 2)
    assert torch.equal(got, F.interpolate(canvas[:, :, :70, :100], size=(41, 59), mode="area"))
