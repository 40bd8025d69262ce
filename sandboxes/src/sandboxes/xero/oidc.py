"""Identity host: discovery, JWKS, /connect/token, /connect/revocation and /connect/userinfo."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import replace
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandboxes.xero.domain import Grant
from sandboxes.xero.problems import NO_STORE, identity_problem, oauth_error
from sandboxes.xero.settings import XeroSandboxSettings
from sandboxes.xero.state import XeroState
from sandboxes.xero.tokens import Signer, profile_claims

INVALID = "invalid"


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def build_oidc_router(state: XeroState, settings: XeroSandboxSettings, signer: Signer) -> APIRouter:
    router = APIRouter()
    base = settings.issuer.rstrip("/")

    @router.get("/.well-known/openid-configuration")
    async def discovery() -> dict:
        return {
            "issuer": base, "jwks_uri": f"{base}/.well-known/openid-configuration/jwks",
            "authorization_endpoint": f"{base}/identity/connect/authorize",
            "token_endpoint": f"{base}/connect/token", "userinfo_endpoint": f"{base}/connect/userinfo",
            "end_session_endpoint": f"{base}/connect/endsession",
            "check_session_iframe": f"{base}/connect/checksession",
            "revocation_endpoint": f"{base}/connect/revocation",
            "frontchannel_logout_supported": True, "frontchannel_logout_session_supported": True,
            "backchannel_logout_supported": True, "backchannel_logout_session_supported": True,
            "scopes_supported": list(settings.allowed_scopes),
            "claims_supported": ["sub", "xero_userid", "global_session_id", "preferred_username", "email",
                                 "given_name", "family_name", "name", "auth_time", "idp", "amr", "sid"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "response_types_supported": ["code"], "response_modes_supported": ["form_post", "query"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"], "request_parameter_supported": False,
        }

    @router.get("/.well-known/openid-configuration/jwks")
    async def jwks() -> dict:
        return signer.jwks()

    def authenticate_client(request: Request, form) -> str:
        """Basic header (xero-node) or form fields (xero-python); returns the client id or INVALID."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return INVALID
            client_id, sep, secret = raw.partition(":")
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
            if not sep:
                return INVALID
        else:
            client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        expected = settings.client_secret.get_secret_value()
        if client_id != settings.client_id or not hmac.compare_digest(secret.encode(), expected.encode()):
            return INVALID
        return client_id

    def token_response(grant: Grant, scopes: list[str], refresh: str | None) -> JSONResponse:
        user = state.users[grant.sub]
        access = signer.access_token(grant, user, scopes, settings.access_token_seconds)
        body: dict = {}
        if "openid" in scopes:
            body["id_token"] = signer.id_token(grant, user, scopes, access)
        body.update(access_token=access, expires_in=settings.access_token_seconds, token_type="Bearer")
        if refresh is not None:
            body["refresh_token"] = refresh
        body["scope"] = " ".join(scopes)
        return JSONResponse(body, headers=NO_STORE)

    @router.post("/connect/token")
    async def token(request: Request) -> Response:
        form = await request.form()
        client_id = authenticate_client(request, form)
        if client_id == INVALID:
            return oauth_error("invalid_client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = state.redeem_code(str(form.get("code", "")), client_id, form.get("redirect_uri"),
                                      form.get("code_verifier"))
            if grant is None or grant.sub not in state.users:
                return oauth_error("invalid_grant")
            refresh = state.issue_refresh(grant) if "offline_access" in grant.scopes else None
            return token_response(grant, grant.scopes, refresh)
        if grant_type == "refresh_token":
            rotated = state.rotate(str(form.get("refresh_token", "")), client_id)
            if rotated is None:
                return oauth_error("invalid_grant")
            grant, new_refresh = rotated
            requested = str(form.get("scope", "")).split() or grant.scopes
            if any(s not in grant.scopes for s in requested):
                return oauth_error("invalid_scope")
            return token_response(replace(grant, nonce=None), requested, new_refresh)
        if grant_type == "client_credentials":
            return oauth_error("unauthorized_client")
        return oauth_error("unsupported_grant_type")

    @router.post("/connect/revocation")
    async def revocation(request: Request) -> Response:
        form = await request.form()
        client_id = authenticate_client(request, form)
        if client_id == INVALID:
            return oauth_error("invalid_client")
        token = str(form.get("token", ""))
        if not token:
            return oauth_error("invalid_request")
        state.revoke(token, client_id)  # unknown tokens and access tokens: 200, nothing revoked
        return Response(status_code=200)

    @router.api_route("/connect/userinfo", methods=["GET", "POST"])
    async def userinfo(request: Request) -> Response:
        token = bearer(request)
        claims, problem = signer.verify(token) if token else (None, "AuthorizationUnsuccessful")
        if claims is None:
            return identity_problem(401, problem, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if "openid" not in claims.get("scope", []) or claims["sub"] not in state.users:
            return identity_problem(403, "AuthenticationUnsuccessful",
                                    {"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
        user = state.users[claims["sub"]]
        return JSONResponse({"sub": claims["sub"], "xero_userid": user["xero_userid"],
                             **profile_claims(user, claims["scope"])})

    return router
