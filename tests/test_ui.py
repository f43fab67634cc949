"""`idaas ui`: MLflow's UI starts on the project's registry, with one web worker and no job
runner, answers a page and the registry's REST API, and stops; the project's experiment is of
MLflow's model-training kind (so the UI opens the training layout, not the GenAI one)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    from registry import store
    from registry.versions import register_spec
    from vision.spec import ModelSpec

    folder = tmp_path_factory.mktemp("ui")
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    store.configure()
    register_spec(ModelSpec(name="ui-props", task="properties", family="properties"))
    port = _free_port()
    log = (folder / "ui.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "idaas", "ui", "--port", str(port)],
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if _get(f"{url}/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"idaas ui did not start:\n{(folder / 'ui.log').read_text()[-3000:]}")
            time.sleep(1)
        yield {"url": url, "proc": proc, "log": folder / "ui.log"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
        store.configure()


def test_ui_serves_the_registry_with_one_worker_and_stops(ui):
    status, page = _get(ui["url"] + "/")
    assert status == 200 and "<html" in page.lower() and "mlflow" in page.lower()
    status, body = _get(ui["url"] + "/api/2.0/mlflow/registered-models/search?max_results=10")
    assert status == 200 and [m["name"] for m in json.loads(body)["registered_models"]] == ["ui-props"]

    log = ui["log"].read_text()
    assert "127.0.0.1" in log and "huey" not in log.lower()
    # the exec'd server and its one web worker: no more processes in the session than that
    group = subprocess.run(["ps", "-o", "pid=", "-g", str(ui["proc"].pid)], capture_output=True, text=True)
    assert 1 <= len(group.stdout.split()) <= 3, group.stdout

    os.killpg(ui["proc"].pid, signal.SIGTERM)
    assert ui["proc"].wait(timeout=30) is not None
    with pytest.raises(OSError):
        _get(ui["url"] + "/health")


def test_the_projects_experiment_is_of_the_model_training_kind(ui):
    from registry import store

    experiment = store.client().get_experiment(store.experiment_id())
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
