"""The hardened front (serving/front), tried with the hostile and careless requests other
teams' clients send: each gets a 4xx with a short plain JSON error (no stack trace, no server
path, no echo of the request), and the server keeps answering."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import threading
import time

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from serving.load_test import server_rss
from tests.contract import Contract

pytestmark = pytest.mark.slow
SECRET = "hunter2-do-not-echo"


def _post(url: str, data: bytes | str, content_type: str | None = "application/json", **kwargs) -> requests.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    headers.update(kwargs.pop("headers", {}))
    return requests.post(f"{url}/invocations", data=data, headers=headers, timeout=120, **kwargs)


def _raw_post(url: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, bytes]:
    """POST over a bare socket (a client that keeps sending what the server will not read)."""
    host, port = url.removeprefix("http://").split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host, "Content-Type": "application/json", **headers}.items())
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(f"POST /invocations HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all: what we test for
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def _assert_plain_refusal(
    response: requests.Response, status: int, code: str, contract: Contract, sent: bytes | str = b""
) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert len(response.content) <= 400, len(response.content)
    payload = contract.check("Error", response.json())
    assert payload["error_code"] == code, payload
    text = response.text
    assert "stack_trace" not in text and "Traceback" not in text and SECRET not in text
    assert "/work/" not in text and ".venv" not in text and "site-packages" not in text
    sent = sent.encode() if isinstance(sent, str) else sent
    # No run of the request longer than 40 bytes comes back (far under the 200-byte bound).
    for start in range(0, max(len(sent) - 40, 0), 20):
        assert sent[start : start + 40] not in response.content
    assert response.headers.get("x-request-id")
    return payload


@pytest.fixture(scope="module")
def contract(router_url) -> Contract:
    return Contract.fetch(router_url)


def _still_answers(url: str, photo: bytes) -> None:
    assert requests.get(f"{url}/ping", timeout=10).status_code == 200
    body = {
        "dataframe_records": [{"id": "ok", "image": base64.b64encode(photo).decode()}],
        "params": {"tasks": "classify"},
    }
    response = _post(url, json.dumps(body))
    assert response.status_code == 200 and response.json()["predictions"][0]["classify"]["labels"]


def test_no_content_type_is_a_415(router_url, contract, photo_bytes):
    body = json.dumps({"dataframe_records": [{"id": "a", "image": "AAAA"}]})
    payload = _assert_plain_refusal(
        _post(router_url, body, content_type=None), 415, "unsupported_media_type", contract, body
    )
    assert "Content-Type" in payload["message"]
    _assert_plain_refusal(
        _post(router_url, body, content_type="application/xml"), 415, "unsupported_media_type", contract, body
    )
    _still_answers(router_url, photo_bytes["coffee.png"])


def test_json_nested_100000_deep_is_a_400(router_url, contract, photo_bytes):
    body = "[" * 100_000 + "]" * 100_000
    _assert_plain_refusal(_post(router_url, body), 400, "json_too_deep", contract, body)
    shallow_but_deep = json.dumps(
        {
            "dataframe_records": [{"id": "a", "image": "AAAA"}],
            "params": {
                "x": [
                    [
                        [
                            [
                                [
                                    [
                                        [
                                            [
                                                [
                                                    [
                                                        [
                                                            [
                                                                [
                                                                    [
                                                                        [
                                                                            [
                                                                                [
                                                                                    [
                                                                                        [
                                                                                            [
                                                                                                [
                                                                                                    [
                                                                                                        [
                                                                                                            [
                                                                                                                [
                                                                                                                    [
                                                                                                                        [
                                                                                                                            [
                                                                                                                                [
                                                                                                                                    [
                                                                                                                                        [
                                                                                                                                            [
                                                                                                                                                [
                                                                                                                                                    [
                                                                                                                                                        [
                                                                                                                                                            [
                                                                                                                                                                [
                                                                                                                                                                    [
                                                                                                                                                                        [
                                                                                                                                                                            [
                                                                                                                                                                                [
                                                                                                                                                                                    [
                                                                                                                                                                                        [
                                                                                                                                                                                            [
                                                                                                                                                                                                [
                                                                                                                                                                                                    [
                                                                                                                                                                                                        [
                                                                                                                                                                                                            [
                                                                                                                                                                                                                [
                                                                                                                                                                                                                    [
                                                                                                                                                                                                                        [
                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                "deep"
                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                ]
                                                                                                                                                                                                            ]
                                                                                                                                                                                                        ]
                                                                                                                                                                                                    ]
                                                                                                                                                                                                ]
                                                                                                                                                                                            ]
                                                                                                                                                                                        ]
                                                                                                                                                                                    ]
                                                                                                                                                                                ]
                                                                                                                                                                            ]
                                                                                                                                                                        ]
                                                                                                                                                                    ]
                                                                                                                                                                ]
                                                                                                                                                            ]
                                                                                                                                                        ]
                                                                                                                                                    ]
                                                                                                                                                ]
                                                                                                                                            ]
                                                                                                                                        ]
                                                                                                                                    ]
                                                                                                                                ]
                                                                                                                            ]
                                                                                                                        ]
                                                                                                                    ]
                                                                                                                ]
                                                                                                            ]
                                                                                                        ]
                                                                                                    ]
                                                                                                ]
                                                                                            ]
                                                                                        ]
                                                                                    ]
                                                                                ]
                                                                            ]
                                                                        ]
                                                                    ]
                                                                ]
                                                            ]
                                                        ]
                                                    ]
                                                ]
                                            ]
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                ]
            },
        }
    )
    _assert_plain_refusal(_post(router_url, shallow_but_deep), 400, "json_too_deep", contract)
    _still_answers(router_url, photo_bytes["coffee.png"])


def test_invalid_json_of_10_mb_is_not_echoed(router_url, contract, photo_bytes):
    body = '{"api_key": "' + SECRET + '", "dataframe_records": [{"id": "a", "image": "' + "A" * 10_000_000 + '"'
    response = _post(router_url, body)
    payload = _assert_plain_refusal(response, 400, "invalid_json", contract, body)
    assert "JSON" in payload["message"]
    _still_answers(router_url, photo_bytes["coffee.png"])


def test_garbage_parquet_and_broken_csv_get_plain_400s(router_url, contract, photo_bytes):
    garbage = b"PAR1" + os.urandom(4096) + b"PAR1"
    _assert_plain_refusal(
        _post(router_url, garbage, "application/vnd.apache.parquet"), 400, "invalid_parquet", contract, garbage
    )
    csv_body = 'id,image\n"a,' + SECRET + "\n"
    _assert_plain_refusal(_post(router_url, csv_body, "text/csv"), 400, "invalid_csv", contract, csv_body)
    not_utf8 = b"id,image\n\xff\xfe,\x00\n"
    _assert_plain_refusal(_post(router_url, not_utf8, "text/csv"), 400, "invalid_csv", contract, not_utf8)
    _still_answers(router_url, photo_bytes["coffee.png"])


def test_a_good_parquet_and_csv_body_are_answered(router_url, contract, photo_bytes):
    coffee = base64.b64encode(photo_bytes["coffee.png"]).decode()
    body = _parquet(pa.table({"id": ["c"], "image": [coffee], "tasks": ["classify"]}))
    response = contract.check_response(_post(router_url, body, "application/vnd.apache.parquet"))
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["classify"]["labels"][0]["label"] == "espresso"
    csv_body = f"id,image,tasks\nc,{coffee},classify\n"
    response = contract.check_response(_post(router_url, csv_body, "text/csv"))
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["classify"]["labels"][0]["label"] == "espresso"


def test_ten_million_row_parquet_is_refused_before_it_is_built(router_url, contract, photo_bytes):
    rows = 10_000_000
    body = _parquet(pa.table({"id": pa.array(["x"] * rows), "image": pa.array(["AAAA"] * rows)}))
    assert len(body) < 100_000, len(body)  # a small body that would inflate to a huge frame
    _still_answers(router_url, photo_bytes["coffee.png"])
    before = server_rss(router_url)
    started = time.monotonic()
    response = _post(router_url, body, "application/vnd.apache.parquet")
    elapsed = time.monotonic() - started
    growth = server_rss(router_url) - before
    print(
        f"10M-row Parquet ({len(body)} bytes): HTTP {response.status_code} in {elapsed:.3f} s, "
        f"server memory {growth / 1e6:+.1f} MB"
    )
    payload = _assert_plain_refusal(response, 400, "too_many_images", contract)
    assert "10000000" in payload["message"]
    assert growth < 100e6, growth
    assert elapsed < 1.0, elapsed


def test_parquet_that_inflates_past_the_limit_is_refused(router_url, contract):
    # 20 rows whose image text compresses 1000:1 to a small body, but would take 80 MB as a frame.
    body = _parquet(
        pa.table({"id": [str(i) for i in range(20)], "image": ["A" * 4_000_000 + str(i) for i in range(20)]})
    )
    assert len(body) < 1_000_000
    _assert_plain_refusal(_post(router_url, body, "application/vnd.apache.parquet"), 413, "payload_too_large", contract)


def test_a_5_mb_id_is_refused_not_echoed(router_url, contract, photo_bytes):
    big_id = SECRET + "x" * 5_000_000
    body = json.dumps(
        {"dataframe_records": [{"id": big_id, "image": base64.b64encode(photo_bytes["coffee.png"]).decode()}]}
    )
    payload = _assert_plain_refusal(_post(router_url, body), 400, "metadata_too_large", contract, body)
    assert "besides its images" in payload["message"]
    _still_answers(router_url, photo_bytes["coffee.png"])


def test_too_many_rows_and_too_many_bytes(router_url, contract):
    body = json.dumps({"dataframe_split": {"columns": ["id", "image"], "data": [[str(i), "AAAA"] for i in range(33)]}})
    _assert_plain_refusal(_post(router_url, body), 400, "too_many_images", contract, body)
    # Declared too large: refused from the header, before a byte of the body is read.
    status, body = _raw_post(router_url, {"Content-Length": str(65 * 1024 * 1024)}, [b"{" * 1024])
    assert status == 413 and json.loads(body)["error_code"] == "payload_too_large", body
    # Streamed without a length: refused once the limit is passed, never buffered past it.
    chunk = b"A" * (1024 * 1024)
    status, body = _raw_post(
        router_url, {"Transfer-Encoding": "chunked"}, [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 66 + [b"0\r\n\r\n"]
    )
    assert status == 413 and json.loads(body)["error_code"] == "payload_too_large", body
    for shape in ('{"rows": []}', "[1, 2, 3]", '{"dataframe_split": [1]}'):
        _assert_plain_refusal(_post(router_url, shape), 400, "invalid_body", contract, shape)


def test_router_refusals_lose_mlflows_echo(router_url, contract):
    body = json.dumps({"dataframe_records": [{"id": SECRET, "image": "AAAA"}], "params": {"tasks": "teleport"}})
    payload = _assert_plain_refusal(_post(router_url, body), 400, "bad_request", contract, body)
    assert payload["message"].startswith("unknown task(s): teleport")
    assert "Failed to predict" not in payload["message"]


def test_unknown_paths_and_methods_answer_json(router_url, contract):
    response = requests.get(f"{router_url}/wp-admin", timeout=10)
    _assert_plain_refusal(response, 404, "not_found", contract)
    response = requests.get(f"{router_url}/invocations", timeout=10)
    _assert_plain_refusal(response, 405, "method_not_allowed", contract)


def test_request_id_is_returned_and_logged(router_url, idaas_home, photo_bytes):
    body = json.dumps(
        {
            "dataframe_records": [{"id": "secret-id-1", "image": base64.b64encode(photo_bytes["coffee.png"]).decode()}],
            "params": {"tasks": "classify,properties"},
        }
    )
    response = _post(router_url, body, headers={"X-Request-Id": "trace-abc.123"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "trace-abc.123"
    odd = _post(router_url, body, headers={"X-Request-Id": "no spaces allowed\u00e9"})
    assert odd.headers["x-request-id"] != "no spaces allowed" and len(odd.headers["x-request-id"]) == 32
    port = router_url.rsplit(":", 1)[1]
    log_path = idaas_home / "logs" / f"serve-{port}.log"
    lines = _log_lines(log_path, lambda r: r.get("request_id") == "trace-abc.123")
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["status"] == 200 and line["outcome"] == "ok" and line["images"] == 1
    assert line["tasks"] == ["classify", "properties"] and line["images_by_outcome"] == {"ok": 1}
    assert line["models"]["classify"].startswith("classify-mobilenet-v2/") and line["latency_ms"] > 0
    raw = log_path.read_text()
    assert "secret-id-1" not in raw and base64.b64encode(photo_bytes["coffee.png"]).decode()[:64] not in raw


def _log_lines(path, keep) -> list[dict]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith('{"ts":'):
            record = json.loads(line)
            if record.get("event") == "request" and keep(record):
                found.append(record)
    return found


def test_health_ready_docs_and_a_valid_openapi_document(router_url, contract):
    assert requests.get(f"{router_url}/health", timeout=10).json() == {"status": "alive"}
    ready = requests.get(f"{router_url}/ready", timeout=10)
    assert ready.status_code == 200 and set(ready.json()["models"]) == {
        "classify",
        "faces",
        "ocr",
        "properties",
        "describe",
    }
    docs = requests.get(f"{router_url}/docs", timeout=10)
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/invocations" in docs.text and "top_k" in docs.text and "<script" not in docs.text.lower()
    assert "http://" not in docs.text and "https://" not in docs.text  # no asset from anywhere else
    doc = contract.doc
    assert doc["openapi"] == "3.1.0"
    params = doc["components"]["schemas"]["Params"]["properties"]
    assert {"tasks", "top_k", "min_score", "output"} <= set(params) and params["top_k"]["type"] == "integer"
    prediction = doc["components"]["schemas"]["Prediction"]["properties"]
    assert {"classify", "faces", "ocr", "detect", "caption", "models", "error"} <= set(prediction)
    # A row with a key the contract does not know fails validation: the schema is closed.
    with pytest.raises(AssertionError):
        contract.check(
            "InvocationResponse",
            {"predictions": [{"id": "a", "width": 1, "height": 1, "models": {}, "error": None, "colour": "red"}]},
        )


def test_metrics_parse_and_name_the_served_versions(router_url):
    text = requests.get(f"{router_url}/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "idaas_requests",
        "idaas_request_duration_seconds",
        "idaas_images",
        "idaas_task_images",
        "idaas_model_info",
        "idaas_process_resident_memory_bytes",
        "idaas_batch_size",
        "idaas_task_batch_duration_seconds",
        "idaas_queue_depth",
        "idaas_ready",
    ):
        assert name in families, name
    served = {(s.labels["task"], s.labels["model"]) for s in families["idaas_model_info"].samples}
    assert ("faces", "faces-mtcnn") in served and ("classify", "classify-mobilenet-v2") in served
    memory = [s.value for s in families["idaas_process_resident_memory_bytes"].samples]
    assert memory and all(v > 50e6 for v in memory)
    tasks = {s.labels["task"] for s in families["idaas_batch_size"].samples}
    assert {"classify", "faces"} <= tasks


def _ocr_metrics(url: str) -> tuple[float, float]:
    """(OCR images the engine has computed, OCR images queued now), from /metrics."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    computed = queued = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "idaas_batch_size_sum" and sample.labels.get("task") == "ocr":
                computed += sample.value
            elif sample.name == "idaas_queue_depth" and sample.labels.get("model", "").startswith("ocr-"):
                queued += sample.value
    return computed, queued


