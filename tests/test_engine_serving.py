"""The engine behind the served router: concurrent one-image callers get exactly the answers
that solo callers get, in-process (mlflow.pyfunc) and over REST, and the per-request pixel
budget is a 400 over REST."""

from __future__ import annotations

import base64

import mlflow.pyfunc
import pandas as pd
import pytest
import requests

from tests.burst import burst

pytestmark = pytest.mark.slow

PHOTOS = ["bus.jpg", "zidane.jpg", "grace_hopper.jpg", "astronaut.png", "coffee.png", "chelsea.png"]
PARAMS = {"tasks": "classify,faces,properties,describe", "top_k": 3}


def test_concurrent_pyfunc_calls_answer_as_solo_calls(router_version, photo_bytes):
    model = mlflow.pyfunc.load_model(f"models:/idaas/{router_version}")

    def one(name: str) -> dict:
        return model.predict(pd.DataFrame({"id": [name], "image": [photo_bytes[name]]}), params=PARAMS)[0]

    solo = {name: one(name) for name in PHOTOS}
    names = PHOTOS * 2
    together = burst(lambda i: one(names[i]), len(names))
    assert together == [solo[n] for n in names]


@pytest.fixture(scope="module")
def budget_server(router_version):
    """The router served with a 2-megapixel budget per request (a bus photo decodes to 0.87 MP
    at full size, which faces and OCR ask for)."""
    from serving.server import running_server

    with running_server(f"models:/idaas/{router_version}", env={"IDAAS_MAX_REQUEST_PIXELS": "2000000"}) as url:
        yield url


def _post(url: str, names: list[str], photo_bytes, params=PARAMS) -> requests.Response:
    rows = [{"id": n, "image": base64.b64encode(photo_bytes[n]).decode()} for n in names]
    return requests.post(f"{url}/invocations", json={"dataframe_records": rows, "params": params}, timeout=300)


def test_concurrent_rest_requests_answer_as_solo_requests(budget_server, photo_bytes):
    solo = {}
    for name in PHOTOS:
        response = _post(budget_server, [name], photo_bytes)
        assert response.status_code == 200, response.text
        solo[name] = response.json()["predictions"][0]
    names = PHOTOS * 2
    responses = burst(lambda i: _post(budget_server, [names[i]], photo_bytes), len(names))
    assert [r.status_code for r in responses] == [200] * len(names)
    assert [r.json()["predictions"][0] for r in responses] == [solo[n] for n in names]


def test_a_request_over_the_pixel_budget_is_a_400(budget_server, photo_bytes):
    params = {"tasks": "faces"}
    assert _post(budget_server, ["bus.jpg", "bus.jpg"], photo_bytes, params).status_code == 200
    refused = _post(budget_server, ["bus.jpg"] * 3, photo_bytes, params)
    assert refused.status_code == 400
    assert "pixels" in refused.text and "Traceback" not in refused.text
