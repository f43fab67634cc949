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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

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


def conv_layout(device: str) -> Any:
    """The memory format convolutional networks with a fixed input size run in on ``device``:
    channels_last on the CPU, where oneDNN runs MobileNetV2 in it 1.4x faster than in NCHW
    with the same answers on the bundled photos; the default layout elsewhere (not measured
    there). Not for networks fed many input shapes (MTCNN): each shape caches its own kernels."""
    import torch

    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


class NoParams(BaseModel):
    """The parameters of a family that takes none."""

    model_config = ConfigDict(extra="ignore")


def _describe_error(error: Mapping[str, Any]) -> str:
    name = ".".join(str(part) for part in error.get("loc", ())) or "parameters"
    message = str(error.get("msg", "is invalid")).replace("Input should be", "must be")
    message = message[0].lower() + message[1:] if message else message
    value = error.get("input")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"parameter {name!r} {message}, got {shown}"


def parameter_errors(exc: ValidationError) -> list[str]:
    """Every problem of a parameter set, one plain line each (for one 400 that lists them all)."""
    return [_describe_error(error) for error in exc.errors(include_url=False)]


class Adapter(ABC):
    """One model family. Subclasses set the class attributes and the three steps."""

    task: ClassVar[str]
    family: ClassVar[str]
    #: the per-request parameters this family takes, with types, defaults and ranges; the
    #: MLflow ParamSchema of every bundle is derived from these (registry/signature.py)
    Params: ClassVar[type[BaseModel]] = NoParams
    #: the parameters that change preprocess/forward; None = all of them. Images whose other
    #: parameters differ share one forward pass in the engine (vision/engine).
    forward_params: ClassVar[tuple[str, ...] | None] = None
    #: whether load() needs weights (model-free families run on a small CPU pool in the engine)
    needs_weights: ClassVar[bool] = True
    #: the engine's batch cap for this family when neither the spec nor IDAAS_MAX_BATCH says
    default_max_batch: ClassVar[int | None] = None
    #: the packages (PyPI names) this family imports beyond the core: a logged version pins them
    requirements: ClassVar[tuple[str, ...]] = ()
    #: when the weights are a folder holding more than the model reads: the entries to copy into
    #: a registered version (exact names), or one glob per file (the first match of each, sorted)
    weight_files: ClassVar[tuple[str, ...]] = ()
    weight_globs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: ModelSpec, weights: Path | None = None, device: str | None = None):
        if spec.task != self.task:
            raise IdaasError(
                f"model {spec.name!r} is a {spec.task!r} model, not {self.task!r}", ErrorCode.BAD_MODEL_SPEC
            )
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
    def postprocess(self, raw: Any, images: Sequence[DecodedImage], params: dict[str, Any]) -> Sequence[TaskResult]:
        """Raw outputs to one result per image, boxes in original pixels."""

    # --- shared machinery ---------------------------------------------------------------
    @property
    def use_half(self) -> bool:
        return self.device.startswith("cuda") and bool(self.spec.options.get("half", True))

    def param_types(self) -> dict[str, type]:
        """Name -> Python type of every parameter this family declares."""
        return {name: field.annotation for name, field in self.Params.model_fields.items()}  # type: ignore[misc]

    def resolve_params(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """Keep only the parameters this family declares, typed and range-checked.

        Defaults come from the Params model, overridden by the spec's ``options.defaults``;
        every invalid value is reported in one BadRequestError.
        """
        fields = self.Params.model_fields
        defaults = {k: v for k, v in self.spec.options.get("defaults", {}).items() if k in fields}
        mine = {k: v for k, v in (given or {}).items() if k in fields and v is not None}
        try:
            return self.Params.model_validate({**defaults, **mine}).model_dump()
        except ValidationError as exc:
            raise BadRequestError("; ".join(parameter_errors(exc))) from None

    def forward_key(self, params: dict[str, Any]) -> tuple:
        """What must be equal for two images to share a forward pass (see ``forward_params``)."""
        if self.forward_params is None:
            return parameters_key(params)
        return parameters_key({name: params.get(name) for name in self.forward_params})

    def _run(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> Sequence[TaskResult]:
        import torch

        with torch.inference_mode():
            return self.postprocess(self.forward(self.preprocess(images, params), params), images, params)

    def predict(
        self, images: Sequence[DecodedImage], params: dict[str, Any] | None = None
    ) -> list[TaskResult | IdaasError]:
        """Answer for every image, in order; an image that breaks the model fails alone."""
        resolved = self.resolve_params(params)
        out: list[TaskResult | IdaasError] = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start : start + self.batch_size])
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
                        out.append(
                            IdaasError(
                                f"{self.spec.name} could not process this image: {type(exc).__name__}",
                                ErrorCode.INFERENCE_FAILED,
                            )
                        )
        return out


def parameters_key(params: dict[str, Any]) -> tuple:
    """A hashable key of resolved parameters (equal parameters, equal keys)."""
    return tuple((name, _hashable(params[name])) for name in sorted(params))


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
