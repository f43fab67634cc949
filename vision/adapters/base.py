"""The adapter contract: every model family turns decoded images into task results in three
steps (``preprocess`` -> ``forward`` -> ``postprocess``), like a transformers pipeline.

The base class owns what is the same for every family: parameter routing and checking,
batching, device choice, ``torch.inference_mode``, a lock (the MLflow scoring server calls
``predict`` from several threads at once) and per-image failure isolation.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Sequence

from vision.errors import BadRequestError, ErrorCode, IdaasError
from vision.image_input import DecodedImage
from vision.results import TaskResult
from vision.settings import get_settings
from vision.spec import ModelSpec

log = logging.getLogger(__name__)


def pick_device(wanted: str | None = None) -> str:
    """'auto' means the first CUDA device when there is one, else the CPU."""
    wanted = wanted or get_settings().device
    if wanted != "auto":
        return wanted
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def coerce_param(name: str, value: Any, default: Any) -> Any:
    """Convert a request parameter to its declared type, or refuse it with a plain message."""
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "1")
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
        if kind is str:
            if isinstance(value, (list, tuple)):
                return ",".join(str(v) for v in value)
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise BadRequestError(f"parameter {name!r} must be a {kind.__name__}, got {value!r}")


class Adapter(ABC):
    """One model family. Subclasses set the class attributes and the three steps."""

    task: ClassVar[str]
    family: ClassVar[str]
    #: per-request parameters this family takes, name -> default (the type is the default's)
    params: ClassVar[dict[str, Any]] = {}
    #: ranges for numeric parameters, name -> (low, high), both inclusive
    param_ranges: ClassVar[dict[str, tuple[float, float]]] = {}
    #: whether load() needs weights
    needs_weights: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec, weights: Path | None = None, device: str | None = None):
        if spec.task != self.task:
            raise IdaasError(f"model {spec.name!r} is a {spec.task!r} model, not {self.task!r}", ErrorCode.BAD_MODEL_SPEC)
        if self.needs_weights and weights is None:
            raise IdaasError(f"model {spec.name!r} ({self.family}) needs weights", ErrorCode.BAD_MODEL_SPEC)
        self.spec = spec
        self.device = pick_device(device)
        self.batch_size = int(spec.options.get("batch_size", get_settings().batch_size))
        self._lock = threading.Lock()
        self.load(weights)

    # --- what a family implements -------------------------------------------------------
    @abstractmethod
    def load(self, weights: Path | None) -> None:
        """Build the model from a local file or folder (never the network)."""

    @property
    def min_side(self) -> int | None:
        """Shortest side (px) this model needs from the decoder; None keeps full resolution."""
        return self.spec.options.get("min_side")

    @abstractmethod
    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> Any:
        """Images to one model batch."""

    @abstractmethod
    def forward(self, batch: Any, params: dict[str, Any]) -> Any:
        """Batch to raw model outputs; runs under torch.inference_mode."""

    @abstractmethod
    def postprocess(self, raw: Any, images: Sequence[DecodedImage], params: dict[str, Any]) -> list[TaskResult]:
        """Raw outputs to one result per image, boxes in original pixels."""

    # --- shared machinery ---------------------------------------------------------------
    @property
    def use_half(self) -> bool:
        return self.device.startswith("cuda") and bool(self.spec.options.get("half", True))

    def resolve_params(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """Keep only the parameters this family declares, typed and range-checked."""
        defaults = {**self.params, **{k: v for k, v in self.spec.options.get("defaults", {}).items() if k in self.params}}
        resolved = dict(defaults)
        for name, value in (given or {}).items():
            if name in self.params and value is not None:
                resolved[name] = coerce_param(name, value, self.params[name])
        for name, (low, high) in self.param_ranges.items():
            if not low <= resolved[name] <= high:
                raise BadRequestError(f"parameter {name!r} must be between {low} and {high}, got {resolved[name]!r}")
        return resolved

    def _run(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> list[TaskResult]:
        import torch

        with torch.inference_mode():
            return self.postprocess(self.forward(self.preprocess(images, params), params), images, params)

    def predict(self, images: Sequence[DecodedImage], params: dict[str, Any] | None = None
                ) -> list[TaskResult | IdaasError]:
        """Answer for every image, in order; an image that breaks the model fails alone."""
        resolved = self.resolve_params(params)
        out: list[TaskResult | IdaasError] = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start:start + self.batch_size])
            with self._lock:
                try:
                    out.extend(self._run(chunk, resolved))
                    continue
                except IdaasError:
                    raise
                except Exception:  # one bad image must not fail its batch: retry one by one
                    log.exception("%s: batch of %d failed; retrying images one by one", self.spec.name, len(chunk))
                for image in chunk:
                    try:
                        out.extend(self._run([image], resolved))
                    except Exception as exc:  # noqa: BLE001 - reported per image, with a stable code
                        log.exception("%s failed on one image", self.spec.name)
                        out.append(IdaasError(f"{self.spec.name} could not process this image: {type(exc).__name__}",
                                              ErrorCode.INFERENCE_FAILED))
        return out
