"""A bounded load test of an idaas endpoint on this machine: N concurrent clients for S
seconds, sending a mix of valid photos, corrupt images and bad requests.

    .venv/bin/python -m serving.load_test --url http://127.0.0.1:5000 --clients 4 --seconds 60

It checks what the service promises: no 5xx, every valid photo answered, every corrupt image
refused in its own row, every bad request a 400; and the server's memory after the run
against its memory after warm-up. Where the server exports /metrics, it scrapes them during
the run and compares the counters' growth with what it sent, per status and per image outcome.
Every request carries an X-Request-Id starting with the run's prefix, so the request log's
lines for this run can be counted. Loopback only: it refuses any other address.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

from vision.samples import sample_photos

VALID = ("bus.jpg", "zidane.jpg", "grace_hopper.jpg", "coffee.png", "chelsea.png", "page.png", "astronaut.png")
TASK_SETS = ("classify", "faces", "classify,faces,properties", "ocr", "properties,describe")
# What each corrupt row must be refused with (its own row's error code).
CORRUPT_CODES = {"truncated": "truncated_image", "html": "not_an_image", "bad-base64": "invalid_base64"}


def _loopback_only(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load-test {host}: only loopback addresses are allowed")


def server_rss(url: str) -> int:
    """Resident memory (bytes) of the process listening on the URL's port and its children."""
    port = urlparse(url).port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            proc = psutil.Process(conn.pid)
            family = [proc] + proc.children(recursive=True)
            return sum(p.memory_info().rss for p in family if p.is_running())
    raise RuntimeError(f"no process listens on port {port}")


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    valid_sent: int = 0
    valid_answered: int = 0
    corrupt_sent: int = 0
    corrupt_refused: int = 0
    bad_sent: int = 0
    bad_refused: int = 0
    images: Counter = field(default_factory=Counter)  # image outcome the server must count -> images sent
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        return {
            "requests": self.requests,
            "statuses": dict(self.statuses),
            "5xx": sum(n for s, n in self.statuses.items() if s >= 500),
            "valid_photos": f"{self.valid_answered}/{self.valid_sent}",
            "corrupt_refused_in_row": f"{self.corrupt_refused}/{self.corrupt_sent}",
            "bad_requests_400": f"{self.bad_refused}/{self.bad_sent}",
            "images_sent": dict(self.images),
            "latency_median_s": round(statistics.median(lat), 3) if lat else None,
            "latency_p95_s": round(lat[int(len(lat) * 0.95) - 1], 3) if lat else None,
            "failures": self.failures[:10],
        }


