"""The offline default models on real photos shipped in packages (docs/offline.md)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from registry.catalog import build_local_pipeline
from vision.errors import BadRequestError
from vision.image_input import decode_image
from vision.results import ImageAnswer

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat", "cougar", "lynx"}
BUS_FACES = [[118, 423, 152, 468], [272, 428, 304, 470]]


@pytest.fixture(scope="module")
def pipeline():
    return build_local_pipeline()


@pytest.fixture(scope="module")
def answers(pipeline, photo_bytes) -> dict[str, ImageAnswer]:
    names = ["bus.jpg", "zidane.jpg", "grace_hopper.jpg", "coffee.png", "chelsea.png", "page.png", "astronaut.png"]
    result = pipeline.annotate([photo_bytes[n] for n in names], ids=names)
    return {a.id: a for a in result}


def test_offline_set_is_complete(pipeline):
    assert pipeline.tasks == ["classify", "faces", "ocr", "properties", "describe"]


def test_mobilenet_espresso_and_cat(answers):
    assert answers["coffee.png"].results["classify"].labels[0].label == "espresso"
    top5 = {label.label for label in answers["chelsea.png"].results["classify"].labels[:5]}
    assert top5 & CAT_CLASSES


def test_mtcnn_finds_the_two_sunglasses_wearers_on_bus(answers):
    faces = sorted(answers["bus.jpg"].results["faces"].faces, key=lambda f: f.box[0])
    assert len(faces) == 2
    for face, expected in zip(faces, BUS_FACES):
        assert np.abs(np.array(face.box) - np.array(expected)).max() <= 10, face.box
        assert set(face.landmarks) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
        x1, y1, x2, y2 = face.box
        for x, y in face.landmarks.values():
            assert x1 - 2 <= x <= x2 + 2 and y1 - 2 <= y <= y2 + 2
        assert face.attributes["sunglasses"] > 0.5


def test_one_face_on_grace_hopper_without_sunglasses(answers):
    faces = answers["grace_hopper.jpg"].results["faces"].faces
    assert len(faces) == 1
    assert faces[0].attributes["sunglasses"] < 0.5


def test_no_sunglasses_on_zidane(answers):
    faces = answers["zidane.jpg"].results["faces"].faces
    assert len(faces) == 2 and all(f.attributes["sunglasses"] < 0.5 for f in faces)


def test_ocr_reads_real_words(answers):
    page = answers["page.png"].results["ocr"].text.lower()
    for word in ("segmentation", "markers", "background"):
        assert word in page
    bus_words = answers["bus.jpg"].results["ocr"].text.lower().split()
    assert "cero" in bus_words and "emisiones" in bus_words
    for line in answers["page.png"].results["ocr"].lines:
        x1, y1, x2, y2 = line.box
        assert 0 <= x1 < x2 <= 384 + 1 and 0 <= y1 < y2 <= 191 + 1


def test_properties_rank_dark_below_bright_and_blurred_below_sharp(pipeline, photo_bytes):
    photo = Image.open(io.BytesIO(photo_bytes["astronaut.png"])).convert("RGB")
    variants = {
        "sharp": photo,
        "dark": ImageEnhance.Brightness(photo).enhance(0.3),
        "blurred": photo.filter(ImageFilter.GaussianBlur(4)),
    }
    encoded = []
    for img in variants.values():
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        encoded.append(buf.getvalue())
    props = {
        name: a.results["properties"]
        for name, a in zip(variants, pipeline.annotate(encoded, ids=list(variants), tasks="properties"))
    }
    assert props["dark"].brightness < props["sharp"].brightness
    assert props["blurred"].sharpness < props["sharp"].sharpness / 3
    assert props["sharp"].width == 512 and len(props["sharp"].dominant_colors) == 5
    assert abs(sum(c.fraction for c in props["sharp"].dominant_colors) - 1) < 0.01


def test_describe_composes_the_other_answers(answers):
    text = answers["bus.jpg"].results["describe"].text
    assert text.startswith("Two people, both wearing sunglasses")
    assert "cero" in text
    assert "espresso" in answers["coffee.png"].results["describe"].text


def test_every_answer_names_its_models(answers):
    for answer in answers.values():
        assert set(answer.models) == set(answer.results)
        assert answer.error is None


def test_a_bad_image_fails_only_its_own_row(pipeline, photo_bytes):
    rows = pipeline.annotate(
        [photo_bytes["coffee.png"], b"not an image", photo_bytes["bus.jpg"][:5000]],
        ids=["good", "junk", "cut"],
        tasks="classify",
    )
    assert rows[0].error is None and rows[0].results["classify"].labels[0].label == "espresso"
    assert rows[1].error.code == "not_an_image" and not rows[1].results
    assert rows[2].error.code == "truncated_image"


def test_unknown_task_and_bad_params_are_refused(pipeline, photo_bytes):
    with pytest.raises(BadRequestError, match="unknown task"):
        pipeline.annotate([photo_bytes["coffee.png"]], tasks="classify,teleport")
    with pytest.raises(BadRequestError, match="top_k"):
        pipeline.annotate([photo_bytes["coffee.png"]], tasks="classify", params={"top_k": "many"})
    with pytest.raises(BadRequestError, match="min_score"):
        pipeline.annotate([photo_bytes["coffee.png"]], tasks="faces", params={"min_score": 3})


def test_row_tasks_override_the_request(pipeline, photo_bytes):
    rows = pipeline.annotate([photo_bytes["coffee.png"]] * 2, tasks="classify", row_tasks=[None, "properties"])
    assert list(rows[0].results) == ["classify"] and list(rows[1].results) == ["properties"]


def test_wire_json_round_trips(answers):
    wire = answers["bus.jpg"].to_wire()
    assert list(wire)[:3] == ["id", "width", "height"] and wire["error"] is None
    assert ImageAnswer.from_wire(wire).to_wire() == wire


def test_draw_renders_an_annotated_png(answers, photo_bytes, tmp_path):
    from vision.draw import save_drawing

    out = save_drawing(decode_image(photo_bytes["bus.jpg"]).image, answers["bus.jpg"], tmp_path / "bus.png")
    drawn = Image.open(out)
    assert drawn.format == "PNG" and drawn.width == 810 and drawn.height > 1080  # caption bar below
    original = np.asarray(decode_image(photo_bytes["bus.jpg"]).image, dtype=np.int16)
    diff = np.abs(np.asarray(drawn.convert("RGB"), dtype=np.int16)[:1080] - original).sum(axis=2)
    x1, y1, x2, y2 = (int(v) for v in answers["bus.jpg"].results["faces"].faces[0].box)
    assert diff[y1:y2, x1].max() > 100  # the face box outline is drawn


def test_a_picture_smaller_than_the_smallest_face_has_no_faces(pipeline):
    buf = io.BytesIO()
    Image.new("RGB", (18, 18), "gray").save(buf, format="PNG")
    (row,) = pipeline.annotate([buf.getvalue()], tasks="faces")
    assert row.error is None and row.results["faces"].faces == []
