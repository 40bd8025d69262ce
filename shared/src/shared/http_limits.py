"""Request body caps, enforced before anything of an app runs: routing, authentication, CSRF checks, form parsing.

`BodyLimit` is pure ASGI middleware on each public app. It answers 413 at once when Content-Length declares more
than the cap of the path, and otherwise reads the body itself (chunked included), stopping as soon as it passes
the cap; only a body within the cap reaches the app, replayed from memory. So a stranger costs at most one cap
of memory per request, whatever they send and however slowly. On paths whose forms are urlencoded, a multipart
body answers 415 before Starlette's multipart parser could spill its parts to a temporary file.

Each service answers in its own error shape: a cap's `refuse(scope, status)` builds the 413 or 415 response (a
page, a problem+json, the internal APIs' error body).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_BYTES = 16 * 1024
"""Default cap for browser forms: the largest real one (sign-in) is well under 1 KiB."""
API_BYTES = 1024 * 1024
"""Default cap for internal JSON APIs: their largest real request is a few KiB."""

Refuse = Callable[[Scope, int], Response]
"""The service's 413 (too large) or 415 (multipart where a urlencoded form is expected) response."""


@dataclass(frozen=True, slots=True)
class Cap:
    """`max_bytes` for every path under `prefix` ("/" for all), refused with `refuse`; `urlencoded_only`: refuse
    multipart bodies too (on pages whose forms are urlencoded)."""

    prefix: str
    max_bytes: int
    refuse: Refuse
    urlencoded_only: bool = False

    def covers(self, path: str) -> bool:
        root = self.prefix.rstrip("/")
        return not root or path == root or path.startswith(root + "/")


class BodyLimit:
    """Pure ASGI middleware: the longest matching `Cap` applies; a path no cap covers gets the smallest one."""

    def __init__(self, app: ASGIApp, *, caps: Sequence[Cap]) -> None:
        if not caps:
            raise ValueError("at least one Cap")
        self.app = app
        self._caps = sorted(caps, key=lambda cap: len(cap.prefix), reverse=True)
        self._fallback = min(caps, key=lambda cap: cap.max_bytes)

    def cap(self, path: str) -> Cap:
        return next((cap for cap in self._caps if cap.covers(path)), self._fallback)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap, headers = self.cap(scope["path"]), Headers(scope=scope)
        if cap.urlencoded_only and headers.get("content-type", "").lower().lstrip().startswith("multipart/"):
            await cap.refuse(scope, 415)(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > cap.max_bytes:
            await cap.refuse(scope, 413)(scope, receive, send)
            return
        body = await _read_at_most(receive, cap.max_bytes)
        if body is None:       # passed the cap: nothing more is read, the server closes the connection
            await cap.refuse(scope, 413)(scope, receive, send)
        elif isinstance(body, bytes):
            await self.app(scope, _replay(body, receive), send)


_GONE = object()


async def _read_at_most(receive: Receive, limit: int) -> bytes | object | None:
    """The whole body, None as soon as it passes `limit`, `_GONE` if the client left before sending it."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _GONE
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the server's own messages (a disconnect) for whoever listens on."""
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying
