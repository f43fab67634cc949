"""The ASGI app: MLflow's scoring app for one model, behind our checks, error rewriting,
metrics, request log, health probes and OpenAPI contract.

uvicorn starts one of these per worker process (``create_app`` is the factory). The model is
loaded and warmed up in the lifespan startup, before the worker accepts a connection, so with
several workers no request ever reaches one that is still loading.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from serving.front import limits, metrics, request_log
from serving.front.errors import FrontError, error_body, rewrite_inner_error
from serving.front.openapi import build as build_openapi
from serving.front.openapi import docs_page
from vision.settings import Settings, apply_offline_env

log = logging.getLogger("idaas.front")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The model's own deadline (the engine drops queued work at request_timeout_s) answers first;
# this is the front's last word if something below ignores it.
_GRACE_S = 10.0
_WARM_UP_S = 600.0


class Front:
    def __init__(self, model_uri: str, settings: Settings):
        self.model_uri = model_uri
        self.settings = settings
        self.timeout = settings.request_timeout_s or 60.0
        self.inner = None  # MLflow's scoring app, once the model is loaded
        self.ready = False
        self.models: dict[str, str] = {}
        self.openapi: dict[str, Any] = {}
        self._stop_sampler = None

    # -- lifecycle --------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model, build MLflow's app around it, warm every task up once."""
        from mlflow.pyfunc import scoring_server

        model = scoring_server.load_model_with_mlflow_config(self.model_uri)
        self.inner = scoring_server.init(model)
        params = model.metadata.get_params_schema()
        specs = [
            {"name": p.name, "type": getattr(p.dtype, "name", str(p.dtype)), "default": _plain(p.default)}
            for p in (params.params if params else [])
        ]
        self.models = self._warm_up(model)
        self.openapi = build_openapi(
            specs,
            self.settings,
            model_uri=self.model_uri,
            version=",".join(f"{t}={r}" for t, r in sorted(self.models.items())) or "1",
        )
        metrics.set_models(self.models)

    def _warm_up(self, model) -> dict[str, str]:
        """One real image through every task, so the first caller does not pay for lazy starts;
        the answers name the versions served."""
        from mlflow.exceptions import MlflowException

        from registry.signature import input_example

        example = input_example()
        if example is None:
            return {}
        tasks = _tasks_of(model)
        models: dict[str, str] = {}
        # One task per call: a cold model can take longer than a short request timeout; its
        # batch still runs to the end and warms it, so a timed-out warm-up is tried again.
        deadline = time.monotonic() + _WARM_UP_S
        for task in tasks or [None]:
            while True:
                try:
                    rows = model.predict(example, params={"tasks": task} if task else None)
                    break
                except MlflowException as exc:
                    if "[timeout]" not in exc.message or time.monotonic() > deadline:
                        raise
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, dict) and set(row) == {"json"}:
                    row = json.loads(row["json"])
                models.update({t: ref for t, ref in (row.get("models") or {}).items() if isinstance(ref, str)})
        return models

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.to_thread(self.load)
                except Exception as exc:  # noqa: BLE001 - reported to uvicorn, which exits
                    log.exception("could not load %s", self.model_uri)
                    await send({"type": "lifespan.startup.failed", "message": f"could not load the model: {exc}"})
                    return
                metrics.watch_engine()
                self._stop_sampler = metrics.start_memory_sampler()
                self.ready = True
                metrics.READY.set(1)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # uvicorn has stopped accepting and let in-flight requests finish (SIGTERM drains).
                self.ready = False
                if self._stop_sampler is not None:
                    self._stop_sampler.set()
                metrics.worker_exit()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self.lifespan(receive, send)
        if scope["type"] != "http":
            return
        started = time.monotonic()
        path, method = scope["path"], scope["method"]
        request_id = _request_id(scope)
        record: dict[str, Any] = {"request_id": request_id, "method": method, "path": path}
        status = 500
        try:
            status = await self._route(scope, receive, send, request_id, record)
        except Exception:  # noqa: BLE001 - a bug of ours must still answer plain JSON
            log.exception("request %s failed in the front", request_id)
            record["error_code"] = "internal_error"
            status = await _send_error(
                send,
                FrontError("internal_error", "the server failed on this request; its log has the details"),
                request_id,
            )
        finally:
            seconds = time.monotonic() - started
            metrics.observe_request(path, status, seconds)
            if path == "/invocations" or status >= 400:
                outcome = "ok" if status < 400 else "refused" if status < 500 else "failed"
                record.update(status=status, outcome=outcome, latency_ms=round(seconds * 1000, 1), pid=os.getpid())
                request_log.write(record)

    async def _route(self, scope: Scope, receive: Receive, send: Send, request_id: str, record: dict) -> int:
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method != "POST":
                return await _send_error(send, FrontError("method_not_allowed", "use POST"), request_id, record)
            return await self._invocations(scope, receive, send, request_id, record)
        if method not in ("GET", "HEAD"):
            return await _send_error(send, FrontError("method_not_allowed", "use GET"), request_id, record)
        if path == "/health":
            return await _send(send, 200, b'{"status":"alive"}', "application/json", request_id)
        if path in ("/ready", "/ping"):
            if not self.ready:
                return await _send_error(send, FrontError("not_ready", "the models are not loaded yet"), request_id)
            body = json.dumps({"status": "ready", "models": self.models}).encode() if path == "/ready" else b"\n"
            return await _send(send, 200, body, "application/json", request_id)
        if path == "/metrics":
            body, content_type = metrics.exposition()
            return await _send(send, 200, body, content_type, request_id)
        if path == "/openapi.json":
            return await _send(send, 200, json.dumps(self.openapi).encode(), "application/json", request_id)
        if path == "/docs":
            return await _send(send, 200, docs_page(self.openapi).encode(), "text/html; charset=utf-8", request_id)
        if path == "/version" and self.inner is not None:
            status, _, body = await self._call_inner(scope, b"", receive)
            return await _send(send, status, body, "application/json", request_id)
        return await _send_error(send, FrontError("not_found", "no such endpoint; see /docs"), request_id, record)

    async def _invocations(self, scope: Scope, receive: Receive, send: Send, request_id: str, record: dict) -> int:
        facts = None
        try:
            if not self.ready:
                raise FrontError("not_ready", "the models are not loaded yet")
            headers = _headers(scope)
            mime = limits.media_type(headers.get("content-type"))
            body = await _read_body(receive, headers, self.settings.max_request_bytes)
            record["bytes_in"] = len(body)
            facts = limits.inspect(body, mime, self.settings)
            record.update(images=facts.rows, tasks=facts.tasks or None, format=mime.rsplit("/", 1)[-1])
            try:
                status, content_type, answer = await asyncio.wait_for(
                    self._call_inner(scope, body, receive), self.timeout + _GRACE_S
                )
            except TimeoutError:
                raise FrontError("timeout", f"the request took longer than {self.timeout:.0f} s") from None
            if status >= 400:
                raise rewrite_inner_error(status, answer)
        except FrontError as exc:
            record["error_code"] = exc.code
            if exc.code == "internal_error":
                log.error("request %s: %s", request_id, exc.message)
            metrics.observe_refused_images(facts.rows if facts else 0, exc.code)
            return await _send_error(send, exc, request_id)
        rows = _prediction_rows(answer)
        outcomes = metrics.observe_answers(rows)
        record.update(
            images_by_outcome=outcomes,
            models=_models_used(rows),
            bytes_out=len(answer),
            error_codes=sorted(code for code in outcomes if code != "ok") or None,
        )
        return await _send(send, status, answer, content_type, request_id)

    async def _call_inner(self, scope: Scope, body: bytes, receive: Receive) -> tuple[int, str, bytes]:
        """Run MLflow's app on an already-read body; returns (status, content type, body)."""
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # only a disconnect can come now

        status, content_type, chunks = 500, "application/json", []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.inner(scope, replay, capture)
        return status, content_type, b"".join(chunks)


