"""Token sealing (AES-GCM, key ids, row binding, rotation), settings, cookies and forms."""

import base64
import os

import pytest
from fastapi.responses import Response
from pydantic import ValidationError

from oauth_gateway.adapters.crypto import TokenCipher, UndecryptableToken
from oauth_gateway.entrypoints.web import Web
from oauth_gateway.settings import GatewaySettings, example_settings

K1, K2 = os.urandom(32), os.urandom(32)


def test_a_sealed_token_opens_only_in_its_own_row_and_column():
    cipher = TokenCipher({"k1": K1}, "k1")
    sealed = cipher.seal("refresh-token-value", "grant:g-1:refresh")
    assert "refresh-token-value" not in sealed and sealed.startswith("v1.k1.")
    assert cipher.open(sealed, "grant:g-1:refresh") == "refresh-token-value"
    for wrong in ("grant:g-2:refresh", "grant:g-1:access"):
        with pytest.raises(UndecryptableToken):
            cipher.open(sealed, wrong)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(UndecryptableToken):
        cipher.open(tampered, "grant:g-1:refresh")


def test_keys_rotate_without_downtime():
    old = TokenCipher({"k1": K1}, "k1").seal("t", "c")
    rotated = TokenCipher({"k1": K1, "k2": K2}, "k2")
    assert rotated.open(old, "c") == "t" and rotated.needs_rewrap(old)
    assert not rotated.needs_rewrap(rotated.seal("t", "c"))
    with pytest.raises(UndecryptableToken):
        TokenCipher({"k2": K2}, "k2").open(old, "c")          # the old key retired too early: refused, not garbage


def test_settings_have_no_secret_defaults_and_check_the_token_keys():
    base = example_settings().model_dump()
    for secret in ("session_secret", "token_keys"):
        with pytest.raises(ValidationError):
            GatewaySettings(**{k: v for k, v in base.items() if k != secret})
    with pytest.raises(ValidationError):
        GatewaySettings(**{**base, "token_keys": {"k": base64.b64encode(b"short").decode()},
                           "active_token_key_id": "k"})
    with pytest.raises(ValidationError):
        GatewaySettings(**{**base, "active_token_key_id": "missing"})
    assert "offline_access" in example_settings().xero.scopes


def _web(public: str) -> Web:
    return Web(example_settings().model_copy(update={"public_base_url": public}))


def test_under_https_the_cookie_is_secure_and_host_prefixed():
    response = Response()
    web = _web("https://setup.example.com")
    web.set_cookie(response, "v")
    header = response.headers["set-cookie"]
    assert web.cookie_name.startswith("__Host-")
    assert header.startswith("__Host-cpx_setup=v;") and "Secure" in header and "HttpOnly" in header
    assert "SameSite=lax" in header and "Path=/" in header and "Domain" not in header


def test_on_plain_http_the_cookie_has_the_same_attributes_but_no_host_prefix():
    response = Response()
    web = _web("http://localhost:8100")
    web.set_cookie(response, "v")
    assert web.cookie_name == "cpx_setup" and "Secure" not in response.headers["set-cookie"]


def test_csrf_tokens_depend_on_the_session_and_the_secret():
    web = _web("http://localhost:8100")
    assert web.csrf_token("a") != web.csrf_token("b") and len(web.csrf_token("a")) == 64
