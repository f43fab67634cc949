"""Nothing leaves the machine and nothing is written outside the data directory.

The demo's flow (bootstrap, review, promote, router build, serve behind the front, annotate
through REST, then `idaas score` with OCR) runs in fresh processes whose HOME and XDG_* point
at an empty folder and in which every socket to a non-loopback address is refused and
recorded, in every child process too (a sitecustomize on PYTHONPATH installs the guard in each
Python process: the CLI, the server and its workers). The library variables the test session
set are removed, so apply_offline_env itself must switch telemetry off (onnxruntime would
otherwise create ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent

GUARD = r'''
"""Installed by tests/test_nothing_leaves.py in every Python process of the flow."""
import ipaddress, os, socket

_LOG = os.environ["IDAAS_NET_GUARD_LOG"]


def _local(host):
    if host in (None, "", "localhost") or str(host).startswith("127."):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback or str(host) in ("0.0.0.0", "::")
    except ValueError:
        return False


def _refuse(what):
    with open(_LOG, "a") as log:
        log.write(f"{os.getpid()} {what}\n")
    raise ConnectionRefusedError(f"off-machine connection refused by the test guard: {what}")


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
_sendto = socket.socket.sendto


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"connect {address!r}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"connect_ex {address!r}")
    return _connect_ex(self, address)


def sendto(self, data, *args):
    address = args[-1]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"sendto {address!r}")
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    if not _local(host.decode() if isinstance(host, bytes) else host):
        _refuse(f"resolve {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo = getaddrinfo
'''


def _clean_env(home: Path, data: Path, guard: Path, log: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "JAVA_HOME")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_RUNTIME_DIR": str(home / ".run"),
            "IDAAS_HOME": str(data),
            "PYTHONPATH": os.pathsep.join([str(guard), str(REPO)]),
            "IDAAS_NET_GUARD_LOG": str(log),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def test_the_demo_flow_writes_nothing_outside_the_data_dir_and_reaches_nothing(tmp_path, photos):
    home, data, guard, log = tmp_path / "home", tmp_path / "data", tmp_path / "guard", tmp_path / "net.log"
    for folder in (home, data, guard):
        folder.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    env = _clean_env(home, data, guard, log)
    python = str(REPO / ".venv/bin/python")

    # The guard is live in a child process: a connection off the machine is refused and recorded.
    probe = subprocess.run(
        [python, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), timeout=2)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert probe.returncode != 0 and "refused by the test guard" in probe.stderr
    assert log.read_text().strip()
    log.unlink()

    demo = subprocess.run(
        [python, "-m", "idaas", "demo", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "server stopped" in demo.stdout and len(list((tmp_path / "out").glob("*.png"))) == 4
    batch = tmp_path / "photos"
    batch.mkdir()
    for name in ("page.png", "bus.jpg"):
        (batch / name).write_bytes(photos[name].read_bytes())
    score = subprocess.run(
        [python, "-m", "idaas", "score", str(batch), "-o", str(tmp_path / "scores.parquet"), "--tasks", "classify,ocr"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert score.returncode == 0, score.stdout[-3000:] + score.stderr[-3000:]
    assert (tmp_path / "scores.parquet").exists()

    attempts = log.read_text() if log.exists() else ""
    assert attempts == "", f"connections off the machine were attempted:\n{attempts}"
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert written == [], f"written outside the data directory, under HOME: {written}"
    assert not (home / ".cache/Microsoft").exists()  # onnxruntime's telemetry store
    # Everything went to the data directory instead (the registry, the server's metrics).
    assert (data / "mlflow.db").exists() and any((data / "metrics").iterdir())
