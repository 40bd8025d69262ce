"""Shared fixtures: run an ASGI app as a real uvicorn server on a free loopback port.

Sandboxes are tested over real HTTP (not an in-process transport) because services talk to
them that way; a bug in headers, status codes or body framing must show up here.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn


def _start(app, log_level: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    # Binding the socket ourselves (port 0) avoids racing another process for a "free" port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread, f"http://{host}:{port}"


@pytest.fixture
def serve_app() -> Iterator[Callable[..., str]]:
    """Factory: `base_url = serve_app(app)`; every server started is stopped after the test."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(app, log_level: str = "warning") -> str:
        server, thread, base_url = _start(app, log_level)
        running.append((server, thread))
        return base_url

    yield serve
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)
