"""The production overlay (deploy/k8s/overlays/production) points the product at the real Xero and the real Cloud
POS platform with no sandbox: each service's settings load from what the rendered Deployment gives it (its env,
the ConfigMap it reads, placeholders for the Secret keys it names), and the gateway asks Xero's own discovery
address. docs/real-xero.md is the prose for the same."""

from __future__ import annotations

import base64
import importlib
import json
import os
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oauth_gateway.adapters.xero_identity import XeroIdentityClient
from oauth_gateway.settings import SALES_POSTER_SCOPES, GatewaySettings

from .test_deployment_files import SERVICES
from .test_k8s_manifests import by_kind, rendered

OVERLAY = "production"
XERO_DISCOVERY = "https://identity.xero.com/.well-known/openid-configuration"
DISCOVERY = {"issuer": "https://identity.xero.com",
             "authorization_endpoint": "https://login.xero.com/identity/connect/authorize",
             "token_endpoint": "https://identity.xero.com/connect/token",
             "revocation_endpoint": "https://identity.xero.com/connect/revocation",
             "jwks_uri": "https://identity.xero.com/.well-known/openid-configuration/jwks"}


def placeholder(key: str, service: str) -> str:
    """A value of the right shape for a Secret key (the real ones are created out of band)."""
    if key.endswith("DATABASE__URL"):
        return f"postgresql://{service}:placeholder@db.cloudpos.example.com:5432/{service}"
    if key.endswith("TOKEN_KEYS"):
        return json.dumps({"k1": base64.b64encode(bytes(32)).decode()})
    if key.endswith("ACTIVE_TOKEN_KEY_ID"):
        return "k1"
    if key.endswith("STAFF_IDENTITY__ISSUER"):
        return "https://login.cloudpos.example.com"
    return f"placeholder-{key.lower()}-000000000000000000000000"


def secret_keys(container: dict, *, optional: bool = False) -> list[str]:
    """The environment variables the container takes from Secret keys (a Strimzi user Secret names its key
    `password`: the variable's name is what the settings read)."""
    refs = [(e["name"], e["valueFrom"]["secretKeyRef"]) for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})]
    return [name for name, ref in refs if bool(ref.get("optional")) == optional]


def container_of(service: str) -> dict:
    (container,) = by_kind(OVERLAY, "Deployment")[SERVICES[service][1]]["spec"]["template"]["spec"]["containers"]
    return container


def production_env(service: str) -> dict[str, str]:
    """What the pod's environment would be: ConfigMaps (envFrom), then env values, then the required Secret keys
    (placeholders); the optional ones are left out, as a Secret without them would."""
    configmaps = by_kind(OVERLAY, "ConfigMap")
    container = container_of(service)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= configmaps[source["configMapRef"]["name"]]["data"]
    env |= {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}
    return env | {key: placeholder(key, service) for key in secret_keys(container)}


def load_settings(service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    prefix = service.upper() + "_"
    for name in list(os.environ):
        if name.startswith(prefix):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module(f"{service}.settings")
    settings_class = next(v for v in vars(module).values() if isinstance(v, type)
                          and getattr(v, "model_config", {}).get("env_prefix") == prefix)
    return settings_class(_env_file=None)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_starts_with_the_production_settings_and_needs_every_secret_it_names(
        service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = production_env(service)
    load_settings(service, env, monkeypatch)
    required = secret_keys(container_of(service))
    assert required, "the overlay names the Secret keys the service needs"
    for key in required:  # none is named for nothing: without it the service cannot start
        with pytest.raises(ValueError):
            load_settings(service, {k: v for k, v in env.items() if k != key}, monkeypatch)


async def test_the_gateway_asks_xeros_own_discovery_address_and_api_host(monkeypatch: pytest.MonkeyPatch) -> None:
    settings: GatewaySettings = load_settings("oauth_gateway", production_env("oauth_gateway"), monkeypatch)
    assert (settings.xero.issuer, settings.xero.api_base_url) == ("https://identity.xero.com", "https://api.xero.com")
    redirect = urlsplit(settings.xero.redirect_uri)
    assert (redirect.scheme, f"{redirect.scheme}://{redirect.netloc}", redirect.path) == (
        "https", settings.public_origin, "/xero/callback"), "Xero needs https; the callback is the gateway's own"
    assert settings.secure_cookies
    asked: list[str] = []

    def xero(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, json=DISCOVERY)

    async with httpx.AsyncClient(transport=httpx.MockTransport(xero)) as http:
        url = await XeroIdentityClient(settings.xero, http).authorize_url("state", "nonce", "challenge")
    assert asked == [XERO_DISCOVERY]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(DISCOVERY["authorization_endpoint"] + "?")
    assert query["redirect_uri"] == [settings.xero.redirect_uri]
    assert query["client_id"] == [settings.xero.client_id]
    assert query["scope"] == [" ".join(SALES_POSTER_SCOPES)], "the granular scopes registered at Xero"


def test_the_overlay_runs_no_sandbox_and_reaches_out_over_https_only() -> None:
    text = rendered(OVERLAY)
    for word in ("sandbox", "staff-idp", "localhost", "127.0.0.1", ":8710", ":8720", ":8740"):
        assert word not in text, f"the production overlay mentions {word!r}"
    names = {SERVICES[s][1] for s in SERVICES}
    assert set(by_kind(OVERLAY, "Deployment")) == names
    assert set(by_kind(OVERLAY, "Service")) <= names | {"oauth-gateway-platform"}
    for service in SERVICES:
        for name, value in production_env(service).items():
            if "://" in value and name.startswith(service.upper()) and not name.endswith("DATABASE__URL"):
                host = urlsplit(value).hostname or ""
                in_cluster = "." not in host
                assert value.startswith("https://") or in_cluster, f"{name}={value}: outside the cluster, https only"
