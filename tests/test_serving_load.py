"""A bounded load test against the real server (loopback only): 4 clients for 60 s."""

from __future__ import annotations

import json

import pytest

from serving.load_test import run_load

pytestmark = pytest.mark.slow


def test_four_clients_for_sixty_seconds(router_url, idaas_home):
    result = run_load(router_url, clients=4, seconds=60)
    print(json.dumps(result, indent=2))
    (idaas_home / "load-test.json").write_text(json.dumps(result, indent=2))
    assert result["5xx"] == 0 and result["statuses"].get(0, 0) == 0, result
    answered, sent = map(int, result["valid_photos"].split("/"))
    assert sent > 0 and answered == sent, result
    refused, corrupt = map(int, result["corrupt_refused_in_row"].split("/"))
    assert refused == corrupt, result
    bad_ok, bad = map(int, result["bad_requests_400"].split("/"))
    assert bad_ok == bad, result
    assert result["rss_growth"] <= 0.20, result
