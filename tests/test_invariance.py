"""Answers that must not depend on which way a photo faces or how it was stored: the offline
models on every bundled sample photo, as is, mirrored left-right, and re-encoded as JPEG.

What holds, measured on these photos: a confident top-1 label (probability >= 0.55) survives
both; a label the model is unsure of need not (bus.jpg's "minibus" at 0.47 becomes "police van"
when mirrored, grace_hopper.jpg's "bow tie" at 0.51 a "mortarboard"). Every confident face
(score >= 0.95) is found again, mirrored where the photo was; a weak one may vanish
(motorcycle_left.png's 0.93 "face" on the motorcycle goes when mirrored).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageOps

from registry.catalog import build_local_pipeline

CONFIDENT = 0.55
FACE_SCORE = 0.95


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")  # lossless: the mirror is the only change
    return out.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def answers(photos):
    """photo -> variant ("orig", "hflip", "jpeg") -> (width, top-1 label and score, confident face boxes)."""
    pipeline = build_local_pipeline(tasks=["classify", "faces"])
    out = {}
    for name, path in sorted(photos.items()):
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        variants = {"orig": _png(rgb), "hflip": _png(ImageOps.mirror(rgb)), "jpeg": _jpeg(rgb)}
        rows = pipeline.annotate(list(variants.values()), ids=list(variants), tasks=["classify", "faces"])
        out[name] = {}
        for row in rows:
            assert row.error is None, (name, row.id, row.error)
            top = row.results["classify"].labels[0]
            faces = [f.box for f in row.results["faces"].faces if f.score >= FACE_SCORE]
            out[name][row.id] = (row.width, top.label, top.score, faces)
    return out


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _matched(expected: list[list[float]], found: list[list[float]], min_iou: float) -> bool:
    return len(expected) == len(found) and all(max(_iou(e, f) for f in found) >= min_iou for e in expected)


def _confident(answers) -> list[str]:
    names = [name for name, variants in answers.items() if variants["orig"][2] >= CONFIDENT]
    # the claim needs photos to stand on: coffee, camera, chelsea, china and the motorcycle
    assert len(names) >= 4, names
    return names


def test_jpeg_reencoding_keeps_confident_labels_and_every_confident_face(answers):
    for name in _confident(answers):
        assert answers[name]["jpeg"][1] == answers[name]["orig"][1], name
    assert sum(len(v["orig"][3]) for v in answers.values()) >= 6  # faces on bus, zidane, grace_hopper, ...
    for name, variants in answers.items():
        assert _matched(variants["orig"][3], variants["jpeg"][3], min_iou=0.9), (name, variants)


def test_a_mirrored_photo_keeps_confident_labels_and_its_faces_mirrored(answers):
    for name in _confident(answers):
        assert answers[name]["hflip"][1] == answers[name]["orig"][1], name
    for name, variants in answers.items():
        width = variants["orig"][0]
        mirrored = [[width - x2, y1, width - x1, y2] for x1, y1, x2, y2 in variants["orig"][3]]
        # MTCNN's boxes are not mirror-exact: the same face, framed a few pixels differently
        assert _matched(mirrored, variants["hflip"][3], min_iou=0.7), (name, variants)
