"""Registered versions on the session's embedded registry (SQLite under the test IDAAS_HOME):
bootstrap, and each version loaded from the registry in a fresh process answering real photos
exactly as the adapter called directly does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

OFFLINE_SET = {"classify-mobilenet-v2", "faces-mtcnn", "ocr-rapidocr", "properties", "describe"}
HUB_SET = {"detect-yolov8n", "detect-detr", "caption-blip", "zeroshot-clip", "embed-clip"}
# bus: a minibus, two faces, scene text; grace_hopper: one face; chelsea: a tabby cat
PHOTOS = ("bus.jpg", "grace_hopper.jpg", "chelsea.png")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bootstrapped():
    from registry.bootstrap import bootstrap

    return bootstrap()


@pytest.fixture(scope="module")
def mlflow_client(bootstrapped):
    from registry.store import client

    return client()


def _candidate(mlflow_client, name: str):
    return mlflow_client.get_model_version_by_alias(name, "candidate")


def test_bootstrap_registers_the_offline_set_and_says_how_to_provide_the_rest(bootstrapped, mlflow_client):
    done = {v.name: v for v in bootstrapped.registered + bootstrapped.unchanged}
    assert set(done) == OFFLINE_SET  # other test modules may have bootstrapped this registry first
    skipped = dict(bootstrapped.skipped)
    assert set(skipped) == HUB_SET
    assert all("--weights" in why for why in skipped.values()), skipped
    for name in OFFLINE_SET:
        mv = mlflow_client.get_model_version(name, done[name].version)
        assert mv.tags["idaas.bundle_version"] == str(mv.version)
        assert len(mv.tags["idaas.content_hash"]) == 64
    for logged in bootstrapped.registered:  # the figures for the note: time and size per version
        print(f"registered {logged.name} v{logged.version}: {logged.seconds:.1f} s, {logged.bundle_bytes / 1e6:.2f} MB")


def test_bootstrap_again_registers_nothing_new(bootstrapped, mlflow_client):
    from registry.bootstrap import bootstrap

    before = {name: len(mlflow_client.search_model_versions(f"name = '{name}'")) for name in OFFLINE_SET}
    again = bootstrap()
    assert again.registered == []
    assert {v.name for v in again.unchanged} == OFFLINE_SET
    after = {name: len(mlflow_client.search_model_versions(f"name = '{name}'")) for name in OFFLINE_SET}
    assert after == before


_FRESH_PROCESS = r"""
import json, sys
# Only the model folder may provide idaas's code: drop the editable install and the checkout.
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if p and p.rstrip("/") != sys.argv[4]]
try:
    import vision
    raise SystemExit("vision was importable before the model was loaded")
except ImportError:
    pass
import mlflow
import pandas as pd
name, photos, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
model = mlflow.pyfunc.load_model(f"models:/{name}@candidate")
frame = pd.DataFrame({"id": list(photos), "image": [open(p, "rb").read() for p in photos.values()]})
rows = model.predict(frame)
small = model.predict(frame.head(1), params={"top_k": 2, "min_score": 0.95})
import vision, registry
json.dump({"rows": rows, "small": small, "vision": vision.__file__, "registry": registry.__file__,
           "params": [p.name for p in model.metadata.get_params_schema().params]}, open(out, "w"))
