"""A loopback TCP proxy that keeps the raw bytes of every request it forwards (for replays)."""

from __future__ import annotations

import json
import socket
import threading


def read_http_message(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def send_raw(port: int, raw: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        resp = read_http_message(s)
    head, _, body = resp.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


class RecordingProxy:
    def __init__(self, upstream_port: int):
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                raw = read_http_message(conn)
                if not raw:
                    continue
                self.requests.append(raw)
                with socket.create_connection(("127.0.0.1", self._upstream), timeout=5) as up:
                    up.sendall(raw)
                    conn.sendall(read_http_message(up))

    def close(self) -> None:
        self._listener.close()
