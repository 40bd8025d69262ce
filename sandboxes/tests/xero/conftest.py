"""Runs the Xero sandbox as a real uvicorn server on a free 127.0.0.1 port and drives it like a browser would."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import uvicorn
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from sandboxes.xero import DEMO_PASSWORD, STEVE_EMAIL, STEVE_TEST_STORE_TENANT_ID, XeroSandboxSettings, build_app

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the callback is http://localhost in tests

CLIENT_ID = "5F1D9C8A2B3E4F60718293A4B5C6D7E8"
CLIENT_SECRET = "sandbox-test-secret-7d1c"
REDIRECT_URI = "http://localhost:8123/xero/callback"
CONTROL_TOKEN = "sandbox-control-test-token"
SCOPES = "openid profile email offline_access accounting.settings.read"
ACCOUNTING_SCOPES = ("openid profile email offline_access accounting.settings accounting.contacts "
                     "accounting.invoices accounting.payments")


class Sandbox:
    """A running sandbox plus helpers for the browser steps, the Authlib client and /_sandbox controls."""

    client_id, client_secret, redirect_uri, control_token = CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, CONTROL_TOKEN
    scopes = SCOPES

    def __init__(self, base_url: str, settings: XeroSandboxSettings) -> None:
        self.base_url, self.settings = base_url, settings
        self.authorize_url = f"{base_url}/identity/connect/authorize"
        self.token_url = f"{base_url}/connect/token"

    def control(self, method: str, path: str, json: dict | None = None) -> dict:
        response = httpx.request(method, self.base_url + path, json=json,
                                 headers={"x-sandbox-control-token": CONTROL_TOKEN})
        response.raise_for_status()
        return response.json()

    @staticmethod
    def query_of(location: str) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def state(self) -> dict:
        return self.control("GET", "/_sandbox/state")

    def advance(self, seconds: float) -> None:
        self.control("POST", "/_sandbox/clock/advance", {"seconds": seconds})

    def oauth_client(self, scope: str = SCOPES, **kwargs) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(CLIENT_ID, CLIENT_SECRET, scope=scope, redirect_uri=REDIRECT_URI,
                                 code_challenge_method="S256", **kwargs)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, follow_redirects=False)

    async def consent(self, url: str, browser: httpx.AsyncClient, *, tenants=(STEVE_TEST_STORE_TENANT_ID,),
                      action: str = "allow", email: str = STEVE_EMAIL, password: str = DEMO_PASSWORD) -> str:
        """GET authorize, log in only if Xero asks, pick orgs, press a button; returns the redirect Location."""
        response = await browser.get(url)
        if response.status_code == 302 and "/identity/user/login" in response.headers["location"]:
            login = await browser.get(response.headers["location"])
            assert login.status_code == 200 and "Log in to Xero" in login.text
            return_url = unescape(re.search(r'name="ReturnUrl" value="([^"]*)"', login.text).group(1))
            posted = await browser.post("/identity/user/login",
                                        data={"email": email, "password": password, "ReturnUrl": return_url})
            assert posted.status_code == 302, posted.text
            response = await browser.get(urljoin(self.base_url, posted.headers["location"]))
        assert response.status_code == 200, response.text
        txn = unescape(re.search(r'name="txn" value="([^"]*)"', response.text).group(1))
        done = await browser.post("/identity/connect/consent",
                                  data={"txn": txn, "action": action, "tenant_id": list(tenants)})
        assert done.status_code == 302, done.text
        return done.headers["location"]

    async def connect(self, tenants=(STEVE_TEST_STORE_TENANT_ID,), scope: str = SCOPES,
                      browser: httpx.AsyncClient | None = None, nonce: str | None = None,
                      email: str = STEVE_EMAIL) -> dict:
        """Full authorization-code + PKCE flow with Authlib; returns the token set."""
        async with contextlib.AsyncExitStack() as stack:
            browser = browser or await stack.enter_async_context(self.browser())
            client = await stack.enter_async_context(self.oauth_client(scope))
            verifier = generate_token(48)
            url, _ = client.create_authorization_url(self.authorize_url, code_verifier=verifier,
                                                     nonce=nonce or generate_token(16))
            location = await self.consent(url, browser, tenants=tenants, email=email)
            return dict(await client.fetch_token(self.token_url, authorization_response=location,
                                                 code_verifier=verifier))



    async def api(self, token: dict, method: str, path: str, *, tenant: str | None = STEVE_TEST_STORE_TENANT_ID,
                  accept: str = "application/json", headers: dict | None = None, **kwargs) -> httpx.Response:
        """One Accounting API call as a client sends it: Bearer token, xero-tenant-id, Accept."""
        sent = {"Authorization": f"Bearer {token['access_token']}", "Accept": accept, **(headers or {})}
        if tenant is not None:
            sent["xero-tenant-id"] = tenant
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.request(method, path, headers=sent, **kwargs)


@contextlib.contextmanager
def running_sandbox(**overrides):
    """Starts uvicorn.Server in a background thread on a socket we bound first (no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = XeroSandboxSettings(**{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI],
        "control_token": CONTROL_TOKEN, "issuer": base_url, **overrides})
    config = uvicorn.Config(build_app(settings), log_level="warning", access_log=False,
                            server_header=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "sandbox did not start"
        time.sleep(0.02)
    try:
        yield Sandbox(base_url, settings)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def sandbox():
    with running_sandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_state(sandbox):
    sandbox.control("POST", "/_sandbox/reset")
    yield


@pytest.fixture(scope="session")
def make_sandbox():
    """For tests needing other settings (bulk connections, tiny limits): `with make_sandbox(**overrides) as sb`."""
    return running_sandbox
