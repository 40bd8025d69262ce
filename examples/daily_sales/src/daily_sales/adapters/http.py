"""The one way this service opens an HTTP client to a service it calls with a bearer token."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from shared.tracing import inject_httpx


@asynccontextmanager
async def bearer_client(base_url: str, token: SecretStr, timeout: float, transport: httpx.AsyncBaseTransport | None,
                        **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    """Pooled, no redirects followed, the trace carried on (`traceparent`), the token only in the header."""
    async with httpx.AsyncClient(
            base_url=base_url, transport=transport, follow_redirects=False, timeout=httpx.Timeout(timeout),
            headers={"Authorization": f"Bearer {token.get_secret_value()}", **headers},
            event_hooks={"request": [inject_httpx]}) as client:
        yield client
