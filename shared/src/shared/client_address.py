"""The client's address, and forwarded headers trusted only from the proxies we run.

Behind an ingress or a TLS proxy every request comes from the proxy's address, so per-address budgets would
put every merchant in one bucket. `X-Forwarded-For` is believed only when the TCP peer is one of the configured
`trusted_proxies` (CIDRs); the chain is read right to left, skipping our own proxies, and the first address we
do not run is the client. From any other peer the header is ignored (anyone can send it), and the peer is the
client. `Forwarded` (RFC 7239) is not read: ingress-nginx and common TLS proxies send X-Forwarded-For.
This is uvicorn's `ProxyHeadersMiddleware` (it takes CIDRs and walks right to left), given only networks that
parsed: uvicorn turns a value it cannot parse into a literal host name, so a typo would otherwise trust
nothing, silently. Servers run with uvicorn's own proxy handling off (`shared.runtime.serve`), so nothing is
trusted unless configured (uvicorn's default trusts 127.0.0.1).
"""

import json
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Annotated

from pydantic import BeforeValidator, IPvAnyNetwork
from pydantic_settings import NoDecode
from starlette.requests import HTTPConnection
from starlette.applications import Starlette
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

IpAddress = IPv4Address | IPv6Address
IpNetwork = IPv4Network | IPv6Network


def _networks(value: object) -> object:
    """From the environment: a JSON list or comma-separated CIDRs ("10.0.0.0/8, 192.168.0.0/16")."""
    if isinstance(value, str):
        value = json.loads(value) if value.lstrip().startswith("[") else [v for v in value.split(",") if v.strip()]
    return tuple(v.strip() if isinstance(v, str) else v for v in value) if isinstance(value, list | tuple) else value


TrustedProxies = Annotated[tuple[IPvAnyNetwork, ...], NoDecode, BeforeValidator(_networks)]
"""A settings field: the networks of our own proxies (ingress controller, TLS terminator); empty: none."""


def install(app: Starlette, trusted: Sequence[IpNetwork]) -> None:
    """Read the client from `X-Forwarded-For` when the peer is in `trusted` (nothing changes if it is empty);
    before the app starts."""
    if trusted:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[str(network) for network in trusted])


def client_address(connection: HTTPConnection) -> IpAddress | None:
    """The client's address (after `install`), or None when the server gave none or it is not an address."""
    host = connection.client.host if connection.client else ""
    try:
        return ip_address(host)
    except ValueError:
        return None


def address_group(address: IpAddress | str | None) -> str:
    """What one client holds: an IPv4 address, or an IPv6 /64 (one subscriber usually holds a whole /64; a
    budget per IPv6 address would give each of them 2^64 budgets). IPv4-mapped IPv6 counts as IPv4."""
    try:
        address = ip_address(address) if isinstance(address, str) else address
    except ValueError:
        address = None
    if address is None:
        return "unknown"
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)
