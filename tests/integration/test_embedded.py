"""Embedded servers: a port picked for us and taken by someone else before the server binds it
is picked again; a port the caller chose is never changed."""

from __future__ import annotations

import socket

import pytest

from janus_common.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServerError, port_open

pytestmark = pytest.mark.integration


def _occupy(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


@pytest.mark.parametrize("kind", [EmbeddedNats, EmbeddedPostgres], ids=["nats", "postgres"])
def test_a_taken_auto_port_is_picked_again(tmp_path, kind):
    server = kind(tmp_path / "srv")
    taken = server.port
    with _occupy(taken):
        server.start()
        try:
            assert server.port != taken and port_open("127.0.0.1", server.port)
        finally:
            server.stop()


def test_a_taken_chosen_port_is_an_error(tmp_path):
    with _occupy(0) as s:
        port = s.getsockname()[1]
        server = EmbeddedNats(tmp_path / "srv", port=port)
        with pytest.raises(EmbeddedServerError) as err:
            server.start(timeout=10)
        server.stop()
    assert err.value.server == "nats" and server.port == port
