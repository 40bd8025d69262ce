"""`shared.http_limits.BodyLimit`: a body over the cap is refused before the app sees anything, declared or
chunked, and a multipart body is refused where forms are urlencoded (issue #21, item 3)."""

import asyncio
import socket

import httpx
import pytest
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from shared.http_limits import BodyLimit, Cap
from tests.support.http import served

CAP = 1024


def _refuse(_scope: Scope, status: int) -> Response:
    return JSONResponse({"refused": status}, status_code=status)


class Recorder:
    """The protected app: records each body it got (it must never get a refused one)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.bodies.append(body)
        await Response(f"got {len(body)}")(scope, receive, send)


def _limited(app: Recorder) -> BodyLimit:
    return BodyLimit(app, caps=[Cap("/", CAP, _refuse), Cap("/api", CAP * 4, _refuse),
                                Cap("/forms", CAP, _refuse, urlencoded_only=True)])


async def _post(app: BodyLimit, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        return await http.post(path, **kwargs)


async def test_a_body_within_the_cap_reaches_the_app_whole() -> None:
    app = Recorder()
    response = await _post(_limited(app), "/x", content=b"a" * CAP)
    assert response.status_code == 200 and app.bodies == [b"a" * CAP]


async def test_a_declared_length_over_the_cap_is_refused_before_the_app_runs() -> None:
    app = Recorder()
    response = await _post(_limited(app), "/x", content=b"a" * (CAP + 1))
    assert (response.status_code, response.json()) == (413, {"refused": 413})
    assert app.bodies == []


async def test_a_chunked_body_is_read_no_further_than_the_cap() -> None:
    app, offered, taken = Recorder(), 0, 0

    async def endless():  # no Content-Length: chunked, 1 MiB in 256-byte pieces
        nonlocal offered
        for _ in range(4096):
            offered += 1
            yield b"b" * 256

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        async def receiving():  # noqa: ANN202
            nonlocal taken
            taken += 1
            return await receive()
        await _limited(app)(scope, receiving, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=counting), base_url="http://t") as http:
        response = await asyncio.wait_for(http.post("/x", content=endless()), 10)
    assert response.status_code == 413 and app.bodies == []
    assert taken <= CAP // 256 + 2, f"read {taken} messages for a cap of {CAP} bytes"


async def test_the_longest_prefix_decides_the_cap() -> None:
    app = Recorder()
    limited = _limited(app)
    assert (await _post(limited, "/api/v1/things", content=b"c" * (CAP * 2))).status_code == 200
    assert (await _post(limited, "/apiary", content=b"c" * (CAP * 2))).status_code == 413
    assert limited.cap("/forms/sign-in").urlencoded_only and not limited.cap("/api").urlencoded_only


async def test_multipart_is_refused_where_forms_are_urlencoded_and_nowhere_else() -> None:
    app = Recorder()
    limited = _limited(app)
    files = {"upload": ("a.txt", b"tiny", "text/plain")}
    refused = await _post(limited, "/forms/sign-in", files=files)
    assert (refused.status_code, refused.json()) == (415, {"refused": 415}) and app.bodies == []
    assert (await _post(limited, "/forms/sign-in", data={"a": "b"})).status_code == 200
    assert (await _post(limited, "/api/upload", files=files)).status_code == 200


async def test_a_client_that_leaves_mid_body_never_reaches_the_app() -> None:
    app = Recorder()
    messages = iter([{"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"}])

    async def receive():  # noqa: ANN202
        return next(messages)

    async def send(_message) -> None:  # noqa: ANN001
        raise AssertionError("nothing is answered to a client that left")

    await _limited(app)({"type": "http", "method": "POST", "path": "/x", "headers": []}, receive, send)
    assert app.bodies == []


@pytest.mark.parametrize("declared", [True, False])
def test_over_a_real_socket_the_server_answers_413_without_the_rest_of_the_body(declared: bool) -> None:
    """A client announcing (or streaming) 100 MB gets its 413 after sending a few KiB: nothing waits for the rest."""
    app = Recorder()
    with served(_limited(app), lifespan="off") as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            framing = b"Content-Length: 100000000\r\n" if declared else b"Transfer-Encoding: chunked\r\n"
            sock.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\n" + framing + b"\r\n")
            part = b"z" * 4096
            sock.sendall(part if declared else b"%x\r\n%s\r\n" % (len(part), part))
            answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert app.bodies == []
