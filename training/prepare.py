"""Stage 1, prepare: the classification and detection datasets, written once and versioned by DVC.

Outputs (DVC outs, never committed to git):
  data/classify/  {train,val,test}/<label>/*.png  (ImageFolder layout) + dataset.json
  data/detect/    images|labels/{train,val,test}/ (YOLO layout), data.yaml + dataset.json
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from training import synthetic_detection
from training.config import CLASSIFY_DATA, DETECT_DATA, ClassifyData, DetectData, Params, ParamsError
from training.sources import LabelledImages, load_source, per_class_subset
from training.stage import stage_main, write_json

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_DETECT_CLASSES = {"fashion-mnist": ["trouser", "sneaker", "bag"], "sklearn-digits": ["0", "1", "7"]}


def digest(*folders: Path) -> str:
    """Content hash of folders: every file's path (below its folder's parent) and bytes, in a stable order."""
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "dataset.json"):
            h.update(path.relative_to(folder.parent).as_posix().encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _fresh(folder: Path) -> None:
    # dvc repro removes a stage's outputs before running it; `mlflow run` does not.
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _write_split(out: Path, x: np.ndarray, y: np.ndarray, idx: np.ndarray, labels: list[str]) -> None:
    for label in labels:
        (out / label).mkdir(parents=True, exist_ok=True)
    for i in idx:
        Image.fromarray(x[i]).save(out / labels[int(y[i])] / f"{int(i):05d}.png", optimize=False)


def _from_folder(cfg: ClassifyData, out: Path, seed: int) -> dict:
    """Split a folder of class sub-folders (the user's own images) into train/val/test, stratified."""
    from sklearn.model_selection import train_test_split

    root = Path(cfg.source)
    labels = sorted(p.name for p in root.iterdir() if p.is_dir())
    files, ys = [], []
    for k, label in enumerate(labels):
        for path in sorted((root / label).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append(path)
                ys.append(k)
    if len(labels) < 2 or len(files) < 10 * len(labels):
        raise ParamsError(
            f"data.classify.source {root} needs at least 2 class folders with 10 images each "
            f"(found {len(labels)} folders, {len(files)} images)"
        )
    idx = np.arange(len(files))
    rest, test = train_test_split(idx, test_size=cfg.test_fraction, stratify=ys, random_state=seed)
    train, val = train_test_split(
        rest, test_size=cfg.val_fraction / (1 - cfg.test_fraction), stratify=[ys[i] for i in rest], random_state=seed
    )
    for split, chosen in (("train", train), ("val", val), ("test", test)):
        for i in chosen:
            target = out / split / labels[ys[i]] / files[i].name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(files[i], target)
    return {
        "name": root.name,
        "version": "folder",
        "source": str(root.resolve()),
        "labels": labels,
        "counts": {"train": len(train), "val": len(val), "test": len(test)},
    }


def _from_labelled(images: LabelledImages, cfg: ClassifyData, out: Path, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    # Validation first, so that "every training image" (train_per_class: null) leaves it intact.
    val = per_class_subset(images.train_y, cfg.val_per_class, rng)
    train = per_class_subset(images.train_y, cfg.train_per_class, rng, exclude=val)
    test = per_class_subset(images.test_y, cfg.test_per_class, rng)
    _write_split(out / "train", images.train_x, images.train_y, train, images.labels)
    _write_split(out / "val", images.train_x, images.train_y, val, images.labels)
    _write_split(out / "test", images.test_x, images.test_y, test, images.labels)
    return {
        "name": images.name,
        "version": images.version,
        "source": images.name,
        "labels": images.labels,
        "counts": {"train": len(train), "val": len(val), "test": len(test)},
    }


def prepare_classify(params: Params, images: LabelledImages | None) -> dict:
    cfg = params.data.classify
    _fresh(CLASSIFY_DATA)
    meta = (
        _from_labelled(images, cfg, CLASSIFY_DATA, params.seed)
        if images
        else _from_folder(cfg, CLASSIFY_DATA, params.seed)
    )
    meta["digests"] = {split: digest(CLASSIFY_DATA / split) for split in ("train", "val", "test")}
    write_json(CLASSIFY_DATA / "dataset.json", meta)
    return meta


def _labels_dir(images: Path) -> Path | None:
    # Ultralytics finds an image's label file by swapping the last 'images' path part for 'labels'.
    parts = list(images.parts)
    if "images" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:i], "labels", *parts[i + 1 :])


def _copy_yolo(cfg: DetectData, out: Path) -> dict:
    """Copy the user's YOLO dataset (data.yaml with image folders) so DVC versions the exact files."""
    data_yaml = Path(cfg.source)
    spec = yaml.safe_load(data_yaml.read_text()) or {}
    root = Path(spec.get("path") or ".")
    root = root if root.is_absolute() else (data_yaml.parent / root)
    names = spec.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not names or not spec.get("train") or not spec.get("val"):
        raise ParamsError(f"{data_yaml} must name 'train', 'val' and 'names' (Ultralytics data.yaml)")
    counts = {}
    for split in ("train", "val", "test"):
        if not spec.get(split):
            continue
        images = root / spec[split]
        if not images.is_dir():
            raise ParamsError(f"{data_yaml}: {split} folder {images} does not exist")
        shutil.copytree(images, out / "images" / split)
        labels = _labels_dir(images)
        if labels and labels.is_dir():
            shutil.copytree(labels, out / "labels" / split)
        counts[split] = sum(1 for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {
        "name": data_yaml.parent.name,
        "version": "yolo-folder",
        "source": str(data_yaml.resolve()),
        "classes": names,
        "counts": counts,
    }


def detect_items(params: Params, images: LabelledImages | None) -> tuple[LabelledImages, list[str]] | None:
    """The labelled items and classes the synthetic detection set pastes (None for a YOLO source)."""
    if params.data.detect.source != "synthetic":
        return None
    if images is None:  # a folder classify source: paste items from the bundled sources instead
        images = load_source("auto", params.data.classify.fashion_mnist_dir, params.seed)
    classes = params.data.detect.classes or DEFAULT_DETECT_CLASSES[images.name]
    unknown = [c for c in classes if c not in images.labels]
    if unknown:
        raise ParamsError(
            f"data.detect.classes: {', '.join(unknown)} not among the {images.name} labels ({', '.join(images.labels)})"
        )
    return images, classes


def prepare_detect(params: Params, items: tuple[LabelledImages, list[str]] | None) -> dict:
    cfg = params.data.detect
    _fresh(DETECT_DATA)
    if items is not None:
        images, classes = items
        counts = synthetic_detection.build(DETECT_DATA, images, classes, cfg, params.seed)
        meta = {
            "name": f"{images.name}-on-photos",
            "version": images.version,
            "source": "synthetic",
            "classes": classes,
            "counts": counts,
        }
    else:
        meta = _copy_yolo(cfg, DETECT_DATA)
    splits = [s for s in ("train", "val", "test") if (DETECT_DATA / "images" / s).is_dir()]
    # No `path:` key: Ultralytics then resolves the folders next to this file, wherever DVC checks it out.
    layout = {split: f"images/{split}" for split in splits}
    (DETECT_DATA / "data.yaml").write_text(
        yaml.safe_dump({**layout, "names": dict(enumerate(meta["classes"]))}, sort_keys=False)
    )
    meta["eval_split"] = "test" if "test" in splits else "val"
    # A split is its images and its boxes: a corrected label file is a new version of the data.
    meta["digests"] = {
        split: digest(DETECT_DATA / "images" / split, DETECT_DATA / "labels" / split) for split in splits
    }
    write_json(DETECT_DATA / "dataset.json", meta)
    return meta


def run(params: Params) -> None:
    """Prepare the classification and detection datasets from params.yaml's data section."""
    source = params.data.classify.source
    images = None
    if source in ("auto", "fashion-mnist", "digits"):
        images = load_source(source, params.data.classify.fashion_mnist_dir, params.seed)
    items = detect_items(params, images)  # checked before anything is written
    classify = prepare_classify(params, images)
    detect = prepare_detect(params, items)
    print(
        f"prepare: classify {classify['name']} {classify['counts']} -> {CLASSIFY_DATA}; "
        f"detect {detect['name']} {detect['counts']} -> {DETECT_DATA}"
    )


main = stage_main(
    "prepare",
    run,
    {
        "classify-source": "data.classify.source",
        "train-per-class": "data.classify.train_per_class",
        "detect-source": "data.detect.source",
        "detect-train-images": "data.detect.train_images",
    },
)

if __name__ == "__main__":
    main()
