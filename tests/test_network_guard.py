import socket

import pytest

from tests.conftest import OutboundNetworkBlocked


def test_outbound_connections_are_blocked():
    with pytest.raises(OutboundNetworkBlocked):
        socket.create_connection(("93.184.216.34", 80), timeout=1)


def test_hub_download_fails_loudly_instead_of_hanging():
    from huggingface_hub import hf_hub_download

    with pytest.raises(Exception):  # noqa: B017 - hub versions raise different types; any refusal will do
        hf_hub_download("openai/clip-vit-base-patch32", "config.json")


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()


def test_every_librarys_telemetry_is_switched_off_in_one_place():
    import os

    from vision.settings import apply_offline_env

    apply_offline_env()
    expected = {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "ORT_DISABLE_TELEMETRY": "1",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "YOLO_OFFLINE": "1",
    }
    assert {k: os.environ.get(k) for k in expected} == expected


def test_onnxruntime_writes_no_telemetry_files_under_home(tmp_path):
    """onnxruntime (OCR) keeps a device id and queued telemetry events in
    ~/.cache/Microsoft/DeveloperTools unless ORT_DISABLE_TELEMETRY is set."""
    import os
    import subprocess
    import sys

    code = (
        "from vision.settings import apply_offline_env; apply_offline_env()\n"
        "import pathlib, onnxruntime, rapidocr\n"
        "model = next(pathlib.Path(rapidocr.__file__).parent.rglob('*.onnx'))\n"
        "onnxruntime.InferenceSession(str(model), providers=['CPUExecutionProvider'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(
        HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "home/.cache"), IDAAS_HOME=str(tmp_path / "data")
    )
    (tmp_path / "home").mkdir()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "home").rglob("*")) == []
