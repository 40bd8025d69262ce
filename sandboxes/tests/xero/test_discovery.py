"""Discovery, JWKS and the host headers Xero's identity server sends."""

import httpx


async def test_discovery_lists_xero_endpoints(sandbox):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{sandbox.base_url}/.well-known/openid-configuration")
    doc = response.json()
    base = sandbox.base_url
    assert response.status_code == 200
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == f"{base}/identity/connect/authorize"
    assert doc["token_endpoint"] == f"{base}/connect/token"
    assert doc["revocation_endpoint"] == f"{base}/connect/revocation"
    assert doc["userinfo_endpoint"] == f"{base}/connect/userinfo"
    assert doc["jwks_uri"] == f"{base}/.well-known/openid-configuration/jwks"
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert response.headers["server"] == "Kestrel"
    assert response.headers["xero-correlation-id"]


async def test_jwks_has_one_rs256_key_with_thumbprints(sandbox):
    async with httpx.AsyncClient() as http:
        keys = (await http.get(f"{sandbox.base_url}/.well-known/openid-configuration/jwks")).json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert len(key["kid"]) == 40 and key["kid"] == key["kid"].upper()
    assert key["x5t"] and key["x5c"] and key["n"] and key["e"] == "AQAB"
