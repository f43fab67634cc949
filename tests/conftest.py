"""Test-wide setup: an isolated data directory, offline settings, and no outbound sockets.

Every connection to a non-loopback address raises, so a hidden download (hub weights,
fonts, telemetry) fails loudly instead of hanging. Subprocesses inherit the environment
(offline flags, data dir) but not the socket guard.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="idaas-test-"))
# One session's registry, caches and logs: removed when the session ends (keep with IDAAS_KEEP_TEST_HOME=1).
if not os.environ.get("IDAAS_KEEP_TEST_HOME"):
    atexit.register(shutil.rmtree, _SESSION_HOME, True)
os.environ["IDAAS_HOME"] = str(_SESSION_HOME)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_REGISTRY_URI", None)
# Let tests re-use the already-installed real checkpoints instead of a cold cache per session.
os.environ.setdefault("IDAAS_OFFLINE", "1")

from vision.settings import apply_offline_env, get_settings  # noqa: E402

get_settings.cache_clear()
apply_offline_env()


class OutboundNetworkBlocked(RuntimeError):
    pass


def _is_loopback(address) -> bool:
    if isinstance(address, tuple):
        host = address[0]
    elif isinstance(address, (str, bytes)):
        return True  # AF_UNIX socket path
    else:
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name that is not localhost


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise OutboundNetworkBlocked(f"test tried to reach {address!r}: outbound network is blocked in tests")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(address):
        raise OutboundNetworkBlocked(f"test tried to reach {address!r}: outbound network is blocked in tests")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost", "127.0.0.1", "::1", "0.0.0.0") and not str(host).startswith("127."):
        raise OutboundNetworkBlocked(f"test tried to resolve {host!r}: outbound network is blocked in tests")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(scope="session")
def idaas_home() -> Path:
    return _SESSION_HOME


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    from vision.samples import sample_photos

    return sample_photos()


@pytest.fixture(scope="session")
def photo_bytes(photos) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in photos.items()}


@pytest.fixture(scope="session")
def router_version(idaas_home) -> str:
    """The offline models registered, demo-reviewed and @production, with a router over them
    @production (serving.demo.prepare_router): the version number of that router."""
    from serving.demo import prepare_router

    return prepare_router(say=lambda line: None)


@pytest.fixture(scope="session")
def router_url(router_version):
    """A real `mlflow models serve` of that router version on 127.0.0.1, for the whole session."""
    from serving.server import running_server

    with running_server(f"models:/idaas/{router_version}") as url:
        yield url


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need CUDA: where torch sees none they are skipped, saying so."""
    needs_gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not needs_gpu:
        return
    import torch

    if torch.cuda.is_available():
        return
    for item in needs_gpu:
        item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; torch.cuda.is_available() is False here"))
