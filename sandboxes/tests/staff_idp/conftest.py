"""The staff identity sandbox as a real uvicorn server on a free loopback port, a browser (httpx with a cookie
jar, no automatic redirects) and the console's relying party (`shared.oidc.OidcClient`)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import uvicorn

from sandboxes.staff_idp import ALICE_EMAIL, DEMO_PASSWORD, StaffIdpSandboxSettings, build_app
from shared.oidc import OidcClient
from tests.support.http import bound_socket, url_of

CLIENT_ID = "helpdesk-console"
CLIENT_SECRET = "staff-idp-test-secret-5f2c"
REDIRECT_URI = "http://127.0.0.1:8103/helpdesk/callback"
SIGNED_OUT_URI = "http://127.0.0.1:8103/helpdesk/signed-out"
SCOPES = ["openid", "profile", "email"]


class MovableClock:
    """Real time plus an offset the test moves; the sandbox reads it for codes, tokens and sessions."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Attempt:
    """One authorize request's secrets, kept by the relying party."""
    state: str
    nonce: str
    verifier: str


@dataclass
class Idp:
    base_url: str
    clock: MovableClock
    rp: OidcClient

    async def authorize(self, browser: httpx.AsyncClient, attempt: Attempt | None = None, **extra: str
                        ) -> tuple[httpx.Response, Attempt]:
        attempt = attempt or Attempt(secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48))
        url = await self.rp.authorize_url(REDIRECT_URI, SCOPES, state=attempt.state, nonce=attempt.nonce,
                                          code_challenge=s256(attempt.verifier), **extra)
        return await browser.get(url), attempt

    async def sign_in(self, browser: httpx.AsyncClient, email: str = ALICE_EMAIL, password: str = DEMO_PASSWORD,
                      **extra: str) -> tuple[dict[str, str], Attempt]:
        """Authorize, type the password only if the provider asks; returns the callback's query and the attempt."""
        response, attempt = await self.authorize(browser, **extra)
        location = response.headers["location"]
        if location.startswith("/login"):
            page = await browser.get(urljoin(self.base_url, location))
            posted = await browser.post(f"{self.base_url}/login", data={
                "txn": txn_of(page.text), "email": email, "password": password})
            assert posted.status_code == 302, posted.text
            location = posted.headers["location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        return query_of(location), attempt


def txn_of(html: str) -> str:
    return unescape(re.search(r'name="txn" value="([^"]*)"', html).group(1))


@contextmanager
def running_idp(clock: MovableClock, **overrides) -> Iterator[str]:
    """uvicorn in a thread on a socket bound first, so the issuer (its own URL) is known before it starts."""
    sock = bound_socket()
    base_url = url_of(sock)
    settings = StaffIdpSandboxSettings(**{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "issuer": base_url,
        "redirect_uris": [REDIRECT_URI], "post_logout_redirect_uris": [SIGNED_OUT_URI], **overrides})
    server = uvicorn.Server(uvicorn.Config(build_app(settings, clock), log_level="warning", lifespan="off",
                                          access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "staff identity sandbox did not start"
        time.sleep(0.01)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
async def idp() -> AsyncIterator[Idp]:
    clock = MovableClock()
    with running_idp(clock) as base_url:
        async with httpx.AsyncClient(timeout=10) as http:
            yield Idp(base_url, clock, OidcClient(base_url, CLIENT_ID, CLIENT_SECRET, http))


@pytest.fixture
async def browser(idp: Idp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=idp.base_url, follow_redirects=False, timeout=10) as client:
        yield client
