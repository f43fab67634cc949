"""Team mode: the same CLI against a real `mlflow server` with the basic-auth app on 127.0.0.1
(SQLite backend, auth database and config in a temporary folder). An admin registers, reviews
and promotes; a user with READ permission can read the history but cannot move a stage."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ADMIN = ("admin", "admin-password-for-tests-1234")
READER = ("reader", "reader-password-for-tests-1234")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team-server")
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{folder / 'auth.db'}\n"
        f"admin_username = {ADMIN[0]}\n"
        f"admin_password = {ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env |= {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_FLASK_SERVER_SECRET_KEY": "idaas-test-secret"}
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [str(mlflow_cli), "server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts")],
        env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield {"url": url, "folder": folder}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn/job workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


def _idaas(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idaas", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _as(user: tuple[str, str], server: dict, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    return env | {"MLFLOW_TRACKING_URI": server["url"], "MLFLOW_TRACKING_USERNAME": user[0],
                  "MLFLOW_TRACKING_PASSWORD": user[1], "IDAAS_HOME": str(home)}


@pytest.mark.slow
def test_admin_registers_reviews_promotes_and_a_read_user_cannot_promote(auth_server, tmp_path, monkeypatch):
    admin = _as(ADMIN, auth_server, tmp_path / "admin-home")
    reader = _as(READER, auth_server, tmp_path / "reader-home")
    review = tmp_path / "review.yaml"
    data = yaml.safe_load((Path(__file__).resolve().parent.parent / "registry" / "review_template.yaml").read_text())
    review.write_text(yaml.safe_dump({**data, "decision": "productionise", "metrics": {"recall": 0.9}}))

    steps = [["models", "register", "faces-mtcnn"],
             ["reviews", "set", "faces-mtcnn", "1", "--file", str(review)],
             ["models", "promote", "faces-mtcnn", "1", "--to", "production", "--reason", "team review passed"]]
    outputs = []
    for args in steps:
        done = _idaas(args, admin)
        assert done.returncode == 0, (args, done.stdout, done.stderr[-3000:])
        outputs.append(done.stdout)
    assert "registered faces-mtcnn version 1 as candidate" in outputs[0]
    assert "production - -> 1" in outputs[2]

    # the admin creates a user; the server's default permission gives it READ on everything
    for var, value in (("MLFLOW_TRACKING_USERNAME", ADMIN[0]), ("MLFLOW_TRACKING_PASSWORD", ADMIN[1])):
        monkeypatch.setenv(var, value)
    from mlflow.server.auth.client import AuthServiceClient

    AuthServiceClient(auth_server["url"]).create_user(*READER)

    refused = _idaas(["models", "promote", "faces-mtcnn", "1", "--to", "staging", "--reason", "sneaky"], reader)
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 1 and len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "permission denied" in lines[0] and "'reader'" in lines[0]

    refused = _idaas(["reviews", "set", "faces-mtcnn", "1", "--file", str(review)], reader)
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 1 and len(lines) == 1 and "permission denied" in lines[0], refused.stderr

    # the READ user still reads; nothing of the refused move was written
    history = _idaas(["models", "history", "faces-mtcnn", "--json"], reader)
    assert history.returncode == 0, history.stderr
    moves = json.loads(history.stdout)
    assert [(m["stage"], m["version"], m["who"]) for m in moves] == [
        ("candidate", "1", "admin"), ("production", "1", "admin")]
    assert moves[1]["why"] == "team review passed"
    listing = _idaas(["models", "list", "--json"], reader)
    assert listing.returncode == 0, listing.stderr
    row = next(r for r in json.loads(listing.stdout) if r["name"] == "faces-mtcnn")
    assert row["aliases"] == {"candidate": "1", "production": "1"}
    assert row["decisions"]["production"] == "productionise"
