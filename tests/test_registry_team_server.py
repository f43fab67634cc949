"""Team mode: the same CLI against a real `mlflow server` as a team runs it: a PostgreSQL backend
store (a real PostgreSQL server started in a temporary folder on 127.0.0.1, stopped after),
proxied artifacts (--serve-artifacts) and the basic-auth app (its user database on PostgreSQL
too). An admin registers, reviews and promotes; the recorded user is the authenticated one
whatever IDAAS_USER claims; a READ user can read but not move a stage or review; two processes
promoting at once end consistent; two processes registering versions of one model at once get
distinct, gap-free numbers from the server."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ADMIN = ("admin", "admin-password-for-tests-1234")
READER = ("reader", "reader-password-for-tests-1234")
PG_USER, PG_PASSWORD = "idaas", "pg-password-for-tests-5678"
REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server in a temporary folder on 127.0.0.1 with password authentication.

    PostgreSQL refuses to run as root: as root, the server runs as the unprivileged `nobody`
    (the folder is handed to it)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (Debian package `postgresql`; `make setup` installs it as root)")
    folder = Path(tempfile.mkdtemp(prefix="idaas-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    pwfile = folder / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    port = _free_port()
    data = folder / "data"
    env = {**os.environ, "PGPASSWORD": PG_PASSWORD, "LC_ALL": "C"}

    def pg(tool: str, *args: str) -> None:
        done = subprocess.run(
            [*as_user, str(bin_dir / tool), *args], env=env, capture_output=True, text=True, timeout=120, cwd=folder
        )
        assert done.returncode == 0, (tool, done.stdout[-2000:], done.stderr[-2000:])

    pg("initdb", "-D", str(data), "-U", PG_USER, "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8")
    pg(
        "pg_ctl",
        "-D",
        str(data),
        "-l",
        str(folder / "postgres.log"),
        "-w",
        "-t",
        "60",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=200",
        "start",
    )
    try:
        for db in ("mlflow", "mlflow_auth"):
            pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, db)
        # psycopg2 named explicitly: SQLAlchemy's default PostgreSQL driver is now psycopg 3
        yield {"port": port, "uri": lambda db: f"postgresql+psycopg2://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{db}"}
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            env=env,
            capture_output=True,
            timeout=120,
            cwd=folder,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory, postgres):
    folder = tmp_path_factory.mktemp("team-server")
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {postgres['uri']('mlflow_auth')}\n"
        f"admin_username = {ADMIN[0]}\n"
        f"admin_password = {ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # check each password hash once a minute, not on every artifact upload (PBKDF2 is slow on purpose)
        "auth_cache_ttl_seconds = 60\n"
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}
    env |= {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_FLASK_SERVER_SECRET_KEY": "idaas-test-secret"}
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(mlflow_cli),
            "server",
            "--app-name",
            "basic-auth",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--backend-store-uri",
            postgres["uri"]("mlflow"),
            "--serve-artifacts",
            "--artifacts-destination",
            str(folder / "artifacts"),
        ],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
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
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn/job workers
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        log.close()


def _idaas(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idaas", *args], env=env, capture_output=True, text=True, timeout=600)


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "idaas", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _together(runs: dict[str, list[str]], env_for) -> dict[str, tuple[int, str, str]]:
    procs = {label: _start(args, env_for(label)) for label, args in runs.items()}
    outputs = {label: proc.communicate(timeout=600) for label, proc in procs.items()}
    return {label: (procs[label].returncode, *outputs[label]) for label in procs}


def _as(user: tuple[str, str], server: dict, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}
    return env | {
        "MLFLOW_TRACKING_URI": server["url"],
        "MLFLOW_TRACKING_USERNAME": user[0],
        "MLFLOW_TRACKING_PASSWORD": user[1],
        "IDAAS_HOME": str(home),
    }


def _review_file(tmp_path: Path, **metrics: float) -> Path:
    review = tmp_path / "review.yaml"
    # the template holds placeholders that `reviews set` refuses: a filled-in review, as a person writes it
    data = {
        "question": "Which photos are too dark to show?",
        "business_metric": "photos hidden per day",
        "expected_impact": {"low": 1.0, "high": 3.0, "unit": "% fewer complaints"},
        "evaluation": {"dataset": "profile-photos-sample", "version": "dvc:3f2a9c1", "size": 200},
        "risks": [],
        "reviewer": "Ada Reviewer",
        "date": "2026-01-15",
    }
    review.write_text(yaml.safe_dump({**data, "decision": "productionise", "metrics": metrics}))
    return review


@pytest.mark.slow
def test_admin_registers_reviews_promotes_and_a_read_user_cannot_promote(auth_server, tmp_path, monkeypatch):
    # the admin's IDAAS_USER claims someone else: on a team server the login is what is recorded
    admin = _as(ADMIN, auth_server, tmp_path / "admin-home") | {"IDAAS_USER": "the-cto"}
    reader = _as(READER, auth_server, tmp_path / "reader-home")
    review = _review_file(tmp_path)

    steps = [
        ["models", "register", "properties"],
        ["reviews", "set", "properties", "1", "--file", str(review)],
        ["models", "promote", "properties", "1", "--to", "production", "--reason", "team review passed"],
    ]
    outputs = []
    for args in steps:
        done = _idaas(args, admin)
        assert done.returncode == 0, (args, done.stdout, done.stderr[-3000:])
        outputs.append(done.stdout)
    assert "registered properties version 1 as candidate" in outputs[0]
    assert "production - -> 1" in outputs[2]

    # the admin creates a user; the server's default permission gives it READ on everything
    for var, value in (("MLFLOW_TRACKING_USERNAME", ADMIN[0]), ("MLFLOW_TRACKING_PASSWORD", ADMIN[1])):
        monkeypatch.setenv(var, value)
    from mlflow.server.auth.client import AuthServiceClient

    AuthServiceClient(auth_server["url"]).create_user(*READER)

    # the READ user's two writes are refused; its reads work (run side by side: none writes)
    done = _together(
        {
            "promote": ["models", "promote", "properties", "1", "--to", "staging", "--reason", "sneaky"],
            "review": ["reviews", "set", "properties", "1", "--file", str(review)],
            "list": ["models", "list", "--json"],
            "audit": ["audit"],
        },
        lambda label: reader,
    )
    for label in ("promote", "review"):
        rc, out, err = done[label]
        lines = [line for line in err.splitlines() if line.strip()]
        assert rc == 1 and len(lines) == 1 and "Traceback" not in err, (label, err)
        assert "permission denied" in lines[0] and "'reader'" in lines[0], lines
        assert READER[1] not in out + err
    rc, listing, err = done["list"]
    assert rc == 0, err
    row = next(r for r in json.loads(listing) if r["name"] == "properties")
    assert row["decisions"]["production"] == "productionise" and row["warnings"] == {}
    assert done["audit"][0] == 0, done["audit"]  # what the READ user sees verifies end to end

    # nothing of the refused writes was recorded; who did what is the authenticated admin
    done = _together(
        {
            "history": ["models", "history", "properties", "--json"],
            "reviews": ["reviews", "show", "properties", "1", "--revisions", "--json"],
        },
        lambda label: reader,
    )
    assert all(rc == 0 for rc, _, _ in done.values()), done
    assert [r["recorded_by"] for r in json.loads(done["reviews"][1])] == ["admin"]
    moves = json.loads(done["history"][1])
    assert [(m["stage"], m["version"], m["who"]) for m in moves] == [
        ("candidate", "1", "admin"),
        ("production", "1", "admin"),
    ]
    assert moves[1]["why"] == "team review passed" and moves[1]["review"]
    assert row["aliases"] == {"candidate": "1", "production": "1"}


@pytest.mark.slow
def test_two_processes_registering_at_once_get_distinct_gap_free_numbers_from_the_server(auth_server, tmp_path):
    specs = []
    for n in range(3):
        spec = tmp_path / f"spec-{n}.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "name": "race-numbers",
                    "task": "properties",
                    "family": "properties",
                    "options": {"defaults": {"colors": n + 2}},
                }
            )
        )
        specs.append(spec)
    admin = _as(ADMIN, auth_server, tmp_path / "admin-home")
    first = _idaas(["models", "register", "race-numbers", "--spec", str(specs[0])], admin)
    assert first.returncode == 0, first.stderr[-3000:]
    # two processes with their own data directories (two machines: no shared file lock)
    done = _together(
        {f"p{n}": ["models", "register", "race-numbers", "--spec", str(specs[n])] for n in (1, 2)},
        lambda label: _as(ADMIN, auth_server, tmp_path / f"home-{label}"),
    )
    assert all(rc == 0 for rc, _, _ in done.values()), done
    numbers = sorted(int(out.split("version ")[1].split()[0]) for _, out, _ in done.values())
    assert numbers == [2, 3], done

    for var, value in (
        ("MLFLOW_TRACKING_URI", auth_server["url"]),
        ("MLFLOW_TRACKING_USERNAME", ADMIN[0]),
        ("MLFLOW_TRACKING_PASSWORD", ADMIN[1]),
    ):
        os.environ[var] = value
    try:
        from registry import store
        from registry.members import bundle_entries

        client = store.client()
        versions = sorted(int(mv.version) for mv in client.search_model_versions("name = 'race-numbers'"))
        assert versions == [1, 2, 3]  # none deleted, none skipped
        for version in versions:
            assert bundle_entries("race-numbers", version) == [("properties", "race-numbers", str(version))]
            assert client.get_model_version("race-numbers", str(version)).tags["idaas.bundle_version"] == str(version)
    finally:
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(var, None)
        from registry import store

        store.configure()


_PROMOTER = r"""
import sys, time
from registry.stages import promote
name, version, start, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
from registry import store
store.configure()
time.sleep(max(0.0, start - time.time()))  # both processes begin together
recorded = 0
for i in range(rounds):
    outcome = promote(name, version, "production", force=True, reason=f"round {i} by the process for v{version}")
    recorded += outcome.move is not None
