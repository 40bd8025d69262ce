"""What the integration test runs: servers on loopback in the test's event loop, a Xero consent done the way a
browser does it (to get the token the stand-in platform API keeps), and events published like the registry."""

import base64
import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.support.http import bound_socket, serving, url_of

__all__ = ["XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "XERO_REDIRECT", "bound_socket", "serving", "url_of",
           "xero_access_token"]

XERO_CLIENT_ID = "DAILYSALESTESTCLIENT000000000001"
XERO_CLIENT_SECRET = "daily-sales-test-client-secret"
XERO_REDIRECT = "http://localhost:8123/xero/callback"
XERO_SCOPES = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings"


async def xero_access_token(xero_url: str, tenant_id: str, email: str, password: str) -> str:
    """Authorization code + PKCE against the Xero sandbox: log in, pick the organisation, swap the code."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": XERO_CLIENT_ID, "redirect_uri": XERO_REDIRECT,
             "scope": XERO_SCOPES, "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
             "code_challenge": challenge, "code_challenge_method": "S256"}
    async with httpx.AsyncClient(base_url=xero_url, follow_redirects=False) as browser:
        page = await browser.get("/identity/connect/authorize", params=query)
        if page.status_code == 302:
            login = await browser.get(page.headers["location"])
            return_url = unescape(re.search(r'name="ReturnUrl" value="([^"]*)"', login.text).group(1))
            posted = await browser.post("/identity/user/login",
                                        data={"email": email, "password": password, "ReturnUrl": return_url})
            page = await browser.get(urljoin(xero_url, posted.headers["location"]))
        txn = unescape(re.search(r'name="txn" value="([^"]*)"', page.text).group(1))
        done = await browser.post("/identity/connect/consent",
                                  data={"txn": txn, "action": "allow", "tenant_id": [tenant_id]})
        code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
        token = await browser.post("/connect/token", auth=(XERO_CLIENT_ID, XERO_CLIENT_SECRET), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": XERO_REDIRECT,
            "code_verifier": verifier})
        token.raise_for_status()
        return token.json()["access_token"]