def test_timeout_is_json_and_sigterm_drains(router_version, photo_bytes, idaas_home):
    """A server with a 10 s timeout and batches of 2: a slow request (24 OCR pages) gets a JSON
    504 and its images still queued are dropped, not computed; a request in flight when SIGTERM
    arrives finishes, then the server exits."""
    from serving.server import running_server

    page = base64.b64encode(photo_bytes["page.png"]).decode()
    coffee = base64.b64encode(photo_bytes["coffee.png"]).decode()
    with running_server(f"models:/idaas/{router_version}", timeout=10, env={"IDAAS_MAX_BATCH": "2"}) as url:
        contract = Contract.fetch(url)
        # The count is live: one OCR image answered is one more computed.
        computed_before, _ = _ocr_metrics(url)
        one = json.dumps({"dataframe_records": [{"id": "c", "image": coffee}], "params": {"tasks": "ocr"}})
        assert _post(url, one).status_code == 200
        assert _ocr_metrics(url)[0] == computed_before + 1
        computed_before += 1
        slow = json.dumps(
            {"dataframe_records": [{"id": str(i), "image": page} for i in range(24)], "params": {"tasks": "ocr"}}
        )
        started = time.monotonic()
        response = _post(url, slow)
        _assert_plain_refusal(response, 504, "timeout", contract, slow)
        assert time.monotonic() - started < 10 + 10
        # Once the OCR queue is empty, far fewer than the 24 images were computed.
        deadline = time.monotonic() + 180
        while True:
            computed, queued = _ocr_metrics(url)
            if queued == 0:
                break
            assert time.monotonic() < deadline, f"the OCR queue still holds {queued} images"
            time.sleep(1)
        time.sleep(3)  # the batch that was running at the deadline finishes
        computed = _ocr_metrics(url)[0] - computed_before
        print(f"OCR images computed for the timed-out request of 24: {computed:.0f}")
        assert computed < 24, "the timed-out request's queued images were computed anyway"

        # SIGTERM while a request is in flight: it still gets its answer, then the server exits.
        results: dict[str, requests.Response] = {}
        worker = threading.Thread(target=lambda: results.update(r=_post(url, one)))
        worker.start()
        time.sleep(0.5)
        port = int(url.rsplit(":", 1)[1])
        listener = next(
            c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        )
        os.kill(listener, signal.SIGTERM)
        worker.join(60)
        assert results["r"].status_code == 200, results["r"].text[:300]
        assert [row["id"] for row in results["r"].json()["predictions"]] == ["c"]
        deadline = time.monotonic() + 30
        while psutil.pid_exists(listener) and psutil.Process(listener).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the server did not exit after SIGTERM"
            time.sleep(0.2)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/ping", timeout=5)
