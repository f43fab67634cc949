"""The REST contract, on both servers of the same router version: `idaas serve` (our front
around MLflow's scoring app) and plain `mlflow models serve` (what MLflow-speaking platforms
run). Every answer is validated against the front's /openapi.json."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests

from serving.client import IdaasClient
from tests.contract import Contract
from vision.errors import BadRequestError

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
BUS_FACES = [[118, 423, 152, 468], [272, 428, 304, 470]]
PHOTOS = ["bus.jpg", "zidane.jpg", "grace_hopper.jpg", "page.png", "coffee.png"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="session")
def contract(router_url) -> Contract:
    return Contract.fetch(router_url)


@pytest.fixture(scope="module", params=["front", "plain-mlflow"])
def server(request, router_url, router_version):
    """(kind, base URL): the session's front, or a plain `mlflow models serve` of the same version."""
    if request.param == "front":
        yield request.param, router_url
        return
    from serving.server import running_server

    with running_server(f"models:/idaas/{router_version}", plain_mlflow=True) as url:
        yield request.param, url


@pytest.fixture()
def post(server, contract):
    kind, url = server

    def _post(body, **kwargs) -> requests.Response:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        response = requests.post(
            f"{url}/invocations", data=data, headers={"Content-Type": "application/json"}, timeout=120, **kwargs
        )
        # Plain MLflow's errors have its own shape; its 200s must still match the contract.
        return contract.check_response(response, errors_too=kind == "front")

    return _post


@pytest.fixture(scope="module")
def rest_rows(server, photo_bytes, router_url) -> dict[str, dict]:
    rows = IdaasClient(server[1]).annotate_raw([photo_bytes[n] for n in PHOTOS], ids=PHOTOS)
    Contract.fetch(router_url).check("InvocationResponse", {"predictions": rows})
    return {row["id"]: row for row in rows}


def test_every_task_answers_on_real_photos(rest_rows):
    for name, row in rest_rows.items():
        assert row["error"] is None, name
        assert set(row["models"]) == {"classify", "faces", "ocr", "properties", "describe"}
        assert all(ref.split("/")[1].isdigit() for ref in row["models"].values())
    assert rest_rows["coffee.png"]["classify"]["labels"][0]["label"] == "espresso"
    assert "segmentation" in rest_rows["page.png"]["ocr"]["text"].lower()
    assert rest_rows["bus.jpg"]["describe"]["text"].startswith("Two people, both wearing sunglasses")
    assert (rest_rows["bus.jpg"]["width"], rest_rows["bus.jpg"]["height"]) == (810, 1080)


def test_faces_on_bus_match_the_known_boxes(rest_rows):
    faces = sorted(rest_rows["bus.jpg"]["faces"]["faces"], key=lambda f: f["box"][0])
    assert len(faces) == 2
    for face, expected in zip(faces, BUS_FACES):
        assert np.abs(np.array(face["box"]) - np.array(expected)).max() <= 10


