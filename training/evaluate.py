"""Stage 3, evaluate: score both trained models on their held-out test splits.

The classifier is scored through the very adapter that serves it (same decoding, same
transform), next to two baselines on the same split: the majority class and a logistic
regression on raw pixels. The detector is scored by Ultralytics' validator (mAP50,
mAP50-95, precision, recall) and draws its answers on a few held-out images through its
serving adapter. Writes reports/metrics.json and reports/plots/ for DVC and logs both to
each model's training run in MLflow, with the test split as a dataset input.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from training.config import CLASSIFIER_DIR, CLASSIFY_DATA, DETECT_DATA, DETECTOR_DIR, METRICS_FILE, PLOTS_DIR, Params
from training.lineage import log_split
from training.stage import read_json, stage_main, start_tracking, write_json
from vision.errors import IdaasError
from vision.results import ClassifyResult
from vision.spec import ModelSpec

IMAGES_DIR = PLOTS_DIR / "images"
BASELINE_SIDE = 28  # raw-pixel baseline input: greyscale, this many pixels a side
RUN_ONLY = {"images_per_second"}  # logged to MLflow, kept out of metrics.json


def _decode(path: Path):
    from vision.image_input import decode_image

    return decode_image(path, allow_path=True)


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("L").resize((BASELINE_SIDE, BASELINE_SIDE)), dtype=np.float32).ravel() / 255.0


def _split_files(split: str, labels: list[str]) -> tuple[list[Path], np.ndarray]:
    files, ys = [], []
    for k, label in enumerate(labels):
        for path in sorted((CLASSIFY_DATA / split / label).glob("*")):
            files.append(path)
            ys.append(k)
    return files, np.array(ys)


def baselines(labels: list[str], test_y: np.ndarray, test_files: list[Path]) -> dict[str, float]:
    """Accuracy of the majority class and of a linear model on raw pixels, trained on the same train split."""
    from sklearn.linear_model import LogisticRegression

    train_files, train_y = _split_files("train", labels)
    majority = np.bincount(train_y, minlength=len(labels)).argmax()
    linear = LogisticRegression(max_iter=300)
    linear.fit(np.stack([_pixels(p) for p in train_files]), train_y)
    predicted = linear.predict(np.stack([_pixels(p) for p in test_files]))
    return {
        "baseline_majority_accuracy": float((test_y == majority).mean()),
        "baseline_linear_accuracy": float((predicted == test_y).mean()),
    }


def evaluate_classifier(params: Params) -> tuple[dict[str, float], list[Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from sklearn.metrics import ConfusionMatrixDisplay, classification_report, confusion_matrix, f1_score

    from vision.adapters import build_adapter

    spec = ModelSpec.load(CLASSIFIER_DIR / "spec.yaml")
    labels = list(spec.labels or [])
    adapter = build_adapter(spec, CLASSIFIER_DIR / "weights.pth", device=params.classifier.device)
    adapter.batch_size = params.classifier.batch_size
    files, truth = _split_files("test", labels)
    started = time.monotonic()
    answers = adapter.predict([_decode(p) for p in files], {"top_k": 1})
    top1 = []
    for path, answer in zip(files, answers):
        if not isinstance(answer, ClassifyResult):  # a test image the served model could not answer
            raise IdaasError(f"the classifier gave no answer for {path}: {getattr(answer, 'message', answer)}")
        top1.append(labels.index(answer.labels[0].label))
    predicted = np.array(top1)
    seconds = time.monotonic() - started
    metrics = {
        "top1_accuracy": float((predicted == truth).mean()),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "test_images": float(len(files)),
        "images_per_second": len(files) / max(seconds, 1e-9),
    }
    metrics |= baselines(labels, truth, files)

    pd.DataFrame({"actual": [labels[i] for i in truth], "predicted": [labels[i] for i in predicted]}).to_csv(
        PLOTS_DIR / "classifier_confusion.csv", index=False
    )
    history = read_json(CLASSIFIER_DIR / "train.json", "train_classifier")["history"]
    pd.DataFrame(history).to_csv(PLOTS_DIR / "classifier_history.csv", index=False)
    report = classification_report(
        truth, predicted, labels=range(len(labels)), target_names=labels, output_dict=True, zero_division=0
    )
    write_json(PLOTS_DIR / "classifier_report.json", report)
    fig, ax = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay(confusion_matrix(truth, predicted, labels=range(len(labels))), display_labels=labels).plot(
        ax=ax, xticks_rotation=45, colorbar=False
    )
    ax.set_title(f"{spec.name}\ntop-1 accuracy {metrics['top1_accuracy']:.3f} on {len(files)} held-out images")
    fig.tight_layout()
    fig.savefig(IMAGES_DIR / "classifier_confusion_matrix.png", dpi=100)
    plt.close(fig)
    artifacts = [
        PLOTS_DIR / "classifier_confusion.csv",
        PLOTS_DIR / "classifier_history.csv",
        PLOTS_DIR / "classifier_report.json",
        IMAGES_DIR / "classifier_confusion_matrix.png",
    ]
    return metrics, artifacts


def _sample_predictions(spec: ModelSpec, weights: Path, images: list[Path], device: str, out: Path) -> None:
    """The served adapter's answers drawn on held-out images, in one grid picture."""
    from PIL import Image

    from vision.adapters import build_adapter
    from vision.draw import draw
    from vision.results import ImageAnswer

    adapter = build_adapter(spec, weights, device=device)
    decoded = [_decode(p) for p in images]
    tiles = []
    for image, result in zip(decoded, adapter.predict(decoded, {"min_score": 0.25})):
        answer = ImageAnswer(width=image.width, height=image.height, results={"detect": result})
        tiles.append(draw(image.image, answer).resize((256, 256)))
    columns = 4
    grid = Image.new("RGB", (256 * columns, 256 * ((len(tiles) + columns - 1) // columns)), "white")
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % columns) * 256, (i // columns) * 256))
    grid.save(out, quality=85)  # a JPEG: the grid is a photo collage, and it is committed with the reports


def evaluate_detector(params: Params) -> tuple[dict[str, float], list[Path]]:
    import pandas as pd

    from training.train_detector import hold_cpu_threads, quiet_integrations, scratch_dir, ultralytics_device

    meta = read_json(DETECT_DATA / "dataset.json", "prepare")
    spec = ModelSpec.load(DETECTOR_DIR / "spec.yaml")
    weights = DETECTOR_DIR / "weights.pt"
    split = meta["eval_split"]
    device = ultralytics_device(params.detector.device)
    quiet_integrations()
    from ultralytics import YOLO

    with scratch_dir("evaluate-detector-") as tmp:
        work = Path(tmp)
        shutil.copytree(DETECT_DATA, work / "data")  # the validator writes label caches beside the labels
        model = YOLO(str(weights))
        hold_cpu_threads(model, params.threads)
        result = model.val(
            data=str(work / "data" / "data.yaml"),
            split=split,
            imgsz=params.detector.imgsz,
            batch=params.detector.batch,
            device=device,
            project=str(work / "runs"),
            name="val",
            exist_ok=True,
            plots=True,
            verbose=False,
        )
        box = result.box
        metrics = {
            "map50": float(box.map50),
            "map50_95": float(box.map),
            "precision": float(box.mp),
            "recall": float(box.mr),
            "test_images": float(len(list((DETECT_DATA / "images" / split).iterdir()))),
        }
        recall, precision = box.px, np.asarray(box.prec_values)
        mean_precision = precision.mean(axis=0) if precision.size else np.zeros_like(recall)
        # Every 10th of Ultralytics' 1000 recall points is plenty for a curve.
        pd.DataFrame({"recall": np.round(recall[::10], 4), "precision": np.round(mean_precision[::10], 4)}).to_csv(
            PLOTS_DIR / "detector_pr_curve.csv", index=False
        )
        pr_png = Path(result.save_dir) / "BoxPR_curve.png"
        if pr_png.exists():
            shutil.copy2(pr_png, IMAGES_DIR / "detector_pr_curve.png")
    held_out = sorted((DETECT_DATA / "images" / split).iterdir())[:8]
    _sample_predictions(spec, weights, held_out, params.detector.device, IMAGES_DIR / "detector_samples.jpg")
    artifacts = [PLOTS_DIR / "detector_pr_curve.csv", IMAGES_DIR / "detector_samples.jpg"]
    if (IMAGES_DIR / "detector_pr_curve.png").exists():
        artifacts.append(IMAGES_DIR / "detector_pr_curve.png")
    return metrics, artifacts


def _log(
    run_id: str,
    metrics: dict[str, float],
    artifacts: list[Path],
    meta: dict[str, Any],
    data: Path,
    records: list[dict[str, Any]],
) -> None:
    import mlflow

    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(metrics)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        log_split(meta, data, meta.get("eval_split", "test"), "testing", records)


def _for_dvc(metrics: dict[str, float]) -> dict[str, float | int]:
    # Speed depends on the machine, not the model: MLflow keeps it, `dvc metrics diff` would only be noisy.
    return {k: int(v) if k == "test_images" else round(v, 4) for k, v in metrics.items() if k not in RUN_ONLY}


def run(params: Params) -> None:
    """Evaluate the classifier and the detector on held-out data; write DVC metrics and plots."""
    from training.train_classifier import ImageFolderSplit
    from training.train_detector import split_records

    if PLOTS_DIR.exists():
        shutil.rmtree(PLOTS_DIR)
    IMAGES_DIR.mkdir(parents=True)
    clf_metrics, clf_artifacts = evaluate_classifier(params)
    det_metrics, det_artifacts = evaluate_detector(params)
    write_json(METRICS_FILE, {"classifier": _for_dvc(clf_metrics), "detector": _for_dvc(det_metrics)})

    start_tracking()
    clf_meta = read_json(CLASSIFY_DATA / "dataset.json", "prepare")
    det_meta = read_json(DETECT_DATA / "dataset.json", "prepare")
    test = ImageFolderSplit(CLASSIFY_DATA / "test", clf_meta["labels"], params.classifier.image_size)
    _log(
        read_json(CLASSIFIER_DIR / "train.json", "train_classifier")["run_id"],
        clf_metrics,
        clf_artifacts,
        {**clf_meta, "eval_split": "test"},
        CLASSIFY_DATA,
        test.records(CLASSIFY_DATA),
    )
    _log(
        read_json(DETECTOR_DIR / "train.json", "train_detector")["run_id"],
        det_metrics,
        det_artifacts,
        det_meta,
        DETECT_DATA,
        split_records(det_meta["eval_split"]),
    )
    print(
        f"evaluate: classifier top-1 {clf_metrics['top1_accuracy']:.3f} (majority "
        f"{clf_metrics['baseline_majority_accuracy']:.3f}, linear {clf_metrics['baseline_linear_accuracy']:.3f}); "
        f"detector mAP50 {det_metrics['map50']:.3f}, mAP50-95 {det_metrics['map50_95']:.3f} -> {METRICS_FILE}"
    )


main = stage_main("evaluate", run)

if __name__ == "__main__":
    main()
