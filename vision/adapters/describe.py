"""`describe`: one plain sentence composed from whatever other answers an image has. No model.

In the router it runs last and reads the other tasks' answers for the same image; served on
its own it only has the picture's properties to go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vision.adapters.base import Adapter
from vision.adapters.params import DescribeParams
from vision.adapters.properties import ImageProperties
from vision.image_input import DecodedImage
from vision.results import (
    CaptionResult,
    ClassifyResult,
    DescribeResult,
    DetectResult,
    FacesResult,
    OcrLine,
    OcrResult,
    PropertiesResult,
    TaskResult,
    ZeroShotResult,
)

_NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_ATTRIBUTE_PHRASES = {
    "sunglasses": "wearing sunglasses",
    "eyeglasses": "wearing glasses",
    "smile": "smiling",
    "hat": "wearing a hat",
    "mask": "wearing a mask",
    "beard": "with a beard",
}
_PLURALS = {"person": "people", "bus": "buses", "glass": "glasses", "knife": "knives", "mouse": "mice"}


def _count(n: int, noun: str) -> str:
    word = _NUMBERS[n] if n < len(_NUMBERS) else str(n)
    if n == 1:
        return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}" if noun != "person" else "one person"
    return f"{word} {_PLURALS.get(noun, noun + 's')}"


def _faces_phrase(faces: FacesResult, threshold: float) -> tuple[str | None, list[str]]:
    """("two people, both wearing sunglasses", notes). An abstained attribute is never asserted
    either way; it becomes a note: "sunglasses: unknown", "sunglasses: unknown for 2 of them"."""
    n = len(faces.faces)
    if n == 0:
        return None, []
    phrase = _count(n, "person")
    notes: list[str] = []
    for attribute, words in _ATTRIBUTE_PHRASES.items():
        states = [f.state(attribute, threshold) for f in faces.faces]
        having, unknown = states.count("yes"), states.count("unknown")
        if having == n == 1:
            phrase += f" {words}"
        elif having == n:
            phrase += f", {'both' if n == 2 else 'all'} {words}"
        elif having:
            phrase += f", {having} of them {words}"
        if unknown == n:
            notes.append(f"{attribute}: unknown")
        elif unknown:
            notes.append(f"{attribute}: unknown for {unknown} of them")
    return phrase, notes


def _objects_phrase(detect: DetectResult, skip_people: bool) -> str | None:
    counts = Counter(o.label for o in detect.objects)
    if skip_people:
        counts.pop("person", None)
    if not counts:
        return None
    parts = [_count(n, label) for label, n in counts.most_common(4)]
    return ", ".join(parts)


def _headline(ocr: OcrResult, budget: int = 40) -> str:
    """The biggest, surest text first (a sign's headline, not its small print), in reading order."""
    ranked = sorted(ocr.lines, key=lambda line: -(line.box[3] - line.box[1]) * line.score)
    chosen: list[OcrLine] = []
    used = 0
    for line in ranked:
        text = " ".join(line.text.split())
        if line.score < 0.7 or (chosen and used + len(text) > budget):
            continue
        chosen.append(line)
        used += len(text) + 1
    chosen.sort(key=lambda line: (line.box[1], line.box[0]))
    text = " ".join(" ".join(line.text.split()) for line in chosen)
    return text if len(text) <= budget + 20 else text[:budget] + "..."


def compose_description(results: Mapping[str, TaskResult], *, min_score: float = 0.5) -> str:
    """Compose "2 people, both wearing sunglasses, with a bus; text: 'cero emisiones'" from answers."""
    parts: list[str] = []
    caption = results.get("caption")
    if isinstance(caption, CaptionResult) and caption.caption.strip():
        parts.append(caption.caption.strip().rstrip("."))
    faces = results.get("faces")
    people, unknowns = _faces_phrase(faces, min_score) if isinstance(faces, FacesResult) else (None, [])
    detect = results.get("detect")
    objects = _objects_phrase(detect, skip_people=people is not None) if isinstance(detect, DetectResult) else None
    if people and objects:
        parts.append(f"{people}, with {objects}")
    elif people or objects:
        parts.append(people or objects or "")
    parts.extend(unknowns)
    for key in ("classify", "zeroshot"):
        labelled = results.get(key)
        if isinstance(labelled, (ClassifyResult, ZeroShotResult)) and labelled.labels:
            top = labelled.labels[0]
            if top.score >= 0.2:
                parts.append(f"looks like {top.label.replace('_', ' ')}")
                break
    ocr = results.get("ocr")
    if isinstance(ocr, OcrResult) and ocr.lines:
        parts.append(f"text: '{_headline(ocr)}'")
    props = results.get("properties")
    if isinstance(props, PropertiesResult):
        notes = []
        if props.brightness < 0.2:
            notes.append("dark")
        if props.sharpness < 0.0015:
            notes.append("blurry")
        if notes:
            parts.append(f"the picture is {' and '.join(notes)}")
    if not parts:
        return "Nothing recognisable was found."
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


class Describer(Adapter):
    task = "describe"
    family = "describe"
    needs_weights = False
    Params = DescribeParams

    def load(self, weights: Path | None) -> None:
        self._properties = ImageProperties(self.spec.model_copy(update={"task": "properties", "family": "properties"}))

    @property
    def min_side(self) -> int | None:
        return self._properties.min_side

    def describe(self, results: Mapping[str, TaskResult], params: dict[str, Any] | None = None) -> DescribeResult:
        """Describe from answers already computed for one image (the router's path)."""
        resolved = self.resolve_params(params)
        return DescribeResult(text=compose_description(results, min_score=resolved["min_score"]))

    def preprocess(self, images: Sequence[DecodedImage], params: dict[str, Any]) -> Sequence[DecodedImage]:
        return images

    def forward(self, batch: Sequence[DecodedImage], params: dict[str, Any]) -> list[Any]:
        return list(self._properties.predict(batch))

    def postprocess(
        self, raw: list[TaskResult], images: Sequence[DecodedImage], params: dict[str, Any]
    ) -> list[DescribeResult]:
        return [DescribeResult(text=compose_description({"properties": r}, min_score=params["min_score"])) for r in raw]