"""


def test_each_version_from_the_registry_answers_like_the_adapter_in_a_fresh_process(
    bootstrapped, mlflow_client, photos, tmp_path, idaas_home
):
    from registry.catalog import build_local_pipeline

    chosen = {name: str(photos[name]) for name in PHOTOS}
    script = tmp_path / "load_and_predict.py"
    script.write_text(_FRESH_PROCESS)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{idaas_home / 'mlflow.db'}", "PYTHONPATH": ""}
    procs = {}
    for name in sorted(OFFLINE_SET):  # one fresh process per version, two at a time on 2 cores
        out = tmp_path / f"{name}.json"
        procs[name] = (
            subprocess.Popen(
                [sys.executable, str(script), name, json.dumps(chosen), str(out), str(REPO)],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
            out,
        )
        if len(procs) % 2 == 0:
            for p, _ in list(procs.values())[-2:]:
                p.wait(timeout=300)
    local = build_local_pipeline()
    images = [Path(p).read_bytes() for p in chosen.values()]
    for name, (proc, out) in procs.items():
        log = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, log[-3000:]
        got = json.loads(out.read_text())
        mv = _candidate(mlflow_client, name)
        task = mv.tags["idaas.tasks"]
        # The code came from the registered model's own folder, not from this checkout.
        assert str(REPO) not in got["vision"] and "code" in Path(got["vision"]).parts, got["vision"]
        assert str(REPO) not in got["registry"]
        expected = [a.to_wire() for a in local.annotate(images, ids=list(chosen), tasks=[task])]
        small = [
            a.to_wire()
            for a in local.annotate(
                images[:1], ids=list(chosen)[:1], tasks=[task], params={"top_k": 2, "min_score": 0.95}
            )
        ]
        for rows, want in ((got["rows"], expected), (got["small"], small)):
            assert len(rows) == len(want)
            for row, ref in zip(rows, want):
                assert row["models"] == {task: f"{name}/{mv.version}"}
                assert {k: v for k, v in row.items() if k != "models"} == {
                    k: v for k, v in ref.items() if k != "models"
                }
        assert {"tasks", "output"} <= set(got["params"])
    # the answers are not trivially empty: the photos hold what these models find
    by_name = {name: json.loads(out.read_text())["rows"] for name, (_, out) in procs.items()}
    cat = by_name["classify-mobilenet-v2"][2]["classify"]["labels"][0]["label"]
    assert cat in ("tabby", "tiger cat", "Egyptian cat")
    assert len(by_name["faces-mtcnn"][0]["faces"]["faces"]) >= 2
    assert "emisiones" in by_name["ocr-rapidocr"][0]["ocr"]["text"].lower()


def test_logged_model_declares_params_pins_requirements_and_ships_code(bootstrapped, mlflow_client, tmp_path):
    import mlflow
    from mlflow.models import Model

    expected_params = {
        "classify-mobilenet-v2": {"top_k": 5, "min_score": 0.0},
        "faces-mtcnn": {"min_score": 0.9, "max_faces": 100},
        "ocr-rapidocr": {"min_score": 0.5},
    }
    for name, params in expected_params.items():
        mv = _candidate(mlflow_client, name)
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{mv.version}", dst_path=str(tmp_path / name)))
        meta = Model.load(str(local / "MLmodel"))
        declared = {p.name: p.default for p in meta.get_params_schema().params}
        assert declared == {"tasks": "", "output": "records", **params}
        inputs = {c.name: (str(c.type), c.required) for c in meta.get_input_schema().inputs}
        assert inputs == {
            "image": ("DataType.string", True),
            "id": ("DataType.string", False),
            "tasks": ("DataType.string", False),
        }
        requirements = (local / "requirements.txt").read_text().split()
        assert all("==" in r for r in requirements), requirements
        pinned = {r.split("==")[0].lower() for r in requirements}
        assert {"mlflow", "torch", "pillow", "pandas"} <= pinned
        assert {"classify-mobilenet-v2": "torchvision", "faces-mtcnn": "facenet-pytorch", "ocr-rapidocr": "rapidocr"}[
            name
        ] in pinned
        assert (local / "code" / "vision" / "pipeline.py").exists()
        assert (local / "code" / "registry" / "pyfunc_model.py").exists()
        assert (local / "input_example.json").stat().st_size < 20_000  # a small real photo
        bundle = yaml.safe_load((local / "artifacts" / "bundle" / "bundle.yaml").read_text())
        assert bundle["models"][0]["version"] == str(mv.version)
    # weights are copies inside the bundle, never references to an installed package
    faces = _candidate(mlflow_client, "faces-mtcnn")
    folder = tmp_path / "faces-mtcnn" / "artifacts" / "bundle" / "faces-mtcnn" / "weights"
    assert sorted(p.name for p in folder.iterdir()) == ["onet.pt", "pnet.pt", "rnet.pt"], faces.version


@pytest.fixture(scope="module")
def classifier(bootstrapped, tmp_path_factory):
    """The registered MobileNetV2 pyfunc, loaded through IdaasModel.load_context in-process."""
    from registry.pyfunc_model import IdaasModel
    from registry.versions import download_bundle

    bundle = download_bundle("classify-mobilenet-v2", "candidate", tmp_path_factory.mktemp("classifier"))
    model = IdaasModel()
    model.load_context(SimpleNamespace(artifacts={"bundle": str(bundle)}))
    return model


def test_pyfunc_takes_bytes_or_base64_and_fails_only_the_bad_row(classifier, photo_bytes):
    import base64

    frame = pd.DataFrame(
        {
            "id": ["cat-bytes", "cat-b64", "junk", None],
            "image": [
                photo_bytes["chelsea.png"],
                base64.b64encode(photo_bytes["chelsea.png"]).decode(),
                b"not an image at all",
                photo_bytes["bus.jpg"],
            ],
        }
    )
    rows = classifier.predict(None, frame, {"top_k": 3})
    assert [r["id"] for r in rows] == ["cat-bytes", "cat-b64", "junk", None]
    assert rows[0]["classify"] == rows[1]["classify"] and len(rows[0]["classify"]["labels"]) == 3
    assert rows[2]["error"]["code"] == "not_an_image" and "classify" not in rows[2]
    assert rows[3]["error"] is None and rows[3]["width"] == 810


def test_pyfunc_bad_requests_are_invalid_parameter_errors(classifier, photo_bytes):
    from mlflow.exceptions import MlflowException

    frame = pd.DataFrame({"image": [photo_bytes["chelsea.png"]]})
    for params, words in (
        ({"tasks": "classify,teleport"}, "teleport"),
        ({"top_k": "many"}, "top_k"),
        ({"top_k": 0}, "top_k"),
        ({"output": "xml"}, "output"),
    ):
        with pytest.raises(MlflowException) as err:
            classifier.predict(None, frame, params)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE" and words in err.value.message
    with pytest.raises(MlflowException, match="'image' column"):
        classifier.predict(None, pd.DataFrame({"picture": [b"x"]}), None)


def test_pyfunc_request_limits_apply_when_a_server_enforces_them(classifier, photo_bytes):
    from mlflow.exceptions import MlflowException

    from vision.settings import Settings

    frame = pd.DataFrame({"image": [photo_bytes["chelsea.png"]] * 3})
    assert len(classifier.predict(None, frame, None)) == 3  # a notebook's batch is not a request
    saved = classifier.settings
    try:
        classifier.settings = Settings(enforce_request_limits=True, max_images_per_request=2)
        with pytest.raises(MlflowException, match="limit is 2"):
            classifier.predict(None, frame, None)
        classifier.settings = Settings(enforce_request_limits=True, max_request_bytes=1000)
        with pytest.raises(MlflowException, match="limit is 1000"):
            classifier.predict(None, frame.head(1), None)
    finally:
        classifier.settings = saved


def test_pyfunc_json_output_and_per_row_tasks(classifier, photo_bytes):
    frame = pd.DataFrame(
        {"id": ["a", "b"], "image": [photo_bytes["chelsea.png"], photo_bytes["bus.jpg"]], "tasks": ["classify", None]}
    )
    out = classifier.predict(None, frame, {"output": "json"})
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["json"]
    rows = [json.loads(text) for text in out["json"]]
    assert [r["id"] for r in rows] == ["a", "b"] and all("classify" in r for r in rows)


def test_pyfunc_is_thread_safe(classifier, photo_bytes):
    frame = pd.DataFrame({"image": [photo_bytes[n] for n in ("chelsea.png", "bus.jpg", "coffee.png")]})
    expected = classifier.predict(None, frame, None)
    results, errors = [], []

    def work():
        try:
            results.append(classifier.predict(None, frame, None))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(r == expected for r in results)


def test_a_bundle_of_many_models_keeps_each_version_and_defers_conflicting_defaults(
    bootstrapped, tmp_path, photo_bytes
):
    from registry.bundle import load_pipeline, merge_bundles, read_bundle
    from registry.pyfunc_model import IdaasModel
    from registry.signature import param_schema
    from registry.versions import download_bundle

    sources = [download_bundle(name, "candidate", tmp_path / name) for name in ("faces-mtcnn", "describe")]
    entries = merge_bundles(tmp_path / "router", sources)
    assert [e.name for e in read_bundle(tmp_path / "router")] == ["faces-mtcnn", "describe"]
    pipeline = load_pipeline(tmp_path / "router")
    assert {t: m.ref for t, m in pipeline.models.items()} == {e.task: f"{e.name}/{e.version}" for e in entries}
    schema = param_schema(pipeline)
    declared = {p.name: p.default for p in schema.params}
    # faces defaults min_score to 0.9, describe to 0.5: the declared default defers to each model
    assert declared["max_faces"] == 100 and declared["min_score"] is None
    model = IdaasModel()
    model.load_context(SimpleNamespace(artifacts={"bundle": str(tmp_path / "router")}))
    frame = pd.DataFrame({"image": [photo_bytes["bus.jpg"]]})
    as_mlflow_fills_them = model.predict(None, frame, declared)  # MLflow passes every declared default
    assert as_mlflow_fills_them == [a.to_wire() for a in pipeline.annotate([photo_bytes["bus.jpg"]])]
    assert len(as_mlflow_fills_them[0]["faces"]["faces"]) >= 2
