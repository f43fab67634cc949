"""A bounded load test against the real server (loopback only): 4 clients for 60 s, with one
and with two worker processes. /metrics is scraped during the run; its request and image
counters must grow by exactly what the load test sent, and the request log must hold one
line per request."""

from __future__ import annotations

import json

import pytest

from serving.load_test import run_load

pytestmark = pytest.mark.slow


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def served(request, router_url, router_version, idaas_home):
    """(URL, server log, workers) for the session's one-worker front, or a fresh two-worker one
    that also writes the request log to files."""
    if request.param == 1:
        yield router_url, idaas_home / "logs" / f"serve-{router_url.rsplit(':', 1)[1]}.log", 1
        return
    from serving.server import running_server

    log_path = idaas_home / "logs" / "serve-2-workers.log"
    with running_server(
        f"models:/idaas/{router_version}", workers=2, log_path=log_path, env={"IDAAS_REQUEST_LOG_FILE": "1"}
    ) as url:
        yield url, log_path, 2


def _request_lines(log_path, prefix: str) -> list[dict]:
    lines = []
    for line in log_path.read_text(errors="replace").splitlines() if log_path.exists() else []:
        if line.startswith('{"ts":'):
            record = json.loads(line)
            if str(record.get("request_id", "")).startswith(prefix):
                lines.append(record)
    return lines


def test_four_clients_for_sixty_seconds(served, idaas_home, request):
    url, log_path, workers = served
    # Each worker warms up on its share of the warm-up requests: give each the same share.
    result = run_load(url, clients=4, seconds=60, warmup_requests=16 * workers)
    lines = _request_lines(log_path, result["request_id_prefix"])
    result["request_log_lines"] = len(lines)
    print(json.dumps(result, indent=2, default=str))
    (idaas_home / f"load-test-{request.node.callspec.id}.json").write_text(json.dumps(result, indent=2, default=str))
    assert result["5xx"] == 0 and result["statuses"].get(0, 0) == 0, result
    answered, sent = map(int, result["valid_photos"].split("/"))
    assert sent > 0 and answered == sent, result
    refused, corrupt = map(int, result["corrupt_refused_in_row"].split("/"))
    assert refused == corrupt, result
    bad_ok, bad = map(int, result["bad_requests_400"].split("/"))
    assert bad_ok == bad, result
    assert result["rss_growth"] <= 0.20, result
    # The counters grew by exactly what was sent, per status and per image outcome.
    assert result["metrics_growth"]["requests"] == result["statuses"], result
    assert result["metrics_growth"]["images"] == result["images_sent"], result
    assert result["metrics_scrapes_during_run"] >= 5, result
    # One request-log line per request, with the status the client saw.
    assert len(lines) == result["requests"], (len(lines), result["requests"])
    statuses: dict[int, int] = {}
    for line in lines:
        statuses[line["status"]] = statuses.get(line["status"], 0) + 1
    assert statuses == result["statuses"], (statuses, result["statuses"])
    if workers == 2:
        pids = {line["pid"] for line in lines}
        assert len(pids) == 2, "both workers should have answered"
        # The rotating files (one per worker, IDAAS_REQUEST_LOG_FILE=1) hold the same lines.
        files = [idaas_home / "logs" / "requests" / f"requests-{pid}.jsonl" for pid in pids]
        in_files = [line for path in files for line in _request_lines(path, result["request_id_prefix"])]
        assert sorted(r["request_id"] for r in in_files) == sorted(r["request_id"] for r in lines)