def _tasks_of(model) -> list[str]:
    """The tasks a served router answers (from its pipeline), or [] for "ask for the default"."""
    python_model = getattr(model, "unwrap_python_model", lambda: None)()
    pipeline = getattr(python_model, "pipeline", None)
    return list(getattr(pipeline, "tasks", []) or [])


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _request_id(scope: Scope) -> str:
    given = _headers(scope).get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole body, refused as soon as it is known to pass ``limit`` (never buffered past it)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FrontError("payload_too_large", f"the body has {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise FrontError("invalid_body", "the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise FrontError("payload_too_large", f"the body has more than {limit} bytes; the limit is {limit}")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _prediction_rows(answer: bytes) -> list[dict[str, Any]]:
    try:
        predictions = json.loads(answer).get("predictions", [])
    except (ValueError, AttributeError):
        return []
    rows = []
    for row in predictions if isinstance(predictions, list) else []:
        if isinstance(row, dict) and set(row) == {"json"} and isinstance(row["json"], str):
            row = json.loads(row["json"])  # params.output = "json"
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _models_used(rows: list[dict[str, Any]]) -> dict[str, str]:
    used: dict[str, str] = {}
    for row in rows:
        used.update({k: v for k, v in (row.get("models") or {}).items() if isinstance(v, str)})
    return used


async def _send(send: Send, status: int, body: bytes, content_type: str, request_id: str) -> int:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return status


async def _send_error(send: Send, error: FrontError, request_id: str, record: dict | None = None) -> int:
    if record is not None:
        record["error_code"] = error.code
    return await _send(send, error.status, error_body(error.code, error.message), "application/json", request_id)


def create_app() -> Front:
    """uvicorn's factory (one call per worker process)."""
    settings = apply_offline_env()
    from registry.store import configure

    configure()  # the registry the model URI resolves against (models:/idaas@production)
    request_log.configure(settings)
    return Front(settings.serve_model_uri, settings)
