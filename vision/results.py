"""Result types: the single source of the wire JSON (docs/wire-contract.md).

Every task answer is a pydantic model; ``ImageAnswer.to_wire()`` is the only place an
answer becomes the JSON a client sees. Boxes are ``[x1, y1, x2, y2]`` in pixels of the
original, upright image.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Box = list[float]  # [x1, y1, x2, y2]
Point = list[float]  # [x, y]


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: ClassVar[str] = ""

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Label(BaseModel):
    label: str
    score: float


class ClassifyResult(_Result):
    task: ClassVar[str] = "classify"
    labels: list[Label]


class ZeroShotResult(_Result):
    task: ClassVar[str] = "zeroshot"
    labels: list[Label]


class DetectedObject(BaseModel):
    label: str
    score: float
    box: Box


class DetectResult(_Result):
    task: ClassVar[str] = "detect"
    objects: list[DetectedObject]


AbstentionCode = Literal["face_too_small", "occluded_landmarks", "grayscale", "low_contrast", "low_confidence"]
AttributeState = Literal["yes", "no", "unknown"]


class Face(BaseModel):
    box: Box
    score: float
    landmarks: dict[str, Point] = Field(default_factory=dict)
    attributes: dict[str, float | None] = Field(
        default_factory=dict, description="score in [0, 1] per attribute; null when the scorer abstained")
    abstentions: dict[str, AbstentionCode] = Field(
        default_factory=dict, description="why each null attribute was not scored (vision/face_quality.py)")

    def state(self, attribute: str, threshold: float = 0.5) -> AttributeState | None:
        """yes / no / unknown (abstained) for one attribute; None when it was not scored at all."""
        if attribute not in self.attributes:
            return None
        value = self.attributes[attribute]
        if value is None:
            return "unknown"
        return "yes" if value >= threshold else "no"

    def attribute_text(self, attribute: str) -> str:
        """"sunglasses 0.98" or "sunglasses unknown (grayscale)", for people reading summaries."""
        value = self.attributes.get(attribute)
        if value is None:
            return f"{attribute} unknown ({self.abstentions.get(attribute, 'abstained')})"
        return f"{attribute} {value:.2f}"


class FacesResult(_Result):
    task: ClassVar[str] = "faces"
    faces: list[Face]


class CaptionResult(_Result):
    task: ClassVar[str] = "caption"
    caption: str


class OcrLine(BaseModel):
    text: str
    score: float
    box: Box
    polygon: list[Point] = Field(default_factory=list, description="the detector's 4 corner points, clockwise")


class OcrResult(_Result):
    task: ClassVar[str] = "ocr"
    text: str
    lines: list[OcrLine]


class EmbedResult(_Result):
    task: ClassVar[str] = "embed"
    dim: int
    vector: list[float]


class DominantColor(BaseModel):
    hex: str
    rgb: list[int]
    fraction: float


class PropertiesResult(_Result):
    task: ClassVar[str] = "properties"
    width: int
    height: int
    brightness: float = Field(description="mean luma, 0 (black) to 1 (white)")
    contrast: float = Field(description="standard deviation of luma, 0 to 0.5")
    sharpness: float = Field(description="variance of the Laplacian of luma at a fixed 512 px scale; low = blurred")
    dominant_colors: list[DominantColor]


class DescribeResult(_Result):
    task: ClassVar[str] = "describe"
    text: str


TaskResult = (ClassifyResult | ZeroShotResult | DetectResult | FacesResult | CaptionResult | OcrResult
              | EmbedResult | PropertiesResult | DescribeResult)

RESULT_TYPES: dict[str, type[_Result]] = {
    cls.task: cls
    for cls in (ClassifyResult, ZeroShotResult, DetectResult, FacesResult, CaptionResult, OcrResult,
                EmbedResult, PropertiesResult, DescribeResult)
}
TASKS: tuple[str, ...] = tuple(RESULT_TYPES)


class ErrorInfo(BaseModel):
    code: str
    message: str


class ImageAnswer(BaseModel):
    """Everything known about one image: the wire row of docs/wire-contract.md."""

    id: str | None = None
    width: int | None = None
    height: int | None = None
    results: dict[str, TaskResult] = Field(default_factory=dict)
    task_errors: dict[str, ErrorInfo] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)
    error: ErrorInfo | None = None

    def to_wire(self) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "width": self.width, "height": self.height}
        for task, result in self.results.items():
            row[task] = result.to_wire()
        for task, err in self.task_errors.items():
            # A task that failed for this image only says so under its own key.
            row[task] = {"error": err.model_dump()}
        row["models"] = dict(self.models)
        row["error"] = self.error.model_dump() if self.error else None
        return row

    @classmethod
    def from_wire(cls, row: dict[str, Any]) -> "ImageAnswer":
        results: dict[str, TaskResult] = {}
        task_errors: dict[str, ErrorInfo] = {}
        for task, cls_ in RESULT_TYPES.items():
            value = row.get(task)
            if value is None:
                continue
            if isinstance(value, dict) and set(value) == {"error"}:
                task_errors[task] = ErrorInfo(**value["error"])
            else:
                results[task] = cls_.model_validate(value)
        error = row.get("error")
        return cls(id=row.get("id"), width=row.get("width"), height=row.get("height"), results=results,
                   task_errors=task_errors, models=row.get("models") or {},
                   error=ErrorInfo(**error) if error else None)
