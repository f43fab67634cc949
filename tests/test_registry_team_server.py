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
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # check each password hash once a minute, not on every artifact upload (PBKDF2 is slow on purpose)
        "auth_cache_ttl_seconds = 60\n")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}
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
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


def _idaas(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idaas", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "idaas", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _as(user: tuple[str, str], server: dict, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}
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

    # the READ user's two writes are refused; its reads work (run side by side: none writes)
    runs = {label: _start(args, reader) for label, args in {
        "promote": ["models", "promote", "faces-mtcnn", "1", "--to", "staging", "--reason", "sneaky"],
        "review": ["reviews", "set", "faces-mtcnn", "1", "--file", str(review)],
        "list": ["models", "list", "--json"]}.items()}
    done = {label: (proc, *proc.communicate(timeout=600)) for label, proc in runs.items()}
    for label in ("promote", "review"):
        proc, out, err = done[label]
        lines = [line for line in err.splitlines() if line.strip()]
        assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in err, (label, err)
        assert "permission denied" in lines[0] and "'reader'" in lines[0], lines
    proc, listing, err = done["list"]
    assert proc.returncode == 0, err
    row = next(r for r in json.loads(listing) if r["name"] == "faces-mtcnn")
    assert row["decisions"]["production"] == "productionise"

    # nothing of the refused moves was written
    runs = {"history": _start(["models", "history", "faces-mtcnn", "--json"], reader),
            "reviews": _start(["reviews", "show", "faces-mtcnn", "1", "--revisions", "--json"], reader)}
    done = {label: (proc, *proc.communicate(timeout=600)) for label, proc in runs.items()}
    assert all(proc.returncode == 0 for proc, _, _ in done.values()), done
    assert [r["recorded_by"] for r in json.loads(done["reviews"][1])] == ["admin"]
    moves = json.loads(done["history"][1])
    assert [(m["stage"], m["version"], m["who"]) for m in moves] == [
        ("candidate", "1", "admin"), ("production", "1", "admin")]
    assert moves[1]["why"] == "team review passed"
    assert row["aliases"] == {"candidate": "1", "production": "1"}