def test_a_corrupt_image_fails_only_its_own_row(post, photo_bytes):
    bus = photo_bytes["bus.jpg"]
    body = {
        "dataframe_records": [
            {"id": "good", "image": _b64(photo_bytes["coffee.png"])},
            {"id": "truncated", "image": _b64(bus[: len(bus) // 3])},
            {"id": "bad-base64", "image": "!!!not-base64"},
            {"id": "html", "image": _b64(b"<html><body>hi</body></html>")},
            {"id": "also-good", "image": _b64(bus)},
        ],
        "params": {"tasks": "classify,faces"},
    }
    response = post(body)
    assert response.status_code == 200, response.text
    rows = {r["id"]: r for r in response.json()["predictions"]}
    assert rows["good"]["classify"]["labels"][0]["label"] == "espresso" and rows["good"]["error"] is None
    assert len(rows["also-good"]["faces"]["faces"]) == 2
    assert rows["truncated"]["error"]["code"] == "truncated_image"
    assert rows["bad-base64"]["error"]["code"] == "invalid_base64"
    assert rows["html"]["error"]["code"] == "not_an_image"
    assert "classify" not in rows["html"]


def test_row_tasks_override_and_params_route_to_their_model(post, photo_bytes):
    coffee = _b64(photo_bytes["coffee.png"])
    body = {
        "dataframe_split": {
            "columns": ["id", "image", "tasks"],
            "data": [["a", coffee, None], ["b", coffee, "properties"]],
        },
        "params": {"tasks": "classify", "top_k": 2},
    }
    response = post(body)
    assert response.status_code == 200, response.text
    a, b = response.json()["predictions"]
    assert list(a["models"]) == ["classify"] and len(a["classify"]["labels"]) == 2
    assert list(b["models"]) == ["properties"]


def test_output_json_rows_match_the_contract(post, photo_bytes):
    response = post(
        {
            "dataframe_records": [{"id": "c", "image": _b64(photo_bytes["coffee.png"])}],
            "params": {"tasks": "classify", "output": "json"},
        }
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["predictions"][0]["json"])["id"] == "c"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"dataframe_records": [{"id": "a", "image": "AAAA"}], "params": {"tasks": "teleport"}}, "unknown task"),
        ({"dataframe_records": [{"id": "a", "image": "AAAA"}], "params": {"top_k": "many"}}, "top_k"),
        (
            {"dataframe_records": [{"id": "a", "image": "AAAA"}], "params": {"tasks": "faces", "min_score": 5.0}},
            "min_score",
        ),
        ({"dataframe_records": [{"id": "a", "image": "AAAA"}], "params": {"output": "xml"}}, "output"),
        ({"dataframe_records": [{"id": str(i), "image": "AAAA"} for i in range(33)]}, "limit"),
        ({"dataframe_records": [{"id": "a"}]}, "image"),
        ("{not json", "JSON"),
    ],
)
def test_bad_requests_get_a_400_without_stack_trace(post, body, fragment):
    response = post(body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert "stack_trace" not in payload and "Traceback" not in response.text
    assert fragment.lower() in payload["message"].lower()


def test_python_client_raises_bad_request(server, photo_bytes):
    with pytest.raises(BadRequestError, match="unknown task"):
        IdaasClient(server[1]).annotate([photo_bytes["coffee.png"]], tasks="teleport")


def test_in_process_and_rest_give_identical_answers(router_version, rest_rows, photo_bytes):
    code = (
        "import json, sys, pandas as pd, mlflow.pyfunc\n"
        "from registry.store import configure\n"
        "from vision.samples import sample_photo\n"
        "configure()\n"
        f"names = {PHOTOS!r}\n"
        f"model = mlflow.pyfunc.load_model('models:/idaas/{router_version}')\n"
        "rows = model.predict(pd.DataFrame({'id': names, 'image': [sample_photo(n).read_bytes() for n in names]}))\n"
        "sys.stdout.write('ROWS' + json.dumps(rows))\n"
    )
    done = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]
    in_process = {r["id"]: r for r in json.loads(done.stdout.split("ROWS", 1)[1])}
    assert in_process == rest_rows


def test_curl_example_from_the_readme(server, contract, photos, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    body = tmp_path / "body.json"
    body.write_text(
        json.dumps(
            {
                "dataframe_records": [{"id": "bus", "image": _b64(photos["bus.jpg"].read_bytes())}],
                "params": {"tasks": "faces"},
            }
        )
    )
    done = subprocess.run(
        [
            curl,
            "-s",
            "-X",
            "POST",
            f"{server[1]}/invocations",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            f"@{body}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    answer = contract.check("InvocationResponse", json.loads(done.stdout))
    row = answer["predictions"][0]
    assert len(row["faces"]["faces"]) == 2 and row["models"]["faces"].startswith("faces-mtcnn/")


def test_node_fetch_example(server, contract, photos):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, str(REPO / "serving/examples/annotate.js"), server[1], str(photos["coffee.png"]), "classify"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    predictions = contract.check("InvocationResponse", {"predictions": json.loads(done.stdout)})["predictions"]
    row = predictions[0]
    assert row["id"] == "coffee.png" and row["classify"]["labels"][0]["label"] == "espresso"
    bad = subprocess.run(
        [node, str(REPO / "serving/examples/annotate.js"), server[1], str(photos["coffee.png"]), "teleport"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "HTTP 400" in bad.stderr and "unknown task" in bad.stderr


def test_router_tags_list_its_sub_model_versions(router_version):
    from registry.store import client

    version = client().get_model_version("idaas", router_version)
    members = json.loads(version.tags["idaas.router.models"])
    assert set(members) == {"classify", "faces", "ocr", "properties", "describe"}
    for ref in members.values():
        name, number = ref.split("/")
        assert str(client().get_model_version_by_alias(name, "production").version) == number


def test_dockerfile_serves_an_exported_router_with_the_tested_command():
    from serving.server import serve_command

    lines = (REPO / "serving/Dockerfile").read_text().splitlines()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) == 1 and "nvidia/cuda" in froms[0] and "cudnn-runtime" in froms[0]
    cmd = [line for line in lines if line.startswith("CMD ")]
    assert len(cmd) == 1
    expected = serve_command("/opt/idaas/router", host="0.0.0.0", port=8080)
    expected[0] = "python"
    assert json.loads(cmd[0][4:]) == expected
    assert any(line.startswith("COPY build/router /opt/idaas/router") for line in lines)
    assert any("EXPOSE 8080" == line for line in lines)
    assert any("/ready" in line for line in lines if line.startswith("HEALTHCHECK"))
