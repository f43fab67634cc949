"""Real labelled images the pipeline starts from, read without any network access.

Fashion-MNIST comes from the Debian package ``dataset-fashion-mnist`` (70,000 labelled
28x28 photos of clothing, official 60k/10k train/test split); scikit-learn's digits
(1,797 labelled 8x8 scans) ship in the wheel and stand in when the package is absent.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.config import ParamsError

# Folder-safe names of Fashion-MNIST's classes 0..9 (README of the dataset).
FASHION_LABELS = [
    "tshirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
]
DIGIT_LABELS = [str(d) for d in range(10)]


@dataclass
class LabelledImages:
    """Greyscale images (N, H, W) uint8 with an official train/test split."""

    name: str  # what the logs and the review call it
    version: str  # the upstream release it came from
    labels: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def _idx(path: Path) -> np.ndarray:
    # IDX format: magic (2 zero bytes, dtype code, ndim), ndim big-endian uint32 sizes, data.
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_mnist(folder: Path) -> LabelledImages:
    try:
        return LabelledImages(
            name="fashion-mnist",
            version="zalando-fashion-mnist-2017 (debian dataset-fashion-mnist)",
            labels=FASHION_LABELS,
            train_x=_idx(folder / "train-images-idx3-ubyte.gz"),
            train_y=_idx(folder / "train-labels-idx1-ubyte.gz"),
            test_x=_idx(folder / "t10k-images-idx3-ubyte.gz"),
            test_y=_idx(folder / "t10k-labels-idx1-ubyte.gz"),
        )
    except FileNotFoundError as exc:
        raise ParamsError(f"Fashion-MNIST file missing: {exc.filename}") from None


def digits(seed: int) -> LabelledImages:
    """scikit-learn's digits, upscaled to 32 px (the service refuses images under 16 px)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images * (255 / 16)).clip(0, 255).astype(np.uint8)
    x = np.stack([np.asarray(Image.fromarray(img).resize((32, 32), Image.Resampling.BILINEAR)) for img in x])
    train_x, test_x, train_y, test_y = train_test_split(
        x, bunch.target.astype(np.uint8), test_size=0.3, stratify=bunch.target, random_state=seed
    )
    import sklearn

    return LabelledImages(
        name="sklearn-digits",
        version=f"scikit-learn {sklearn.__version__}",
        labels=DIGIT_LABELS,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
    )


def load_source(source: str, fashion_dir: Path, seed: int) -> LabelledImages:
    """'auto' takes Fashion-MNIST when the package is installed and digits otherwise."""
    if source == "fashion-mnist" or (source == "auto" and (fashion_dir / "train-images-idx3-ubyte.gz").exists()):
        return fashion_mnist(fashion_dir)
    return digits(seed)


def per_class_subset(
    y: np.ndarray, per_class: int | None, rng: np.random.Generator, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Indices of up to ``per_class`` random examples of every class (all when None), sorted."""
    pool = np.ones(len(y), dtype=bool)
    if exclude is not None:
        pool[exclude] = False
    chosen = []
    for label in np.unique(y):
        idx = np.flatnonzero((y == label) & pool)
        chosen.append(idx if per_class is None else rng.permutation(idx)[:per_class])
    return np.sort(np.concatenate(chosen))
