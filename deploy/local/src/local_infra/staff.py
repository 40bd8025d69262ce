"""A helpdesk staff member signing in to the console through the staff identity sandbox, as a browser would:
the console's "Sign in" redirect, the provider's sign-in form (skipped while its session lasts), the callback.

Shared by the registry's live tests, the benchmarks and checks on the `make run` stack. `console` is an httpx
client of the registry (base URL set, a real server or an ASGI transport) whose cookie jar becomes the session.
"""

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import httpx

from sandboxes.staff_idp import ALICE_EMAIL, DEMO_PASSWORD


async def sign_in_staff(console: httpx.AsyncClient, provider: httpx.AsyncClient, email: str = ALICE_EMAIL,
                        password: str = DEMO_PASSWORD) -> httpx.Response:
    """Sign `email` in; returns the console's answer to the callback (303 to /helpdesk/ when signed in).
    `provider` is the browser's client for the identity provider (its own cookie jar: the provider's session)."""
    start = await console.get("/helpdesk/sign-in")
    if start.status_code != 303:
        raise AssertionError(f"the console did not start a sign-in: {start.status_code} {start.text[:300]}")
    location = start.headers["location"]
    for _ in range(6):
        if urlsplit(location).path.endswith("/helpdesk/callback"):
            parts = urlsplit(location)
            return await console.get(f"{parts.path}?{parts.query}")
        answer = await provider.get(location)
        if answer.status_code == 200 and 'name="txn"' in answer.text:      # the provider's sign-in form
            answer = await provider.post(urljoin(str(answer.url), "/login"), data={
                "txn": unescape(re.search(r'name="txn" value="([^"]*)"', answer.text).group(1)),  # type: ignore[union-attr]
                "email": email, "password": password})
        if answer.status_code not in (302, 303):
            raise AssertionError(f"the provider did not sign {email} in: {answer.status_code} {answer.text[:300]}")
        location = urljoin(str(answer.url), answer.headers["location"])
    raise AssertionError("the sign-in did not come back to the console")
