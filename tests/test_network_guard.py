import socket

import pytest

from tests.conftest import OutboundNetworkBlocked


def test_outbound_connections_are_blocked():
    with pytest.raises(OutboundNetworkBlocked):
        socket.create_connection(("93.184.216.34", 80), timeout=1)


def test_hub_download_fails_loudly_instead_of_hanging():
    from huggingface_hub import hf_hub_download

    with pytest.raises(Exception):
        hf_hub_download("openai/clip-vit-base-patch32", "config.json")


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()
