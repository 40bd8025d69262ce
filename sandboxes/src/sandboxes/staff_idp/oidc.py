"""The back channel: discovery, JWKS, /token and /userinfo, with RFC 6749 §5.2 JSON errors."""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandboxes.signing import RsaSigner
from sandboxes.staff_idp.authorize import SCOPES
from sandboxes.staff_idp.settings import StaffIdpSandboxSettings
from sandboxes.staff_idp.state import StaffIdpState
from sandboxes.staff_idp.tokens import id_token, user_claims

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CLAIMS = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "name", "email",
          "email_verified", "preferred_username", "roles"]


def oauth_error(error: str, description: str, status: int = 400, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={**NO_STORE, **(headers or {})})


def invalid_client(description: str) -> JSONResponse:
    return oauth_error("invalid_client", description, 401, {"WWW-Authenticate": 'Basic realm="staff-idp"'})


def client_credentials(request: Request, form) -> tuple[str, str] | JSONResponse:
    """client_secret_basic (form-urlencoded id and secret, RFC 6749 §2.3.1) or client_secret_post, never both."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return str(form.get("client_id", "")), str(form.get("client_secret", ""))
    if form.get("client_secret") is not None:
        return oauth_error("invalid_request", "use one client authentication method, not two")
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return invalid_client("malformed Basic credentials")
    client_id, sep, secret = raw.partition(":")
    if not sep:
        return invalid_client("malformed Basic credentials")
    client_id = unquote_plus(client_id)
    if form.get("client_id") not in (None, client_id):
        return oauth_error("invalid_request", "client_id differs from the authenticated client")
    return client_id, unquote_plus(secret)


def discovery_document(base: str) -> dict:
    """OpenID Connect Discovery 1.0 metadata: only what this provider really does."""
    return {
        "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo", "jwks_uri": f"{base}/jwks",
        "end_session_endpoint": f"{base}/end_session", "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"], "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": CLAIMS, "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": True, "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


def build_oidc_router(state: StaffIdpState, settings: StaffIdpSandboxSettings, signer: RsaSigner) -> APIRouter:
    router = APIRouter()
    base = settings.issuer

    @router.get("/.well-known/openid-configuration")
    async def discovery() -> dict:
        return discovery_document(base)

    @router.get("/jwks")
    async def jwks() -> dict:
        return signer.jwks()

    @router.post("/token")
    async def token(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
        form = await request.form()
        credentials = client_credentials(request, form)
        if isinstance(credentials, Response):
            return credentials
        client_id, secret = credentials
        expected = settings.client_secret.get_secret_value().encode()
        if client_id != settings.client_id or not hmac.compare_digest(secret.encode(), expected):
            return invalid_client("client authentication failed")
        if not form.get("grant_type"):
            return oauth_error("invalid_request", "grant_type is required")
        if form["grant_type"] != "authorization_code":
            return oauth_error("unsupported_grant_type", "only authorization_code is supported")
        if not form.get("code"):
            return oauth_error("invalid_request", "code is required")
        grant = state.redeem(str(form["code"]), client_id, form.get("redirect_uri"), form.get("code_verifier"))
        if grant is None:
            return oauth_error("invalid_grant", "the code is invalid, expired or already used, or the "
                                                "redirect_uri or code_verifier does not match")
        access = state.issue_access_token(grant)
        signed = id_token(signer, base, grant, state.staff[grant.sub], access, now=int(state.clock()),
                          lifetime=settings.id_token_seconds)
        return JSONResponse({"access_token": access, "token_type": "Bearer",
                             "expires_in": settings.access_token_seconds, "id_token": signed,
                             "scope": " ".join(grant.request.scopes)}, headers=NO_STORE)

    @router.api_route("/userinfo", methods=["GET", "POST"])
    async def userinfo(request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return JSONResponse({"error": "invalid_request"}, 401,
                                headers={"WWW-Authenticate": 'Bearer realm="staff-idp"'})
        found = state.access_token(value.strip())
        if found is None or found.sub not in state.staff:
            return JSONResponse({"error": "invalid_token"}, 401, headers={
                "WWW-Authenticate": 'Bearer realm="staff-idp", error="invalid_token", '
                                    'error_description="the access token is invalid, expired or revoked"'})
        return JSONResponse(user_claims(state.staff[found.sub], found.scopes), headers=NO_STORE)

    return router
