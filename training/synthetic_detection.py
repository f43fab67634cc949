"""The default detection dataset: real labelled items pasted at known places onto real photos.

Each picture is a random crop of one of the photos bundled with the installed packages
(vision.samples: street scenes, portraits, a cat, a rocket, printed pages ...), with one to
a few Fashion-MNIST items (or digits) composited on it in a random colour, size and place.
Because we place every item ourselves, each box is exact: the tight box around the item's
own pixels. Training items come from the source's training split, validation and test
items from its held-out test split, so no item is seen in both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from training.config import DetectData
from training.sources import LabelledImages

# Item pixels darker than this are the item's black surround, not the item.
_OPAQUE_FROM = 48
_MAX_OVERLAP = 0.05  # IoU above which a new item is placed elsewhere


def _backgrounds() -> list[Image.Image]:
    from vision.samples import sample_photos

    return [Image.open(path).convert("RGB") for _, path in sorted(sample_photos().items())]


def _crop(photo: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    side = min(photo.size)
    crop = int(rng.uniform(0.3, 1.0) * side)
    x = int(rng.integers(0, photo.width - crop + 1))
    y = int(rng.integers(0, photo.height - crop + 1))
    tile = photo.crop((x, y, x + crop, y + crop)).resize((size, size), Image.Resampling.BILINEAR)
    return tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else tile


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _paste(
    canvas: np.ndarray, item: np.ndarray, side: int, taken: list[tuple[int, ...]], rng: np.random.Generator
) -> tuple[int, int, int, int] | None:
    """Composite one greyscale item at a random free place; its exact box, or None if no room."""
    grey = np.asarray(Image.fromarray(item).resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32)
    alpha = np.clip(grey / _OPAQUE_FROM, 0.0, 1.0)
    rows, cols = np.flatnonzero(alpha.max(axis=1) >= 0.5), np.flatnonzero(alpha.max(axis=0) >= 0.5)
    if not len(rows):
        return None
    tint = rng.uniform(0, 255, size=3)
    # Keep the item's own shading (its folds, seams, laces) under a random colour.
    shade = 0.35 + 0.65 * (grey / 255.0)
    colour = np.clip(tint[None, None, :] * shade[..., None] + rng.uniform(-30, 30), 0, 255)
    h, w = canvas.shape[:2]
    for _ in range(30):
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        box = (x + int(cols[0]), y + int(rows[0]), x + int(cols[-1]) + 1, y + int(rows[-1]) + 1)
        if all(_iou(box, other) <= _MAX_OVERLAP for other in taken):
            region = canvas[y : y + side, x : x + side]
            canvas[y : y + side, x : x + side] = region * (1 - alpha[..., None]) + colour * alpha[..., None]
            return box
    return None


def build(out: Path, items: LabelledImages, classes: list[str], params: DetectData, seed: int) -> dict[str, int]:
    """Write a YOLO dataset (images|labels/{train,val,test}, data.yaml) to ``out``; images per split."""
    rng = np.random.default_rng(seed)
    photos = _backgrounds()
    class_ids = [items.labels.index(name) for name in classes]
    # Held-out items: the source's test split, halved between val and test.
    half = len(items.test_y) // 2
    pools = {
        "train": (items.train_x, items.train_y),
        "val": (items.test_x[:half], items.test_y[:half]),
        "test": (items.test_x[half:], items.test_y[half:]),
    }
    counts = {"train": params.train_images, "val": params.val_images, "test": params.test_images}
    size = params.image_size
    for split, (xs, ys) in pools.items():
        by_class = [np.flatnonzero(ys == cid) for cid in class_ids]
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for n in range(counts[split]):
            canvas = np.asarray(_crop(photos[int(rng.integers(len(photos)))], size, rng), dtype=np.float32).copy()
            taken: list[tuple[int, ...]] = []
            lines = []
            for _ in range(int(rng.integers(params.objects_per_image[0], params.objects_per_image[1] + 1))):
                k = int(rng.integers(len(classes)))
                item = xs[int(rng.choice(by_class[k]))]
                side = int(rng.integers(params.object_size[0], params.object_size[1] + 1))
                box = _paste(canvas, item, side, taken, rng)
                if box is None:
                    continue
                taken.append(box)
                x1, y1, x2, y2 = box
                lines.append(
                    f"{k} {(x1 + x2) / 2 / size:.6f} {(y1 + y2) / 2 / size:.6f} "
                    f"{(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}"
                )
            stem = f"{split}_{n:05d}"
            Image.fromarray(canvas.clip(0, 255).astype(np.uint8)).save(
                out / "images" / split / f"{stem}.jpg", quality=92
            )
            (out / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return counts