def _payloads(seed: int):
    photos = sample_photos()
    valid = {n: base64.b64encode(photos[n].read_bytes()).decode() for n in VALID if n in photos}
    bus = photos["bus.jpg"].read_bytes()
    corrupt = {
        "truncated": base64.b64encode(bus[: len(bus) // 4]).decode(),
        "html": base64.b64encode(b"<html><body>not a photo</body></html>").decode(),
        "bad-base64": "%%%not base64%%%",
    }
    rng = random.Random(seed)
    while True:
        roll = rng.random()
        tasks = rng.choice(TASK_SETS)
        if roll < 0.1:  # a bad request: the whole request is refused
            yield (
                "bad",
                {"dataframe_records": [{"id": "x", "image": valid["coffee.png"]}], "params": {"tasks": "teleport"}},
                [],
                [],
            )
            continue
        names = rng.sample(sorted(valid), k=rng.randint(1, 2))
        rows = [{"id": n, "image": valid[n]} for n in names]
        bad = []
        if roll < 0.4:
            kind = rng.choice(sorted(corrupt))
            rows.append({"id": f"corrupt-{kind}", "image": corrupt[kind]})
            bad.append(f"corrupt-{kind}")
        rng.shuffle(rows)
        yield "ok", {"dataframe_records": rows, "params": {"tasks": tasks}}, names, bad


def _client(url: str, seed: int, deadline: float, stats: Stats, max_requests: int, id_prefix: str = "") -> None:
    session = requests.Session()
    for n, (kind, body, valid_ids, corrupt_ids) in enumerate(_payloads(seed)):
        if time.monotonic() >= deadline or stats.requests >= max_requests:
            return
        started = time.monotonic()
        headers = {"X-Request-Id": f"{id_prefix}{seed}-{n}"} if id_prefix else {}
        try:
            response = session.post(f"{url}/invocations", json=body, timeout=120, headers=headers)
        except requests.RequestException as exc:
            with stats.lock:
                stats.requests += 1
                stats.statuses[0] += 1
                stats.failures.append(f"transport: {exc}")
            continue
        elapsed = time.monotonic() - started
        with stats.lock:
            stats.requests += 1
            stats.statuses[response.status_code] += 1
            stats.latencies.append(elapsed)
            if kind == "bad":
                stats.bad_sent += 1
                stats.images["bad_request"] += len(body["dataframe_records"])
                ok = response.status_code == 400 and "stack_trace" not in response.json()
                stats.bad_refused += ok
                if not ok:
                    stats.failures.append(f"bad request got {response.status_code}")
                continue
            stats.valid_sent += len(valid_ids)
            stats.corrupt_sent += len(corrupt_ids)
            stats.images["ok"] += len(valid_ids)
            for cid in corrupt_ids:
                stats.images[CORRUPT_CODES[cid.removeprefix("corrupt-")]] += 1
            if response.status_code != 200:
                stats.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                continue
            rows = {r["id"]: r for r in response.json()["predictions"]}
            tasks = body["params"]["tasks"].split(",")
            for vid in valid_ids:
                row = rows.get(vid)
                if row and row["error"] is None and all(t in row for t in tasks):
                    stats.valid_answered += 1
                else:
                    stats.failures.append(f"{vid} unanswered: {json.dumps(row)[:200]}")
            for cid in corrupt_ids:
                row = rows.get(cid)
                stats.corrupt_refused += bool(row and row["error"] and row["error"]["code"])


def scrape(url: str) -> dict[str, dict[str, float]] | None:
    """The front's request and image counters ({"requests": {status: n}, "images": {outcome: n}}),
    parsed with prometheus_client's own parser; None where the server has no /metrics."""
    try:
        response = requests.get(f"{url}/metrics", timeout=30)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    found: dict[str, dict[str, float]] = {"requests": Counter(), "images": Counter()}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "idaas_requests_total" and sample.labels.get("path") == "/invocations":
                found["requests"][int(sample.labels["status"])] += sample.value
            elif sample.name == "idaas_images_total":
                found["images"][sample.labels["outcome"]] += sample.value
    return found


def _growth(before: dict, after: dict) -> dict[str, dict]:
    return {
        key: {k: int(v - before[key].get(k, 0)) for k, v in after[key].items() if v - before[key].get(k, 0)}
        for key in after
    }


def run_load(
    url: str,
    clients: int = 4,
    seconds: float = 60.0,
    max_requests: int = 5000,
    warmup_requests: int = 16,
    id_prefix: str | None = None,
) -> dict:
    """Warm up, measure memory, run the load (scraping /metrics meanwhile), measure memory
    again; returns the figures."""
    _loopback_only(url)
    # Warm up at the same concurrency as the run: each concurrent predict call holds its own
    # buffers (torch, onnxruntime arenas), so memory after a one-client warm-up is not the
    # steady state that a leak would have to grow from.
    warm = Stats()
    warm_threads = [
        threading.Thread(target=_client, args=(url, 1000 + i, time.monotonic() + 180, warm, warmup_requests))
        for i in range(clients)
    ]
    for t in warm_threads:
        t.start()
    for t in warm_threads:
        t.join()
    rss_warm = server_rss(url)
    id_prefix = id_prefix or f"load-{uuid.uuid4().hex[:8]}-"
    counters_before = scrape(url)
    stats = Stats()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_client, args=(url, i, deadline, stats, max_requests, id_prefix))
        for i in range(clients)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    scrapes_during = 0
    while any(t.is_alive() for t in threads) and counters_before is not None:
        scrapes_during += scrape(url) is not None  # an operator's Prometheus scraping under load
        time.sleep(5)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    rss_after = server_rss(url)
    result = stats.summary()
    result["request_id_prefix"] = id_prefix
    if counters_before is not None:
        result["metrics_growth"] = _growth(counters_before, scrape(url))
        result["metrics_scrapes_during_run"] = scrapes_during
    result.update(
        {
            "clients": clients,
            "seconds": round(elapsed, 1),
            "requests_per_s": round(stats.requests / elapsed, 2),
            "rss_after_warmup_mb": round(rss_warm / 1e6, 1),
            "rss_after_run_mb": round(rss_after / 1e6, 1),
            "rss_growth": round(rss_after / rss_warm - 1, 4),
            "warmup_failures": warm.failures[:5],
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(json.dumps(run_load(args.url, args.clients, args.seconds), indent=2))


if __name__ == "__main__":
    main()
