"""The engine's batched MTCNN (vision/adapters/mtcnn_batched.py) finds the faces that
facenet-pytorch's own ``MTCNN.detect`` finds, one image at a time, on every bundled photo:
same count, same boxes, same landmarks, same scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vision.adapters import build_adapter
from vision.image_input import decode_image
from vision.samples import sample_photos
from vision.spec import ModelSpec
from vision.weights import pack_path


@pytest.fixture(scope="module")
def faces():
    spec = ModelSpec(name="faces-mtcnn", task="faces", family="mtcnn", options={"min_face_size": 20})
    return build_adapter(spec, pack_path("mtcnn"), device="cpu")


def test_batched_mtcnn_equals_facenet_one_image_at_a_time(faces):
    decoded = [decode_image(path, allow_path=True, min_side=faces.min_side) for path in sample_photos().values()]
    with torch.inference_mode():
        batched = faces.forward(faces.preprocess(decoded, {}), {})
    found = 0
    for index, image in enumerate(decoded):
        boxes, probs, points = faces.mtcnn.detect(image.image, landmarks=True)
        got_boxes, got_probs, got_points = batched.get(index, (None, None, None))
        if boxes is None:
            assert got_boxes is None, f"photo {index}: faces found where facenet-pytorch finds none"
            continue
        boxes, probs, points = (np.asarray(a, dtype=np.float64) for a in (boxes, probs, points))
        found += len(boxes)
        assert got_boxes is not None and len(got_boxes) == len(boxes), f"photo {index}: face count differs"
        order = np.argsort(-probs)
        mine = np.argsort(-got_probs)
        np.testing.assert_allclose(got_boxes[mine], boxes[order], atol=1e-3)
        np.testing.assert_allclose(got_points[mine], points[order], atol=1e-3)
        np.testing.assert_allclose(got_probs[mine], probs[order], atol=1e-6)
    assert found >= 6  # the faces of bus.jpg, zidane.jpg, grace_hopper.jpg, astronaut.png, ...
