"""The client's address: X-Forwarded-For only from trusted proxies, read right to left; the setting refuses what
it cannot parse. (Over real sockets behind a real proxy: services/oauth_gateway/tests/test_signin_live.py.)"""

import json
from ipaddress import ip_address, ip_network

import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.client_address import TrustedProxies, address_group, client_address, install


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CA_TEST_")
    trusted_proxies: TrustedProxies = ()


def app_trusting(*networks: str) -> FastAPI:
    app = FastAPI()
    install(app, [ip_network(n) for n in networks])

    @app.get("/")
    async def who(request: Request) -> dict:
        return {"client": str(client_address(request))}
    return app


async def seen(app: FastAPI, peer: str, forwarded: str | None = None) -> str:
    """Call the app as uvicorn would for a TCP peer at `peer`."""
    sent: list[dict] = []
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/", "raw_path": b"/", "query_string": b"", "headers": headers, "client": (peer, 50000),
             "server": ("testserver", 80), "root_path": ""}

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return json.loads(body)["client"]


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("10.0.0.7", "198.51.100.1", "198.51.100.1"),                     # our ingress: the client it saw
    ("10.0.0.7", "203.0.113.66, 198.51.100.1", "198.51.100.1"),       # what the client sent is left of it
    ("10.0.0.7", "198.51.100.1, 10.0.0.9", "198.51.100.1"),           # our own hops are skipped
    ("192.0.2.5", "198.51.100.1", "192.0.2.5"),                        # not our proxy: the header is ignored
    ("10.0.0.7", None, "10.0.0.7"),
])
async def test_forwarded_for_is_read_right_to_left_and_only_from_trusted_peers(peer, forwarded, client) -> None:
    assert await seen(app_trusting("10.0.0.0/8"), peer, forwarded) == client


async def test_nothing_is_trusted_by_default() -> None:
    assert await seen(app_trusting(), "127.0.0.1", "198.51.100.1") == "127.0.0.1"


def test_the_setting_takes_commas_or_json_and_refuses_what_it_cannot_parse(monkeypatch) -> None:
    monkeypatch.setenv("CA_TEST_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.0/16")
    assert Settings().trusted_proxies == (ip_network("10.0.0.0/8"), ip_network("192.168.0.0/16"))
    monkeypatch.setenv("CA_TEST_TRUSTED_PROXIES", '["fd00::/8"]')
    assert Settings().trusted_proxies == (ip_network("fd00::/8"),)
    monkeypatch.setenv("CA_TEST_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == ()
    for wrong in ("*", "10.0.0.0/33", "ingress-nginx"):
        monkeypatch.setenv("CA_TEST_TRUSTED_PROXIES", wrong)
        with pytest.raises(ValidationError):
            Settings()


@pytest.mark.parametrize(("address", "group"), [
    ("198.51.100.7", "198.51.100.7"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"), ("not an address", "unknown"), (None, "unknown")])
def test_an_ipv6_client_is_one_slash_64(address, group) -> None:
    assert address_group(address) == group
    if address and address[0].isdigit() and ":" not in address:
        assert address_group(ip_address(address)) == group
