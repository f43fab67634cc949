"""Champion/challenger comparison of two versions' wire rows: agreement, score shifts, what differs."""

from __future__ import annotations

import hashlib

import pytest

from registry.compare import compare_answers


def _row(name: str, **tasks) -> dict:
    return {"id": name, "width": 64, "height": 48, **tasks, "models": {}, "error": None}


def _labels(*pairs) -> dict:
    return {"labels": [{"label": label, "score": score} for label, score in pairs]}


@pytest.fixture
def images(tmp_path):
    paths = []
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        path = tmp_path / name
        path.write_bytes(name.encode() * 10)
        paths.append(path)
    return paths


def test_agreement_and_score_shift_per_task(images):
    champion = [
        _row("a", classify=_labels(("cat", 0.9)), faces={"faces": []}),
        _row("b", classify=_labels(("dog", 0.6)), faces={"faces": [{"box": [0, 0, 1, 1], "score": 0.9}]}),
        _row("c", classify=_labels(("cat", 0.5)), faces={"faces": []}),
    ]
    challenger = [
        _row("a", classify=_labels(("cat", 0.8)), faces={"faces": []}),
        _row("b", classify=_labels(("wolf", 0.7)), faces={"faces": [{"box": [0, 0, 1, 1], "score": 0.8}]}),
        _row("c", classify=_labels(("cat", 0.7)), faces={"faces": []}),
    ]
    result = compare_answers("m", "1", "2", images, champion, challenger, "photos/")
    by_task = {t.task: t for t in result.tasks}
    assert set(by_task) == {"classify", "faces"}
    classify = by_task["classify"]
    assert (classify.compared, classify.agreement) == (3, pytest.approx(0.6667, abs=1e-4))
    assert classify.mean_score_shift == pytest.approx((-0.1 + 0.1 + 0.2) / 3, abs=1e-4)
    assert classify.mean_abs_score_shift == pytest.approx((0.1 + 0.1 + 0.2) / 3, abs=1e-4)
    assert by_task["faces"].agreement == 1.0  # one face each time on b: the count is what is compared
    assert result.differing_count == 1
    assert result.differing[0].image == "b.jpg"
    assert result.differing[0].tasks == {"classify": {"champion": "dog", "challenger": "wolf"}}


def test_the_sample_digest_covers_names_and_bytes(images):
    rows = [_row(p.stem, classify=_labels(("x", 1.0))) for p in images]
    result = compare_answers("m", "1", "2", images, rows, rows, "photos/")
    digest = hashlib.sha256()
    for path in images:
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    assert result.sample_sha256 == digest.hexdigest()
    assert (result.n_images, result.differing_count) == (3, 0)
    images[0].write_bytes(b"changed")
    assert compare_answers("m", "1", "2", images, rows, rows, "photos/").sample_sha256 != result.sample_sha256


def test_embeddings_agree_by_cosine_and_objects_by_label_counts(images):
    vec = [0.6, 0.8, 0.0]
    near = [0.6, 0.79, 0.01]
    far = [0.0, 0.0, 1.0]
    car = {"label": "car", "score": 0.9, "box": [0, 0, 5, 5]}
    person = {"label": "person", "score": 0.5, "box": [1, 1, 4, 4]}
    champion = [
        _row("a", embed={"dim": 3, "vector": vec}, detect={"objects": [car, person]}),
        _row("b", embed={"dim": 3, "vector": vec}, detect={"objects": [car]}),
        _row("c", embed={"dim": 3, "vector": vec}, detect={"objects": []}),
    ]
    challenger = [
        _row("a", embed={"dim": 3, "vector": near}, detect={"objects": [person, car]}),
        _row("b", embed={"dim": 3, "vector": far}, detect={"objects": [car, car]}),
        _row("c", embed={"dim": 3, "vector": vec}, detect={"objects": []}),
    ]
    result = compare_answers("m", "1", "2", images, champion, challenger, "photos/")
    by_task = {t.task: t for t in result.tasks}
    assert by_task["embed"].agreement == pytest.approx(0.6667, abs=1e-4)
    assert by_task["detect"].agreement == pytest.approx(0.6667, abs=1e-4)  # object order does not matter
    differing = result.differing[0].tasks
    assert differing["detect"] == {"champion": "car x1", "challenger": "car x2"}
    assert differing["embed"]["challenger"] == "cosine 0.0000"


def test_a_task_error_and_an_image_failing_for_one_version_only_are_differences(images):
    refused = {"code": "truncated_image", "message": "ends early"}
    champion = [
        _row("a", ocr={"text": "stop", "lines": []}),
        _row("b", ocr={"text": "go", "lines": []}),
        _row("c", ocr={"text": "", "lines": []}),
    ]
    challenger = [
        _row("a", ocr={"error": {"code": "model_failed", "message": "boom"}}),
        {**_row("b", ocr={"text": "GO", "lines": []}), "error": refused},
        _row("c", ocr={"text": "", "lines": []}),
    ]
    result = compare_answers("m", "1", "2", images, champion, challenger, "photos/")
    diffs = {d.image: d.tasks for d in result.differing}
    assert diffs == {
        "a.jpg": {"ocr": {"champion": "stop", "challenger": "error:model_failed"}},
        "b.jpg": {"image": {"champion": "ok", "challenger": "truncated_image"}},
    }
    assert result.tasks[0].agreement == pytest.approx(0.6667, abs=1e-4)  # "go" and "GO" read the same
    assert result.lines()[0] == "m: champion v1 vs challenger v2 on 3 images from photos/"
