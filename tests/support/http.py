"""Serve an ASGI app as a real uvicorn server on a free loopback port, for tests that must cross real HTTP.

Services talk to each other and to third parties over HTTP, so a bug in headers, status codes or body
framing must show up in tests; an in-process transport would hide it.
"""

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn


@contextmanager
def served(app: Any, *, log_level: str = "warning", lifespan: str = "on",
           startup_timeout: float = 10, sock: socket.socket | None = None) -> Iterator[str]:
    """Yield the server's base URL; stop the server on exit. Raise `startup_timeout` for apps whose
    lifespan joins Kafka consumer groups, which can take well over 10 s on a busy 2-core machine.
    `sock`: a socket from `bound_socket()`, for an app that must know its own URL before it is built."""
    # Binding the socket ourselves (port 0) avoids racing another process for a "free" port.
    sock = sock or bound_socket()
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan=lifespan, proxy_headers=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=max(10, startup_timeout / 3))


def bound_socket() -> socket.socket:
    """A loopback socket bound to a free port (port 0), so its address is known before anything serves on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return "http://{}:{}".format(*sock.getsockname())


@asynccontextmanager
async def serving(app: Any, sock: socket.socket) -> AsyncIterator[str]:
    """Serve an ASGI app on a bound socket in this event loop (its lifespan is the caller's business; no access
    log: it would hold codes)."""
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                           proxy_headers=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        await task
