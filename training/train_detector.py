"""Stage 2b, train_detector: train an Ultralytics YOLO detector on the prepared YOLO dataset.

Trains from a model config (``yolov8n.yaml``: no COCO weights exist offline) unless
params.yaml names base weights to fine-tune. Ultralytics works in a scratch copy of the
dataset (it writes label caches next to the labels, which would change a DVC output) and its
own MLflow/DVC/cloud loggers are off: this stage logs the run itself. Writes
models/detector/{weights.pt, spec.yaml, train.json}.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from training.config import DETECT_DATA, DETECTOR_DIR, Params
from training.lineage import data_version, log_split
from training.stage import read_json, stage_main, start_tracking, training_run, write_json
from vision.errors import IdaasError
from vision.spec import ModelSpec

WEIGHTS_FILE = "weights.pt"
# Integrations Ultralytics switches on by default; each would log this run a second time elsewhere.
_INTEGRATIONS = ("mlflow", "sync", "dvc", "clearml", "comet", "raytune", "wandb", "tensorboard", "neptune")
_TRAINING_PLOTS = (
    "results.png",
    "BoxPR_curve.png",
    "BoxF1_curve.png",
    "confusion_matrix_normalized.png",
    "labels.jpg",
    "train_batch0.jpg",
    "val_batch0_pred.jpg",
    "results.csv",
)


def quiet_integrations() -> None:
    from vision.settings import quiet_ultralytics as quiet_core

    quiet_core()
    from ultralytics import settings

    off = {key: False for key in _INTEGRATIONS if settings.get(key)}
    if off:
        settings.update(off)


def hold_cpu_threads(model, threads: int) -> None:
    """Keep torch at ``threads`` CPU threads through Ultralytics' training and validation.

    Ultralytics sets its own count (cores - 1, at most 8) whenever it picks a CPU device, which
    would make a run's numbers depend on the machine's core count rather than params.yaml.
    """
    import torch

    def restore(_) -> None:
        torch.set_num_threads(threads)

    for event in ("on_pretrain_routine_start", "on_val_start"):  # both run after the device is picked
        model.add_callback(event, restore)


def ultralytics_device(wanted: str) -> str:
    from vision.adapters.base import pick_device

    return pick_device(wanted) if wanted == "auto" else wanted


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder in the data directory (Ultralytics writes runs and caches there)."""
    from vision.settings import get_settings

    root = get_settings().home / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=root)


def split_records(split: str) -> list[dict[str, Any]]:
    """One row per image of a YOLO split: its file, object count and labels."""
    names = read_json(DETECT_DATA / "dataset.json", "prepare")["classes"]
    rows = []
    for image in sorted((DETECT_DATA / "images" / split).iterdir()):
        label_file = DETECT_DATA / "labels" / split / f"{image.stem}.txt"
        ids = (
            [int(line.split()[0]) for line in label_file.read_text().splitlines() if line.strip()]
            if label_file.exists()
            else []
        )
        rows.append(
            {
                "file": image.relative_to(DETECT_DATA).as_posix(),
                "objects": len(ids),
                "labels": ",".join(names[i] for i in ids),
            }
        )
    return rows


def _metric_name(key: str) -> str:
    # "metrics/mAP50-95(B)" -> "val_map50-95"; MLflow refuses parentheses in metric names.
    key = key.replace("metrics/", "val_").replace("(B)", "").replace("/", "_")
    return re.sub(r"[^A-Za-z0-9_.\- ]", "", key).lower()


