"""The `describe` sentence, composed from other answers with no model."""

from __future__ import annotations

from vision.adapters.describe import compose_description
from vision.results import (
    CaptionResult,
    ClassifyResult,
    DetectedObject,
    DetectResult,
    Face,
    FacesResult,
    Label,
    OcrLine,
    OcrResult,
    PropertiesResult,
)


def _faces(*sunglasses: float) -> FacesResult:
    return FacesResult(faces=[Face(box=[0, 0, 10, 10], score=0.99, attributes={"sunglasses": s}) for s in sunglasses])


def _objects(*labels: str) -> DetectResult:
    return DetectResult(objects=[DetectedObject(label=label, score=0.9, box=[0, 0, 5, 5]) for label in labels])


def _properties(brightness: float = 0.5, sharpness: float = 0.01) -> PropertiesResult:
    return PropertiesResult(
        width=100, height=100, brightness=brightness, contrast=0.2, sharpness=sharpness, dominant_colors=[]
    )


def _line(text: str, top: float, height: float, score: float = 0.95, left: float = 0) -> OcrLine:
    return OcrLine(text=text, score=score, box=[left, top, left + 10 * len(text), top + height])


def test_people_with_their_attributes_then_the_other_objects():
    sentence = compose_description({"faces": _faces(0.9, 0.8), "detect": _objects("bus", "person", "person")})
    assert sentence == "Two people, both wearing sunglasses, with a bus."


def test_some_people_with_an_attribute_and_one_person_alone():
    assert compose_description({"faces": _faces(0.9, 0.1, 0.2)}) == "Three people, 1 of them wearing sunglasses."
    assert compose_description({"faces": _faces(0.9)}) == "One person wearing sunglasses."
    assert compose_description({"faces": _faces(0.3)}) == "One person."
    # the threshold is the caller's
    assert compose_description({"faces": _faces(0.3)}, min_score=0.2) == "One person wearing sunglasses."


def test_objects_counted_with_plurals_and_articles():
    sentence = compose_description({"detect": _objects("person", "apple", "bus", "bus", "knife", "knife", "knife")})
    assert sentence == "Three knives, two buses, one person, an apple."


def test_caption_classification_text_and_picture_notes_in_order():
    results = {
        "caption": CaptionResult(caption="a man riding a bus."),
        "classify": ClassifyResult(labels=[Label(label="trolley_bus", score=0.6)]),
        "ocr": OcrResult(
            text="CERO\nemisiones\nsmall print",
            lines=[
                _line("small print", top=90, height=4, left=0),
                _line("CERO", top=10, height=20),
                _line("emisiones", top=10, height=20, left=50),
            ],
        ),
        "properties": _properties(brightness=0.1, sharpness=0.001),
    }
    assert compose_description(results) == (
        "A man riding a bus; looks like trolley bus; text: 'CERO emisiones small "
        "print'; the picture is dark and blurry."
    )


def test_the_headline_keeps_the_biggest_surest_text_within_its_budget():
    lines = [
        _line("x" * 30, top=0, height=40),
        _line("y" * 30, top=50, height=20),
        _line("unsure", top=80, height=50, score=0.5),
    ]
    assert compose_description({"ocr": OcrResult(text="", lines=lines)}) == f"Text: '{'x' * 30}'."


def test_a_weak_label_says_nothing_and_an_empty_answer_says_so():
    assert (
        compose_description({"classify": ClassifyResult(labels=[Label(label="cat", score=0.1)])})
        == "Nothing recognisable was found."
    )
    assert compose_description({}) == "Nothing recognisable was found."
    assert compose_description({"properties": _properties()}) == "Nothing recognisable was found."