print("recorded", recorded)
"""


@pytest.mark.slow
def test_two_processes_promoting_at_once_on_the_team_server_end_consistent(auth_server, tmp_path):
    admin = _as(ADMIN, auth_server, tmp_path / "admin-home")
    review = _review_file(tmp_path)
    for n in (1, 2):
        spec = tmp_path / f"spec-{n}.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "name": "race-promote",
                    "task": "properties",
                    "family": "properties",
                    "options": {"defaults": {"colors": n + 2}},
                }
            )
        )
        for args in (
            ["models", "register", "race-promote", "--spec", str(spec)],
            ["reviews", "set", "race-promote", str(n), "--file", str(review)],
        ):
            done = _idaas(args, admin)
            assert done.returncode == 0, (args, done.stderr[-3000:])
    script = tmp_path / "promoter.py"
    script.write_text(_PROMOTER)
    start = time.time() + 10  # both have imported MLflow by then
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), "race-promote", v, str(start), "4"],
            env=_as(ADMIN, auth_server, tmp_path / f"home-{v}"),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in ("1", "2")
    ]
    recorded = {}
    for version, proc in zip(("1", "2"), procs):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "recorded" in out, err[-3000:]
        recorded[version] = int(out.split()[-1])
    assert recorded["1"] >= 1 and recorded["2"] >= 1

    done = _together(
        {
            "history": ["models", "history", "race-promote", "--stage", "production", "--json"],
            "show": ["models", "show", "race-promote", "--json"],
            "audit": ["audit", "race-promote"],
        },
        lambda label: admin,
    )
    production = json.loads(done["history"][1])
    assert sorted(m["version"] for m in production) == sorted(["1"] * recorded["1"] + ["2"] * recorded["2"])
    shown = json.loads(done["show"][1])
    assert shown["aliases"]["production"] == production[-1]["version"]  # one holder: the latest recorded move
    assert shown["warnings"] == {} and shown["problems"] == []
    # the records of both processes link up: nothing reads as edited, deleted or reordered
    assert done["audit"][0] == 0, done["audit"]