def run(params: Params) -> None:
    """Train the YOLO detector on data/detect and log the run to MLflow."""
    import mlflow
    import torch

    from vision.weights import resolve_weights

    cfg = params.detector
    base = resolve_weights(cfg.base_weights)  # WeightsUnavailableError names what is missing
    meta = read_json(DETECT_DATA / "dataset.json", "prepare")
    device = ultralytics_device(cfg.device)
    quiet_integrations()
    from ultralytics import YOLO

    start_tracking()
    with scratch_dir("train-detector-") as tmp, training_run(f"train {cfg.name}", params) as active:
        work = Path(tmp)
        shutil.copytree(DETECT_DATA, work / "data")
        mlflow.set_tags({"idaas.stage": "train_detector", "idaas.model": cfg.name})
        mlflow.log_params(
            {
                **params.flat("detector"),
                **params.flat("data.detect"),
                "seed": params.seed,
                "data.detect.used": meta["name"],
                "device.used": device,
                "detector.start": str(cfg.base_weights or cfg.model),
            }
        )
        log_split(meta, DETECT_DATA, "train", "training", split_records("train"))
        log_split(meta, DETECT_DATA, "val", "validation", split_records("val"))

        model = YOLO(str(base) if base else cfg.model)

        hold_cpu_threads(model, params.threads)
        logged_epochs: set[int] = set()
        threads_seen: set[int] = set()

        def log_epoch(trainer) -> None:
            # Ultralytics fires this once more after training, for its validation of best.pt
            # (with the epoch counter moved on); evaluate scores that checkpoint on held-out data.
            epoch = trainer.epoch + 1
            if epoch in logged_epochs or epoch > trainer.epochs:
                return
            logged_epochs.add(epoch)
            threads_seen.add(torch.get_num_threads())
            values = {**trainer.label_loss_items(trainer.tloss, prefix="train"), **trainer.metrics}
            mlflow.log_metrics({_metric_name(k): float(v) for k, v in values.items()}, step=epoch)

        model.add_callback("on_fit_epoch_end", log_epoch)
        started = time.monotonic()
        args = {
            "data": str(work / "data" / "data.yaml"),
            "epochs": cfg.epochs,
            "imgsz": cfg.imgsz,
            "batch": cfg.batch,
            "device": device,
            "workers": cfg.workers,
            "patience": cfg.patience,
            "seed": params.seed,
            "deterministic": True,
            "project": str(work / "runs"),
            "name": "train",
            "exist_ok": True,
            "verbose": False,
            **cfg.train_args,
        }
        model.train(**args)
        seconds = time.monotonic() - started
        trainer = model.trainer
        if trainer is None:  # train() returned without training
            raise IdaasError("Ultralytics finished without a trainer; nothing was trained")
        best = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
        mlflow.log_metric("train_seconds", seconds)
        for name in _TRAINING_PLOTS:
            if (Path(trainer.save_dir) / name).exists():
                mlflow.log_artifact(str(Path(trainer.save_dir) / name), artifact_path="training")
        DETECTOR_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy2(best, DETECTOR_DIR / WEIGHTS_FILE)
        run_id, experiment_id = active.info.run_id, active.info.experiment_id

    spec = ModelSpec(
        name=cfg.name,
        task="detect",
        family="yolo",
        labels=list(meta["classes"]),
        options={"imgsz": cfg.imgsz},
        description=f"YOLO ({Path(str(cfg.base_weights or cfg.model)).stem}) trained on {meta['name']} "
        f"({meta['counts']['train']} training images, {cfg.epochs} epochs)",
    )
    spec.save(DETECTOR_DIR / "spec.yaml")
    write_json(
        DETECTOR_DIR / "train.json",
        {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "device": device,
            "train_seconds": round(seconds, 1),
            "epochs_run": int(trainer.epoch) + 1,
            "cpu_threads": sorted(threads_seen),
            "data": data_version(DETECT_DATA, meta),
        },
    )
    print(f"train_detector: {cfg.name} trained in {seconds:.0f}s -> {DETECTOR_DIR} (MLflow run {run_id})")


main = stage_main(
    "train_detector",
    run,
    {
        "epochs": "detector.epochs",
        "imgsz": "detector.imgsz",
        "batch": "detector.batch",
        "base-weights": "detector.base_weights",
        "device": "detector.device",
    },
)

if __name__ == "__main__":
    main()
