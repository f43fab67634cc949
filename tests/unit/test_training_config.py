"""params.yaml parsing: the committed file validates, overrides win, and every mistake is one plain line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from training.config import Params, ParamsError, load_params

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def params_file(tmp_path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    return path


def _edit(path: Path, dotted: str, value) -> None:
    tree = yaml.safe_load(path.read_text())
    *parents, last = dotted.split(".")
    node = tree
    for key in parents:
        node = node[key]
    node[last] = value
    path.write_text(yaml.safe_dump(tree))


def test_the_committed_params_file_validates_and_matches_the_documented_defaults(params_file):
    params = load_params(params_file)
    assert params == Params()  # params.yaml spells out exactly the defaults the code documents
    assert params.seed == 0 and params.threads == 2


def test_overrides_are_yaml_text_by_dotted_key_and_win_over_the_file(params_file):
    params = load_params(
        params_file,
        {
            "classifier.epochs": "5",
            "data.detect.object_size": "[10, 20]",
            "detector.train_args": "{mosaic: 0.5}",
            "classifier.base_weights": "null",
        },
    )
    assert params.classifier.epochs == 5
    assert params.data.detect.object_size == (10, 20)
    assert params.detector.train_args == {"mosaic": 0.5}
    assert params.classifier.base_weights is None


def test_flat_gives_mlflow_dotted_keys_for_one_section_or_all():
    params = Params()
    section = params.flat("classifier")
    assert section["classifier.epochs"] == "2" and section["classifier.base_weights"] == "pack:mobilenet_v2"
    assert all(key.startswith("classifier.") for key in section)
    flat = params.flat()
    assert flat["data.detect.object_size"] == "[40, 72]"
    assert flat["detector.train_args"] == "{}"  # an empty mapping is a value, not a missing section
    assert flat["seed"] == "0"


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        ("classifier.epochs", 0, "classifier.epochs: Input should be greater than or equal to 1 (got 0)"),
        ("classifier.epoch", 3, "classifier.epoch: unknown parameter"),
        ("threads", 0, "threads: Input should be greater than or equal to 1 (got 0)"),
        ("data.detect.object_size", [80, 40], "must be [low, high] with 1 <= low <= high, got [80, 40]"),
        ("data.detect.object_size", [40, 200], "object_size [40, 200] does not fit image_size 160"),
        (
            "data.classify.source",
            "/no/such/folder",
            "source '/no/such/folder' is neither one of auto, fashion-mnist, digits nor an existing folder",
        ),
        ("data.detect.source", "/no/data.yaml", "neither 'synthetic' nor an existing YOLO data.yaml"),
        ("detector.model", "yolov8n.pt", "model must be an Ultralytics .yaml config, got 'yolov8n.pt'"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_the_parameter(params_file, dotted, value, message):
    _edit(params_file, dotted, value)
    with pytest.raises(ParamsError) as refused:
        load_params(params_file)
    text = refused.value.message
    assert text.startswith(f"{params_file}: ") and message in text
    assert "\n" not in text


def test_missing_malformed_and_shapeless_files_are_refused(tmp_path):
    with pytest.raises(ParamsError, match="no parameter file at"):
        load_params(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: [0\n")
    with pytest.raises(ParamsError, match="is not valid YAML"):
        load_params(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- seed\n")
    with pytest.raises(ParamsError, match="must hold a mapping of sections"):
        load_params(listed)


def test_an_override_cannot_descend_into_a_value(params_file):
    with pytest.raises(ParamsError, match="cannot set seed.x: seed is not a section"):
        load_params(params_file, {"seed.x": "1"})
