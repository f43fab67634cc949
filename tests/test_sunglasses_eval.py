"""The faces model's impact review carries the sunglasses heuristic's precision, recall and
abstention rate, measured by running the registered version on the labelled set."""

from __future__ import annotations

import pytest

from vision.sunglasses_eval import build_set, evaluate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faces_version(idaas_home) -> tuple[str, dict]:
    from registry.bootstrap import bootstrap
    from registry.catalog import load_catalog
    from registry.store import configure

    configure()
    report = bootstrap(names=["faces-mtcnn"])
    return (report.registered + report.unchanged)[0].version, load_catalog().get("faces-mtcnn").options


@pytest.fixture(scope="module")
def in_process():
    """The catalog's faces model called directly, to check the registered version's figures."""
    from registry.catalog import build_local_pipeline

    pipeline = build_local_pipeline(tasks=["faces"])

    def predict(images: list[bytes], ids: list[str]) -> list[dict]:
        return [a.to_wire() for a in pipeline.annotate(images, ids=ids, tasks="faces")]

    return predict


def test_the_review_records_the_measured_figures(faces_version, in_process):
    from registry.reviews import current_review, set_review
    from serving.attribute_eval import review_metrics
    from serving.demo import demo_review

    version, options = faces_version
    review = demo_review("faces-mtcnn", version, "faces", options)
    set_review("faces-mtcnn", version, review)
    metrics = current_review("faces-mtcnn", version).review.metrics
    measured = evaluate(in_process)
    assert {k: metrics[k] for k in review_metrics(measured)} == review_metrics(measured)
    assert {"sunglasses_precision", "sunglasses_recall", "sunglasses_abstention_rate"} <= set(metrics)
    # Every black-and-white face and every greyscale lfw crop abstains; colour faces mostly answer.
    assert measured["parts"]["black-white"]["abstention_rate"] == 1.0
    assert measured["parts"]["lfw"]["abstention_rate"] == 1.0
    assert measured["parts"]["real"]["abstention_rate"] < 0.5
    assert measured["parts"]["synthetic"]["recall"] >= 0.5  # the rendered lenses are dark
    assert "lfw_subset" in current_review("faces-mtcnn", version).review.evaluation.dataset


def test_the_set_holds_what_its_description_says(in_process):
    items = build_set(in_process)
    parts = {}
    for item in items:
        parts.setdefault(item.part, []).append(item)
    assert {p: len(v) for p, v in parts.items()} == {"real": 8, "black-white": 4, "synthetic": 6, "lfw": 20}
    assert sum(len(i.boxes) for i in parts["real"]) == 12 and sum(i.wearing * len(i.boxes) for i in parts["real"]) == 4
    assert all(i.wearing for i in parts["synthetic"]) and not any(i.wearing for i in parts["lfw"])
