"""Stage 2a, train_classifier: fine-tune an ImageNet network on the prepared labelled images.

Images go through exactly the transform the served model applies (vision's ``to_batch``),
so what the model learns here is what it sees behind the endpoint. Writes
models/classifier/{weights.pth, spec.yaml, train.json} and logs the run to MLflow:
parameters, per-epoch loss and accuracy, and the train/val splits as dataset inputs.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from training.config import CLASSIFIER_DIR, CLASSIFY_DATA, Params
from training.determinism import seed_worker
from training.lineage import data_version, log_split
from training.stage import read_json, stage_main, start_tracking, training_run, write_json
from vision.spec import ModelSpec

WEIGHTS_FILE = "weights.pth"


class ImageFolderSplit(Dataset):
    """One split of prepare's ImageFolder tree, labels in dataset.json's order."""

    def __init__(self, folder: Path, labels: list[str], size: int, flip: bool = False):
        self.items = [
            (path, k) for k, label in enumerate(labels) for path in sorted((folder / label).glob("*")) if path.is_file()
        ]
        self.size, self.flip = size, flip

    def __len__(self) -> int:
        return len(self.items)

    def records(self, root: Path) -> list[dict[str, object]]:
        return [{"file": p.relative_to(root).as_posix(), "label": p.parent.name} for p, _ in self.items]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[i]
        x = load_tensor(path, self.size)
        if self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, label


def load_tensor(path: Path, size: int) -> torch.Tensor:
    """A file through the serving transform: resize + centre-crop to ``size``, ImageNet-normalised."""
    from PIL import Image

    from vision.adapters.torchvision_nets import to_batch
    from vision.image_input import DecodedImage

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    return to_batch([DecodedImage(image=rgb, width=rgb.width, height=rgb.height, format="PNG")], size, size)[0]


def build_model(arch: str, base: Path | None, num_classes: int) -> nn.Module:
    """The architecture with its pretrained weights (when given) and a fresh num_classes head."""
    from vision.adapters.torchvision_nets import build_net, replace_head

    if base is None:
        return build_net(arch, num_classes, None)
    return replace_head(build_net(arch, 1000, base), num_classes)


def _epoch(net: nn.Module, loader: DataLoader, device: str, optimizer=None, scheduler=None) -> tuple[float, float]:
    """One pass; trains when an optimizer is given. Returns (mean loss, accuracy)."""
    net.train(optimizer is not None)
    loss_fn = nn.CrossEntropyLoss()
    total = correct = 0
    loss_sum = 0.0
    with torch.set_grad_enabled(optimizer is not None):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = net(x)
            loss = loss_fn(logits, y)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(-1) == y).sum())
            total += len(y)
    return loss_sum / max(total, 1), correct / max(total, 1)


def run(params: Params) -> None:
    """Fine-tune the classifier on data/classify and log the run to MLflow."""
    import mlflow

    from vision.adapters.base import pick_device
    from vision.weights import resolve_weights

    cfg = params.classifier
    base = resolve_weights(cfg.base_weights)  # WeightsUnavailableError names what is missing
    meta = read_json(CLASSIFY_DATA / "dataset.json", "prepare")
    labels = meta["labels"]
    device = pick_device(cfg.device)
    net = build_model(cfg.arch, base, len(labels)).to(device)
    train = ImageFolderSplit(CLASSIFY_DATA / "train", labels, cfg.image_size, flip=True)
    val = ImageFolderSplit(CLASSIFY_DATA / "val", labels, cfg.image_size)
    generator = torch.Generator().manual_seed(params.seed)
    train_loader = DataLoader(
        train,
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=cfg.workers,
        generator=generator,
        worker_init_fn=seed_worker,
        drop_last=len(train) > cfg.batch_size,
    )
    val_loader = DataLoader(val, batch_size=cfg.batch_size * 2, num_workers=cfg.workers, worker_init_fn=seed_worker)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.learning_rate, pct_start=0.15, total_steps=cfg.epochs * len(train_loader)
    )
    start_tracking()
    history = []
    started = time.monotonic()
    with training_run(f"train {cfg.name}", params) as active:
        mlflow.set_tags({"idaas.stage": "train_classifier", "idaas.model": cfg.name})
        mlflow.log_params(
            {
                **params.flat("classifier"),
                **params.flat("data.classify"),
                "seed": params.seed,
                "data.classify.used": meta["name"],
                "device.used": device,
            }
        )
        log_split(meta, CLASSIFY_DATA, "train", "training", train.records(CLASSIFY_DATA))
        log_split(meta, CLASSIFY_DATA, "val", "validation", val.records(CLASSIFY_DATA))
        for epoch in range(1, cfg.epochs + 1):
            tick = time.monotonic()
            train_loss, train_acc = _epoch(net, train_loader, device, optimizer, scheduler)
            val_loss, val_acc = _epoch(net, val_loader, device)
            row = {
                "train_loss": train_loss,
                "train_accuracy": train_acc,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "epoch_seconds": time.monotonic() - tick,
            }
            mlflow.log_metrics(row, step=epoch)
            history.append({"epoch": epoch, **row})
            print(
                f"train_classifier: epoch {epoch}/{cfg.epochs} loss {train_loss:.3f} acc {train_acc:.3f} "
                f"val_loss {val_loss:.3f} val_acc {val_acc:.3f} ({row['epoch_seconds']:.0f}s)",
                flush=True,
            )
        seconds = time.monotonic() - started
        mlflow.log_metric("train_seconds", seconds)
        run_id, experiment_id = active.info.run_id, active.info.experiment_id

    CLASSIFIER_DIR.mkdir(parents=True, exist_ok=True)
    torch.save(net.cpu().state_dict(), CLASSIFIER_DIR / WEIGHTS_FILE)
    spec = ModelSpec(
        name=cfg.name,
        task="classify",
        family="torchvision",
        labels=labels,
        options={"arch": cfg.arch, "input_size": cfg.image_size, "resize": cfg.image_size},
        description=f"{cfg.arch} fine-tuned from {cfg.base_weights or 'scratch'} on {meta['name']} "
        f"({meta['counts']['train']} training images, {cfg.epochs} epochs)",
    )
    spec.save(CLASSIFIER_DIR / "spec.yaml")
    write_json(
        CLASSIFIER_DIR / "train.json",
        {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "device": device,
            "train_seconds": round(seconds, 1),
            "cpu_threads": torch.get_num_threads(),
            "history": history,
            "data": data_version(CLASSIFY_DATA, meta),
        },
    )
    print(f"train_classifier: {cfg.name} trained in {seconds:.0f}s -> {CLASSIFIER_DIR} (MLflow run {run_id})")


main = stage_main(
    "train_classifier",
    run,
    {
        "epochs": "classifier.epochs",
        "batch-size": "classifier.batch_size",
        "learning-rate": "classifier.learning_rate",
        "image-size": "classifier.image_size",
        "base-weights": "classifier.base_weights",
        "device": "classifier.device",
    },
)

if __name__ == "__main__":
    main()
