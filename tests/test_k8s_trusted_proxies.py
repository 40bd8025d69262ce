"""Every overlay tells the gateway which proxies to believe (issue 21): a value its settings accept, nothing in
the base but a placeholder that trusts nobody, and production's the documented pod network. (What the setting
does: services/oauth_gateway/tests/test_signin_live.py.)"""

from ipaddress import ip_network

import pytest
from pydantic import TypeAdapter

from shared.client_address import TrustedProxies

from .test_k8s_manifests import OVERLAYS, by_kind

PLACEHOLDER = ip_network("192.0.2.0/24")          # TEST-NET-1: no real peer has such an address


def _trusted(overlay: str) -> tuple:
    (container,) = by_kind(overlay, "Deployment")["oauth-gateway"]["spec"]["template"]["spec"]["containers"]
    (value,) = [e["value"] for e in container["env"] if e["name"] == "OAUTH_GATEWAY_TRUSTED_PROXIES"]
    return TypeAdapter(TrustedProxies).validate_python(value)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_is_told_which_proxies_to_believe(overlay: str) -> None:
    trusted = _trusted(overlay)
    assert trusted and not any(n.is_global for n in trusted)     # never the internet at large
    assert trusted == ((ip_network("10.244.0.0/16"),) if overlay == "production" else (PLACEHOLDER,))
