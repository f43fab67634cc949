"""Prometheus metrics of the front, correct with several worker processes.

The launcher (serving/front/__main__.py) points PROMETHEUS_MULTIPROC_DIR at a fresh folder in
the data directory before any worker starts; every worker then writes its samples there and
/metrics, answered by whichever worker, sums them. Without that variable (a test importing the
app in one process) the default registry is used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from vision.results import RESULT_TYPES

# Only these paths get their own label value: a scanner probing /wp-admin must not mint series.
KNOWN_PATHS = ("/invocations", "/ping", "/health", "/ready", "/metrics", "/version", "/openapi.json", "/docs")
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter("idaas_requests", "HTTP requests answered, by path and status", ["path", "status"])
REQUEST_SECONDS = Histogram(
    "idaas_request_duration_seconds",
    "time from the request's arrival to its answer",
    ["path"],
    buckets=_LATENCY_BUCKETS,
)
IMAGES = Counter(
    "idaas_images",
    "images received in /invocations requests, by outcome: ok, the image's error "
    "code, or the code that refused the whole request",
    ["outcome"],
)
TASK_IMAGES = Counter(
    "idaas_task_images",
    "answers per task for images that decoded, by outcome: ok or the task's error code",
    ["task", "outcome"],
)
TASK_BATCH_SECONDS = Histogram(
    "idaas_task_batch_duration_seconds",
    "one model batch: preprocess, forward, postprocess",
    ["task", "model"],
    buckets=_LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "idaas_batch_size",
    "images per model batch (cross-request batching)",
    ["task", "model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
QUEUE_DEPTH = Gauge(
    "idaas_queue_depth",
    "images waiting in a model's queue, summed over workers",
    ["model"],
    multiprocess_mode="livesum",
)
MODEL_INFO = Gauge(
    "idaas_model_info",
    "the model versions this endpoint serves (value 1)",
    ["task", "model", "version"],
    multiprocess_mode="max",
)
READY = Gauge("idaas_ready", "1 once a worker's models are loaded and warmed up", multiprocess_mode="liveall")
MEMORY = Gauge(
    "idaas_process_resident_memory_bytes", "resident memory of each worker process", multiprocess_mode="liveall"
)


def path_label(path: str) -> str:
    return path if path in KNOWN_PATHS else "other"


def observe_request(path: str, status: int, seconds: float) -> None:
    label = path_label(path)
    REQUESTS.labels(label, str(status)).inc()
    REQUEST_SECONDS.labels(label).observe(seconds)


def observe_refused_images(rows: int, code: str) -> None:
    if rows:
        IMAGES.labels(code).inc(rows)


def observe_answers(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Count each answered row by outcome and each task answer; returns outcome -> images."""
    outcomes: dict[str, int] = {}
    for row in rows:
        error = row.get("error")
        outcome = error.get("code", "error") if isinstance(error, dict) else "ok"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for task in RESULT_TYPES:
            answer = row.get(task)
            if isinstance(answer, dict):
                task_error = answer.get("error") if set(answer) == {"error"} else None
                TASK_IMAGES.labels(task, task_error.get("code", "error") if task_error else "ok").inc()
    for outcome, count in outcomes.items():
        IMAGES.labels(outcome).inc(count)
    return outcomes


def on_batch(task: str, model: str, batch_size: int, queue_depth: int, seconds: float) -> None:
    """The engine's batch listener (vision.engine.add_batch_listener)."""
    BATCH_SIZE.labels(task, model).observe(batch_size)
    TASK_BATCH_SECONDS.labels(task, model).observe(seconds)
    QUEUE_DEPTH.labels(model).set(queue_depth)


def watch_engine() -> None:
    """Subscribe to the engine's batches (a no-op with an engine that has no listeners)."""
    try:
        from vision.engine import add_batch_listener
    except ImportError:
        return
    add_batch_listener(on_batch)


def refresh_queue_depths() -> None:
    try:
        from vision.engine import queue_depths
    except ImportError:
        return
    for model, depth in queue_depths().items():
        QUEUE_DEPTH.labels(model).set(depth)


def set_models(models: dict[str, str]) -> None:
    """task -> "name/version", as every answer's "models" names them."""
    for task, ref in models.items():
        name, _, version = ref.partition("/")
        MODEL_INFO.labels(task, name, version).set(1)


def start_memory_sampler(interval: float = 5.0) -> threading.Event:
    """Keep this worker's resident memory current (any worker may answer a scrape)."""
    stop = threading.Event()
    process = psutil.Process()

    def sample() -> None:
        while True:
            MEMORY.set(process.memory_info().rss)
            if stop.wait(interval):
                return

    threading.Thread(target=sample, name="idaas-memory-sampler", daemon=True).start()
    return stop


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def exposition() -> tuple[bytes, str]:
    """The /metrics body: every worker's samples when several share the multiprocess folder."""
    refresh_queue_depths()
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exit() -> None:
    """Drop this worker's live gauges (memory, readiness, queue depth) from the shared folder."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())
