"""Issue #21 item 3 at each service's edge, over its real app (no database needed: nothing here may reach one):
bodies over the cap answer 413 in the service's own error shape before routing, authentication or the CSRF
check; multipart answers 415 where forms are urlencoded; `/health/*` and `/metrics` answer on the internal
listener only (404 on the public port)."""

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from shared.http_limits import API_BYTES, FORM_BYTES

pytestmark = pytest.mark.security


def _gateway() -> FastAPI:
    from oauth_gateway.main import build_app
    from oauth_gateway.settings import example_settings
    return build_app(example_settings())


def _key_validator() -> FastAPI:
    from key_validator.main import build_app
    from key_validator.settings import example_settings
    return build_app(example_settings())


def _registry() -> FastAPI:
    from connection_registry.main import build_app
    from connection_registry.settings import example_settings
    return build_app(example_settings())


def _notifier() -> FastAPI:
    from notifier.main import build_app
    from notifier.settings import example_settings
    return build_app(example_settings())


def _daily_sales() -> FastAPI:
    from daily_sales.main import build_app
    from daily_sales.settings import example_settings
    return build_app(example_settings())


def _platform_api() -> FastAPI:
    return _gateway().state.platform_api


APPS: dict[str, Callable[[], FastAPI]] = {"oauth_gateway": _gateway, "key_validator": _key_validator,
                                          "connection_registry": _registry, "notifier": _notifier,
                                          "daily_sales": _daily_sales}
PROXY = "/internal/v1/stores/s-1/xero/proxy/api.xro/2.0/Invoices"
# (app, path, bytes over which it refuses, what the refusal looks like: JSON error code or page text)
OVERSIZED = [
    ("oauth_gateway", "/sign-in", FORM_BYTES, "too large"),
    ("platform_api", PROXY, 3_500_000, "body_too_large"),
    ("key_validator", "/v1/validations", API_BYTES, "payload_too_large"),
    ("connection_registry", "/v1/merchants/m-1/completion", API_BYTES, "payload_too_large"),
    ("connection_registry", "/helpdesk/logout", FORM_BYTES, "could not be accepted"),
    ("notifier", "/v1/deliveries/d-1/redrive", API_BYTES, "payload_too_large"),
    ("notifier", "/reminders/stop", FORM_BYTES, "was not accepted"),
    ("daily_sales", "/anything", API_BYTES, "payload_too_large"),
]


async def _call(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge") as http:
        return await http.request(method, path, **kwargs)


def _app(name: str) -> FastAPI:
    return _platform_api() if name == "platform_api" else APPS[name]()


@pytest.mark.parametrize(("name", "path", "cap", "says"), OVERSIZED, ids=[f"{a}{p}" for a, p, _, _ in OVERSIZED])
async def test_a_body_over_the_cap_is_refused_first_in_the_services_own_shape(name: str, path: str, cap: int,
                                                                               says: str) -> None:
    app = _app(name)
    within = await _call(app, "POST", path, content=b"x" * cap,
                         headers={"content-type": "application/x-www-form-urlencoded"})
    over = await _call(app, "POST", path, content=b"x" * (cap + 1),
                       headers={"content-type": "application/x-www-form-urlencoded"})
    # within the cap the request goes on to what it meets first (no token: 401; no CSRF token: 403; ...)
    assert within.status_code != 413
    assert over.status_code == 413, over.text[:300]
    assert says in over.text
    if over.headers["content-type"].startswith("text/html"):
        assert "no-store" in over.headers["cache-control"]


@pytest.mark.parametrize(("name", "path"), [("oauth_gateway", "/sign-in"), ("oauth_gateway", "/key"),
                                            ("connection_registry", "/helpdesk/logout")])
async def test_multipart_is_refused_before_any_parse_where_forms_are_urlencoded(name: str, path: str) -> None:
    response = await _call(_app(name), "POST", path, data={"csrf_token": "x"},
                           files={"username": ("big.bin", b"\0" * 100, "application/octet-stream")})
    assert response.status_code == 415, response.text[:300]


async def test_the_one_click_stop_link_still_takes_a_multipart_post() -> None:
    """RFC 8058: a mail client may post `List-Unsubscribe=One-Click` as multipart; its body is never parsed."""
    response = await _call(_notifier(), "POST", "/reminders/stop", files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 400 and "does not work" in response.text   # no token: the link's own answer


async def test_a_form_never_yields_a_file_even_in_a_declared_field() -> None:
    """Behind BodyLimit, `read_form` parses with max_files=0: a file part in a declared field is refused."""
    from oauth_gateway.entrypoints.problems import Problem
    from oauth_gateway.entrypoints.web import read_form

    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="username"; filename="a.bin"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\nABC\r\n--{boundary}--\r\n").encode()
    sent = False

    async def receive() -> dict:
        nonlocal sent
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/sign-in", "headers": [
        (b"content-type", f"multipart/form-data; boundary={boundary}".encode())]}, receive)
    with pytest.raises(Problem) as refused:
        await read_form(request, {"username", "password", "next"})
    assert refused.value.code == "unexpected_fields" and sent


@pytest.mark.parametrize("name", sorted(APPS))
async def test_health_and_metrics_answer_on_the_internal_listener_only(name: str) -> None:
    app = APPS[name]()
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert (await _call(app, "GET", path)).status_code == 404, f"{name} serves {path} on its public port"
    live = await _call(app.state.internal, "GET", "/health/live")
    metrics = await _call(app.state.internal, "GET", "/metrics")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    assert metrics.status_code == 200 and "outbox_backlog" in metrics.text
    assert (await _call(app.state.internal, "GET", "/openapi.json")).status_code == 404
