"""Result types: the single source of the wire JSON (docs/wire-contract.md).

Every task answer is a pydantic model; ``ImageAnswer.to_wire()`` is the only place an
answer becomes the JSON a client sees. Boxes are ``[x1, y1, x2, y2]`` in pixels of the
original, upright image.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Box = list[float]  # [x1, y1, x2, y2]
Point = list[float]  # [x, y]
# What two versions' answers are compared by (registry/compare.py): a key that must match, a
# representative score, and a vector for answers compared by cosine similarity (embeddings).
ComparisonKey = tuple[str, "float | None", "list[float] | None"]


class Painter(Protocol):
    """What a result draws with (vision/draw.py implements it on a PIL canvas)."""

    def box(self, task: str, box: Box, text: str) -> None: ...

    def dots(self, task: str, points: list[Point]) -> None: ...

    def polygon(self, task: str, points: list[Point]) -> None: ...


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class _Result(BaseModel):
    """A task's answer. Each kind presents itself: as wire JSON, as lines for a person at a
    terminal, as the key two versions are compared by, and drawn on its picture."""

    model_config = ConfigDict(extra="forbid")
    task: ClassVar[str] = ""

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def summary(self) -> list[str]:
        """A few words (first line) and detail lines, for people reading a terminal."""
        return [str(self.to_wire())]

    def comparison_key(self) -> ComparisonKey:
        import json

        return json.dumps(self.to_wire(), sort_keys=True), None, None

    def draw(self, painter: Painter) -> None:
        """Draw this answer on its picture (most answers have nothing to draw)."""


class Label(BaseModel):
    label: str
    score: float


class _LabelsResult(_Result):
    labels: list[Label]

    def summary(self) -> list[str]:
        return [", ".join(f"{lb.label} {lb.score:.2f}" for lb in self.labels[:5]) or "none"]

    def comparison_key(self) -> ComparisonKey:
        return (self.labels[0].label, self.labels[0].score, None) if self.labels else ("(none)", None, None)


class ClassifyResult(_LabelsResult):
    task: ClassVar[str] = "classify"


class ZeroShotResult(_LabelsResult):
    task: ClassVar[str] = "zeroshot"


class DetectedObject(BaseModel):
    label: str
    score: float
    box: Box


class DetectResult(_Result):
    task: ClassVar[str] = "detect"
    objects: list[DetectedObject]

    def summary(self) -> list[str]:
        return [", ".join(f"{o.label} {o.score:.2f}" for o in self.objects[:10]) or "none"]

    def comparison_key(self) -> ComparisonKey:
        counts = Counter(o.label for o in self.objects)
        key = ", ".join(f"{label} x{n}" for label, n in sorted(counts.items())) or "(none)"
        return key, _mean([o.score for o in self.objects]), None

    def draw(self, painter: Painter) -> None:
        for obj in self.objects:
            painter.box(self.task, obj.box, f"{obj.label} {obj.score:.2f}")


AbstentionCode = Literal["face_too_small", "occluded_landmarks", "grayscale", "low_contrast", "low_confidence"]
AttributeState = Literal["yes", "no", "unknown"]


class Face(BaseModel):
    box: Box
    score: float
    landmarks: dict[str, Point] = Field(default_factory=dict)
    attributes: dict[str, float | None] = Field(
        default_factory=dict, description="score in [0, 1] per attribute; null when the scorer abstained"
    )
    abstentions: dict[str, AbstentionCode] = Field(
        default_factory=dict, description="why each null attribute was not scored (vision/face_quality.py)"
    )

    def state(self, attribute: str, threshold: float = 0.5) -> AttributeState | None:
        """yes / no / unknown (abstained) for one attribute; None when it was not scored at all."""
        if attribute not in self.attributes:
            return None
        value = self.attributes[attribute]
        if value is None:
            return "unknown"
        return "yes" if value >= threshold else "no"

    def attribute_text(self, attribute: str) -> str:
        """ "sunglasses 0.98" or "sunglasses unknown (grayscale)", for people reading summaries."""
        value = self.attributes.get(attribute)
        if value is None:
            return f"{attribute} unknown ({self.abstentions.get(attribute, 'abstained')})"
        return f"{attribute} {value:.2f}"


class FacesResult(_Result):
    task: ClassVar[str] = "faces"
    faces: list[Face]

    def summary(self) -> list[str]:
        lines = [str(len(self.faces))]
        for f in self.faces:
            attrs = ", ".join(f.attribute_text(k) for k in f.attributes)
            lines.append(f"box {[round(v) for v in f.box]} score {f.score:.2f}" + (f"  ({attrs})" if attrs else ""))
        return lines

    def comparison_key(self) -> ComparisonKey:
        # Attribute answers are part of what a version says: "sunglasses 1 yes, 1 unknown" differs
        # from "sunglasses 2 yes" (an abstention is its own answer, never counted as a no).
        states: dict[str, Counter] = {}
        for face in self.faces:
            for attr in face.attributes:
                states.setdefault(attr, Counter())[face.state(attr)] += 1
        key = f"{len(self.faces)} faces" + "".join(
            f"; {attr} " + ", ".join(f"{n} {state}" for state, n in sorted(c.items()))
            for attr, c in sorted(states.items())
        )
        return key, _mean([f.score for f in self.faces]), None

    def draw(self, painter: Painter) -> None:
        for face in self.faces:
            # Abstentions are drawn as such ("sunglasses ?"), never left to look like a "no".
            attrs = " ".join(
                f"{k} ?" if v is None else f"{k} {v:.2f}" for k, v in face.attributes.items() if v is None or v >= 0.5
            )
            painter.box(self.task, face.box, f"face {face.score:.2f} {attrs}".strip())
            painter.dots(self.task, list(face.landmarks.values()))


class CaptionResult(_Result):
    task: ClassVar[str] = "caption"
    caption: str

    def summary(self) -> list[str]:
        return [self.caption]

    def comparison_key(self) -> ComparisonKey:
        return self.caption.strip().lower(), None, None


class OcrLine(BaseModel):
    text: str
    score: float
    box: Box
    polygon: list[Point] = Field(default_factory=list, description="the detector's 4 corner points, clockwise")


class OcrResult(_Result):
    task: ClassVar[str] = "ocr"
    text: str
    lines: list[OcrLine]

    def summary(self) -> list[str]:
        return [" | ".join(line.text for line in self.lines) or "none"]

    def comparison_key(self) -> ComparisonKey:
        text = " ".join(self.text.lower().split())
        return text or "(no text)", _mean([ln.score for ln in self.lines]), None

    def draw(self, painter: Painter) -> None:
        for line in self.lines:
            x1, y1, x2, y2 = line.box
            painter.polygon(self.task, line.polygon or [[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


class EmbedResult(_Result):
    task: ClassVar[str] = "embed"
    dim: int
    vector: list[float]

    def summary(self) -> list[str]:
        return [f"{self.dim} dims"]

    def comparison_key(self) -> ComparisonKey:
        return "", None, list(self.vector)


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

    def summary(self) -> list[str]:
        colours = " ".join(c.hex for c in self.dominant_colors[:3])
        return [
            f"brightness {self.brightness:.2f}, contrast {self.contrast:.2f}, sharpness {self.sharpness:.4f}, "
            f"colours {colours}"
        ]

    def comparison_key(self) -> ComparisonKey:
        return (
            (f"brightness {self.brightness:.2f}, contrast {self.contrast:.2f}, sharpness {self.sharpness:.4f}"),
            None,
            None,
        )


class DescribeResult(_Result):
    task: ClassVar[str] = "describe"
    text: str

    def summary(self) -> list[str]:
        return [self.text]

    def comparison_key(self) -> ComparisonKey:
        return self.text, None, None


TaskResult = (
    ClassifyResult
    | ZeroShotResult
    | DetectResult
    | FacesResult
    | CaptionResult
    | OcrResult
    | EmbedResult
    | PropertiesResult
    | DescribeResult
)

RESULT_TYPES: dict[str, type[_Result]] = {
    cls.task: cls
    for cls in (
        ClassifyResult,
        ZeroShotResult,
        DetectResult,
        FacesResult,
        CaptionResult,
        OcrResult,
        EmbedResult,
        PropertiesResult,
        DescribeResult,
    )
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
    def from_wire(cls, row: dict[str, Any]) -> ImageAnswer:
        results: dict[str, TaskResult] = {}
        task_errors: dict[str, ErrorInfo] = {}
        for task, cls_ in RESULT_TYPES.items():
            value = row.get(task)
            if value is None:
                continue
            if isinstance(value, dict) and set(value) == {"error"}:
                task_errors[task] = ErrorInfo(**value["error"])
            else:
                results[task] = cls_.model_validate(value)  # type: ignore[assignment]  # cls_ is one of TaskResult
        error = row.get("error")
        return cls(
            id=row.get("id"),
            width=row.get("width"),
            height=row.get("height"),
            results=results,
            task_errors=task_errors,
            models=row.get("models") or {},
            error=ErrorInfo(**error) if error else None,
        )
