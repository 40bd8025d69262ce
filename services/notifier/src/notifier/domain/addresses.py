"""Where the notifier may send a webhook (SSRF guard): public https hosts; loopback only when allowed.
And which merchant contact email it may write to: exactly one address.

The URL is checked when settings load; every resolved address is checked again at connect time
(`adapters/guarded_http.py`), so a DNS name that later resolves to an internal address is refused.
"""

import ipaddress
from email.utils import getaddresses
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})


def address_allowed(address: str, *, allow_loopback: bool) -> bool:
    """Public unicast addresses only; loopback too when explicitly allowed (local runs, tests)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def check_webhook_url(url: str, *, allow_insecure_loopback: bool) -> str:
    """Return the URL unchanged or raise ValueError saying what is wrong with it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the helpdesk webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the helpdesk webhook URL must not carry credentials")
    literal = _ip_literal(host)
    loopback = host in LOOPBACK_NAMES or (literal is not None and ipaddress.ip_address(literal).is_loopback)
    if parts.scheme == "http" and not (allow_insecure_loopback and loopback):
        raise ValueError("the helpdesk webhook URL must be https (http only to loopback with "
                         "allow_insecure_loopback)")
    if parts.scheme not in ("http", "https"):
        raise ValueError("the helpdesk webhook URL must be https")
    if loopback and not allow_insecure_loopback:
        raise ValueError("the helpdesk webhook URL points at this machine (loopback)")
    if literal is not None and not address_allowed(literal, allow_loopback=allow_insecure_loopback):
        raise ValueError("the helpdesk webhook URL points at a private, link-local or reserved address")
    return url


def _ip_literal(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


def one_recipient(value: str | None) -> str | None:
    """The single address in a contact email Cloud POS holds, or None when it is no usable recipient (empty,
    several addresses, a line break that could smuggle a header, no local part or domain)."""
    if not value or any(c in value for c in "\r\n"):
        return None
    found = [address for _, address in getaddresses([value]) if address]
    if len(found) != 1:
        return None
    local, at, domain = found[0].rpartition("@")
    return found[0] if at and local and domain and " " not in found[0] else None
