"""The sunglasses attribute measured on a labelled set assembled from what this machine holds.

The set (built in memory, deterministic):
  real           bus.jpg (2 faces, both wearing sunglasses), zidane.jpg (2, none),
                 grace_hopper.jpg (1, clear glasses), astronaut.png (1, none), and their mirror
                 images: 12 faces, 4 wearing sunglasses, labelled by eye
  black-white    the same four photos converted to black and white: 6 faces, 2 wearing
  synthetic      the three photos without sunglasses, twice each, with dark lenses rendered at
                 the landmark positions (vision/synthetic_lenses.py, seeded): 8 faces, all wearing
  lfw            the first 20 face crops of scikit-image's lfw_subset (25 px, greyscale),
                 upscaled to 100 px: labelled as not wearing sunglasses (none visibly does)

A face counts when the model finds it (matched to the labelled box by IoU >= 0.3 for the
bundled photos; the largest face for an lfw crop). Figures: precision and recall over the faces
the model answered, abstention rate over all faces found. The synthetic faces exercise the
metric; they measure nothing about real-world accuracy.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from vision.samples import sample_photo
from vision.synthetic_lenses import render_lenses

# Photo -> whether its frontal faces wear sunglasses (every face in these photos agrees).
REAL_LABELS = {"bus.jpg": True, "zidane.jpg": False, "grace_hopper.jpg": False, "astronaut.png": False}
LFW_FACES = 20
SEED = 20261129
SET_DESCRIPTION = (
    "bundled photos (bus, zidane, grace_hopper, astronaut) and their mirror images; the same "
    "four in black and white; the three without sunglasses with synthetic dark lenses "
    "(2 seeds); 20 scikit-image lfw_subset face crops"
)

# predict(images, ids) -> wire rows (docs/wire-contract.md) with a "faces" answer each.
Predict = Callable[[list[bytes], list[str]], list[dict]]


@dataclass
class Labelled:
    id: str
    part: str
    image: bytes
    boxes: list[list[float]]  # labelled faces; empty: take the largest face found (lfw crops)
    wearing: bool


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _lfw_crops() -> list[Image.Image]:
    import skimage

    crops = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")[:LFW_FACES]
    return [
        Image.fromarray((c * 255).astype(np.uint8)).resize((100, 100), Image.Resampling.BICUBIC).convert("RGB")
        for c in crops
    ]


def build_set(predict: Predict) -> list[Labelled]:
    """The labelled images; the bundled photos' faces are located by ``predict`` itself."""
    photos = {name: Image.open(sample_photo(name)).convert("RGB") for name in REAL_LABELS}
    rows = predict([_png(p) for p in photos.values()], list(photos))
    found = {row["id"]: row["faces"]["faces"] for row in rows}
    items: list[Labelled] = []
    rng = np.random.default_rng(SEED)
    for name, picture in photos.items():
        faces = found[name]
        boxes = [f["box"] for f in faces]
        wearing = REAL_LABELS[name]
        items.append(Labelled(f"real/{name}", "real", _png(picture), boxes, wearing))
        mirrored = [[picture.width - b[2], b[1], picture.width - b[0], b[3]] for b in boxes]
        items.append(Labelled(f"real/mirror-{name}", "real", _png(ImageOps.mirror(picture)), mirrored, wearing))
        items.append(
            Labelled(f"black-white/{name}", "black-white", _png(picture.convert("L").convert("RGB")), boxes, wearing)
        )
        if not wearing:
            for n in range(2):
                lensed = render_lenses(picture, [f["landmarks"] for f in faces], rng)
                items.append(Labelled(f"synthetic/{n}-{name}", "synthetic", _png(lensed), boxes, True))
    for n, crop in enumerate(_lfw_crops()):
        items.append(Labelled(f"lfw/{n:03d}", "lfw", _png(crop), [], False))
    return items


def evaluate(predict: Predict, attribute: str = "sunglasses", threshold: float = 0.5) -> dict:
    """Precision, recall and abstention rate of ``attribute`` on the set, overall and per part."""
    items = build_set(predict)
    rows = predict([i.image for i in items], [i.id for i in items])
    outcomes: list[tuple[str, bool, float | None]] = []  # (part, wearing, score or None)
    missed = 0
    for item, row in zip(items, rows):
        faces = (row.get("faces") or {}).get("faces") or []
        if not item.boxes:
            if faces:
                face = max(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
                outcomes.append((item.part, item.wearing, face["attributes"].get(attribute)))
            else:
                missed += 1
            continue
        for box in item.boxes:
            match = max(faces, key=lambda f: _iou(f["box"], box), default=None)
            if match is None or _iou(match["box"], box) < 0.3:
                missed += 1
                continue
            outcomes.append((item.part, item.wearing, match["attributes"].get(attribute)))

    def figures(chosen: list[tuple[str, bool, float | None]]) -> dict:
        answered = [(w, s) for _, w, s in chosen if s is not None]
        tp = sum(1 for w, s in answered if w and s >= threshold)
        fp = sum(1 for w, s in answered if not w and s >= threshold)
        fn = sum(1 for w, s in answered if w and s < threshold)
        return {
            "faces": len(chosen),
            "answered": len(answered),
            "positives": sum(1 for _, w, _ in chosen if w),
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "abstention_rate": round(1 - len(answered) / len(chosen), 4) if chosen else None,
        }

    parts = sorted({p for p, _, _ in outcomes})
    return {
        "set": SET_DESCRIPTION,
        "images": len(items),
        "faces_missed": missed,
        "threshold": threshold,
        **figures(outcomes),
        "parts": {p: figures([o for o in outcomes if o[0] == p]) for p in parts},
    }
