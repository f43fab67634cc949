"""The pipeline's one config: params.yaml, validated, plus where each stage reads and writes.

params.yaml is what DVC tracks (a changed value reruns exactly the stages that use it) and
what MLflow logs (flattened to dotted keys). Every stage loads the whole file through
``load_params`` so a typo anywhere stops the pipeline before it trains anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from registry.reviews import ExpectedImpact, Risk
from vision.errors import ErrorCode, IdaasError

PARAMS_FILE = Path("params.yaml")

# Stage outputs, relative to the pipeline root (the folder holding dvc.yaml); dvc.yaml
# names the same paths as its deps/outs.
CLASSIFY_DATA = Path("data/classify")  # ImageFolder tree: {train,val,test}/<label>/*.png + dataset.json
DETECT_DATA = Path("data/detect")  # YOLO layout: images|labels/{train,val,test}, data.yaml, dataset.json
CLASSIFIER_DIR = Path("models/classifier")  # weights.pth, spec.yaml, train.json
DETECTOR_DIR = Path("models/detector")  # weights.pt, spec.yaml, train.json
METRICS_FILE = Path("reports/metrics.json")
PLOTS_DIR = Path("reports/plots")
REGISTERED_FILE = Path("reports/registered.json")

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSIFY_SOURCES = ("auto", "fashion-mnist", "digits")


class ParamsError(IdaasError):
    """params.yaml is missing, malformed or names something that is not there."""

    code = ErrorCode.BAD_REQUEST


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassifyData(_Section):
    source: str = Field(
        "auto",
        description="auto (Fashion-MNIST when installed, else digits), fashion-mnist, "
        "digits, or a folder with one sub-folder of images per class",
    )
    fashion_mnist_dir: Path = FASHION_MNIST_DIR
    train_per_class: int | None = Field(500, ge=1, description="None = every training image")
    val_per_class: int = Field(50, ge=1)
    test_per_class: int | None = Field(200, ge=1, description="None = the whole held-out test set")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="for a folder source: share held out for validation")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="for a folder source: share held out for testing")

    @model_validator(mode="after")
    def _source_exists(self) -> ClassifyData:
        if self.source == "fashion-mnist" and not (self.fashion_mnist_dir / "train-images-idx3-ubyte.gz").exists():
            raise ValueError(
                f"source is fashion-mnist but {self.fashion_mnist_dir} has no Fashion-MNIST files "
                "(apt-get install dataset-fashion-mnist, or set source: auto)"
            )
        if self.source not in CLASSIFY_SOURCES and not Path(self.source).is_dir():
            raise ValueError(
                f"source {self.source!r} is neither one of {', '.join(CLASSIFY_SOURCES)} nor an existing folder"
            )
        return self


class DetectData(_Section):
    source: str = Field("synthetic", description="synthetic (items pasted onto photo crops) or a YOLO data.yaml")
    classes: list[str] | None = Field(
        None,
        description="synthetic: which source labels become object classes; "
        "None = trouser, sneaker, bag (or digits 0, 1, 7)",
    )
    image_size: int = Field(160, ge=32)
    train_images: int = Field(400, ge=1)
    val_images: int = Field(80, ge=1)
    test_images: int = Field(120, ge=1)
    objects_per_image: tuple[int, int] = (1, 3)
    object_size: tuple[int, int] = Field((40, 72), description="longest side of a pasted item, px")

    @field_validator("objects_per_image", "object_size")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high:
            raise ValueError(f"must be [low, high] with 1 <= low <= high, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _source_exists(self) -> DetectData:
        if self.source != "synthetic" and not Path(self.source).is_file():
            raise ValueError(f"source {self.source!r} is neither 'synthetic' nor an existing YOLO data.yaml")
        if self.source == "synthetic":
            if self.classes is not None and not self.classes:
                raise ValueError("classes must name at least one label, or be null for the default ones")
            if self.object_size[1] > self.image_size:
                raise ValueError(f"object_size {list(self.object_size)} does not fit image_size {self.image_size}")
        return self


class Data(_Section):
    classify: ClassifyData = ClassifyData()
    detect: DetectData = DetectData()


class Classifier(_Section):
    name: str = "classify-fashion-mobilenet-v2"
    arch: str = "mobilenet_v2"
    base_weights: str | None = Field(
        "pack:mobilenet_v2", description="a weight source (vision.weights); None trains from scratch"
    )
    image_size: int = Field(64, ge=16, description="square input side; the served model resizes to it")
    epochs: int = Field(2, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    workers: int = Field(0, ge=0, description="DataLoader worker processes")


class Detector(_Section):
    name: str = "detect-fashion-yolov8n"
    model: str = Field("yolov8n.yaml", description="an Ultralytics model config (trains from scratch) ...")
    base_weights: str | None = Field(
        None, description="... or a weight source for a .pt to fine-tune: a path or ultralytics:yolov8n.pt"
    )
    imgsz: int = Field(160, ge=32)
    epochs: int = Field(20, ge=1)
    batch: int = Field(16, ge=1)
    device: str = Field("auto", description="auto, cpu, cuda, 0, 0,1 ...")
    workers: int = Field(2, ge=0)
    patience: int = Field(100, ge=1)
    train_args: dict[str, Any] = Field(default_factory=dict, description="any other Ultralytics train() argument")

    @field_validator("model")
    @classmethod
    def _yaml_config(cls, value: str) -> str:
        if not value.endswith((".yaml", ".yml")):
            raise ValueError(f"model must be an Ultralytics .yaml config, got {value!r}; put a .pt in base_weights")
        return value


class ReviewDraft(_Section):
    """What the draft impact review of a new candidate says beyond the measured metrics."""

    question: str = Field(min_length=1, description="the business question the model answers")
    business_metric: str = "not chosen yet (the reviewer sets it)"
    expected_impact: ExpectedImpact = ExpectedImpact(low=0, high=0, unit="not estimated yet")
    risks: list[Risk] = Field(default_factory=list)
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="metric -> minimum the production gate requires"
    )


class Registration(_Section):
    alias: str = Field("candidate", min_length=1)
    reviewer: str | None = Field(None, description="None = the user running the pipeline")
    classifier: ReviewDraft = ReviewDraft(
        question="Which kind of clothing item does a product photo show?", thresholds={"top1_accuracy": 0.8}
    )
    detector: ReviewDraft = ReviewDraft(
        question="Where in a photo are the trousers, sneakers and bags?", thresholds={"map50": 0.5}
    )


class Params(_Section):
    seed: int = 0
    threads: int = Field(
        2, ge=1, description="torch's CPU threads; a rerun repeats the metrics exactly only with the same count"
    )
    data: Data = Data()
    classifier: Classifier = Classifier()
    detector: Detector = Detector()
    registration: Registration = Registration()

    def flat(self, section: str | None = None) -> dict[str, str]:
        """Dotted key -> value, for MLflow's run parameters."""
        tree = self.model_dump(mode="json")
        if section:
            tree = {section: _dig(tree, section.split("."))}
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict) and value:
                for key, sub in value.items():
                    walk(f"{prefix}.{key}" if prefix else key, sub)
            else:
                out[prefix] = str(value)

        walk("", tree)
        return out


def _dig(tree: dict[str, Any], keys: list[str]) -> Any:
    for key in keys:
        tree = tree[key]
    return tree


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
        if not isinstance(tree, dict):
            raise ParamsError(f"cannot set {dotted}: {key} is not a section")
    tree[keys[-1]] = value


def _one_line(exc: ValidationError, path: Path) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown parameter"
        elif not isinstance(err.get("input"), (dict, list)) and not err["type"].startswith("value_error"):
            message += f" (got {err.get('input')!r})"
        parts.append(f"{where}: {message}" if where else message)
    return f"{path}: " + "; ".join(parts)


def load_params(path: Path | str = PARAMS_FILE, overrides: dict[str, str] | None = None) -> Params:
    """Read and validate params.yaml; ``overrides`` (dotted key -> YAML text) win over the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParamsError(f"no parameter file at {path}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must hold a mapping of sections")
    for dotted, text in (overrides or {}).items():
        _set(raw, dotted, yaml.safe_load(text))
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_one_line(exc, path)) from None
