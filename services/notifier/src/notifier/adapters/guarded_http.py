"""An httpx transport that connects only to allowed addresses, checked at connect time (SSRF, DNS rebinding).

httpcore resolves and connects inside `connect_tcp`; this network backend resolves the name itself,
keeps the allowed addresses and connects to one of them by IP. TLS still verifies the certificate
against the URL's host name (httpcore passes it as the SNI/server name separately).
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from ..domain.addresses import address_allowed

Resolver = Callable[[str, int], Awaitable[list[str]]]


class BlockedAddress(httpcore.ConnectError):
    """The host resolves only to addresses the notifier must not call."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, *, allow_loopback: bool, resolver: Resolver = system_resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_loopback = allow_loopback
        self._resolve = resolver

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout("resolving the helpdesk host timed out") from None
        except OSError as unresolved:
            raise httpcore.ConnectError(f"cannot resolve the helpdesk host: {unresolved}") from None
        allowed = [a for a in dict.fromkeys(addresses) if address_allowed(a, allow_loopback=self._allow_loopback)]
        if not allowed:
            raise BlockedAddress("the helpdesk host resolves only to private, loopback or reserved addresses")
        for address in allowed[:-1]:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await self._inner.connect_tcp(allowed[-1], port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(*, timeout: float, allow_loopback: bool, resolver: Resolver = system_resolver) -> httpx.AsyncClient:
    """No redirects, no proxies from the environment, every connection checked."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001 - httpx has no public hook for this
        ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(
            allow_loopback=allow_loopback, resolver=resolver), max_connections=20)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


def blocked(error: BaseException) -> bool:
    """httpx wraps httpcore's errors; look through the chain for our refusal."""
    while error is not None:
        if isinstance(error, BlockedAddress):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False
