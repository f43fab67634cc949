"""Serving an idaas model: the command line, and a managed process (start, wait until /ping
answers, stop) for the CLI, the demo, the tests and the benchmarks.

`serve_command` runs our hardened front (serving/front: MLflow's scoring app behind our checks,
metrics, request log and OpenAPI contract); `mlflow_serve_command` is plain `mlflow models
serve`, which must keep serving the same router for platforms that speak MLflow."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from vision.errors import ErrorCode, IdaasError
from vision.settings import get_settings

DEFAULT_MODEL_URI = "models:/idaas@production"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve_command(
    model_uri: str = DEFAULT_MODEL_URI,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    timeout: int = 60,
) -> list[str]:
    """The exact command that serves a router version (the Dockerfile runs the same one)."""
    return [
        sys.executable,
        "-m",
        "serving.front",
        "-m",
        model_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
    ]


def mlflow_serve_command(
    model_uri: str = DEFAULT_MODEL_URI,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    timeout: int = 60,
) -> list[str]:
    """Plain `mlflow models serve` of the same model (no front): what MLflow-speaking platforms run."""
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    return [
        mlflow,
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        host,
        "-p",
        str(port),
        "-w",
        str(workers),
        "-t",
        str(timeout),
    ]


def serve_env(timeout: int = 60) -> dict[str, str]:
    from registry.store import configure

    env = dict(os.environ)
    # The scoring server execs `uvicorn` by name: the venv's bin must be on PATH even when
    # idaas was started as .venv/bin/idaas from a shell that never activated the venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Without a tracking URI, `mlflow models serve` silently creates an empty ./mlflow.db.
    env["MLFLOW_TRACKING_URI"] = configure()
    env["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(timeout)
    env["IDAAS_REQUEST_TIMEOUT_S"] = str(timeout)
    env["IDAAS_ENFORCE_REQUEST_LIMITS"] = "1"
    # glibc gives every thread that allocates its own malloc arena; the scoring server runs
    # predict in a thread pool, and without a cap the arenas fragment and RSS creeps upward.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    env.setdefault("IDAAS_HOME", str(get_settings().home))
    return env


def wait_until_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise IdaasError(
                f"the model server exited with code {process.returncode} before it was ready; its log says why",
                ErrorCode.SERVER_UNAVAILABLE,
            )
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise IdaasError(f"the model server at {url} was not ready after {timeout:.0f} s", ErrorCode.SERVER_UNAVAILABLE)


def stop(process: subprocess.Popen, grace: float = 15.0) -> None:
    """Stop the server and every worker it started (it runs in its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace)
    except ProcessLookupError:
        pass


@contextmanager
def running_server(
    model_uri: str = DEFAULT_MODEL_URI,
    *,
    port: int | None = None,
    workers: int = 1,
    timeout: int = 60,
    log_path: Path | None = None,
    ready_timeout: float = 180.0,
    plain_mlflow: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve ``model_uri`` on 127.0.0.1 for the duration of the block (behind the front, or with
    plain `mlflow models serve`); yields the base URL. ``env`` adds variables for the server."""
    port = port or free_port()
    log_path = log_path or get_settings().home / "logs" / f"serve-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = (mlflow_serve_command if plain_mlflow else serve_command)(
        model_uri, port=port, workers=workers, timeout=timeout
    )
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env={**serve_env(timeout), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(url, process, ready_timeout)
        except IdaasError as exc:
            raise IdaasError(f"{exc.message} ({log_path})", exc.code) from None
        yield url
    finally:
        stop(process)
