"""The browser side: /authorize, the sign-in page and RP-initiated logout (/end_session).

An unknown client or redirect URI gets an error page (RFC 6749 §4.1.2.1: never redirect there); every other
problem goes back to the registered redirect URI as an OAuth error with the client's `state` and our `iss`
(RFC 9207).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from sandboxes.signing import RsaSigner
from sandboxes.staff_idp.pages import error_page, render
from sandboxes.staff_idp.settings import StaffIdpSandboxSettings
from sandboxes.staff_idp.state import AuthRequest, IdpSession, StaffIdpState

SESSION_COOKIE = "staff_idp_session"
SCOPES = ("openid", "profile", "email")
PROMPTS = ("none", "login", "consent", "select_account")
SINGLE = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
          "code_challenge_method", "prompt", "max_age")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
WRONG_PASSWORD = "Incorrect email address or password."


def with_query(url: str, params: dict) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{url}{'&' if urlsplit(url).query else '?'}{query}" if query else url


class Refused(Exception):
    """An authorize request the client hears about at its redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error, self.description = error, description


def parse_request(q, settings: StaffIdpSandboxSettings, now: float) -> AuthRequest:
    """The request once every rule holds; raises Refused. Client and redirect URI are checked by the caller."""
    if any(len(q.getlist(name)) > 1 for name in SINGLE):
        raise Refused("invalid_request", "a parameter was sent more than once")
    if "request" in q or "request_uri" in q:
        raise Refused("request_not_supported" if "request" in q else "request_uri_not_supported",
                      "request objects are not supported")
    if not q.get("response_type"):
        raise Refused("invalid_request", "response_type is required")
    if q["response_type"] != "code":
        raise Refused("unsupported_response_type", "only response_type=code is supported")
    scopes = tuple(dict.fromkeys((q.get("scope") or "").split()))
    if "openid" not in scopes or any(s not in SCOPES for s in scopes):
        raise Refused("invalid_scope", f"scope must include openid and only: {' '.join(SCOPES)}")
    challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
    if not challenge:
        raise Refused("invalid_request", "code_challenge is required (PKCE)")
    if method != "S256":
        raise Refused("invalid_request", "code_challenge_method must be S256")
    if not _CHALLENGE.match(challenge):
        raise Refused("invalid_request", "code_challenge is malformed")
    prompts = (q.get("prompt") or "").split()
    if any(p not in PROMPTS for p in prompts) or ("none" in prompts and len(prompts) > 1):
        raise Refused("invalid_request", "unsupported prompt value")
    max_age = q.get("max_age")
    if max_age is not None and not max_age.isdigit():
        raise Refused("invalid_request", "max_age must be a whole number of seconds")
    return AuthRequest(q["client_id"], q["redirect_uri"], scopes, q.get("state"), q.get("nonce"), challenge,
                       int(max_age) if max_age is not None else None, now)


def build_browser_router(state: StaffIdpState, settings: StaffIdpSandboxSettings) -> APIRouter:
    router = APIRouter()
    secure = settings.issuer.startswith("https://")

    def to_client(request: AuthRequest, **params: str) -> Response:
        return RedirectResponse(with_query(request.redirect_uri, {
            **params, "state": request.state, "iss": settings.issuer}), 302)

    def signed_in(request: AuthRequest, session: IdpSession) -> Response:
        return to_client(request, code=state.issue_code(request, session))

    @router.get("/authorize")
    async def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != settings.client_id or len(q.getlist("client_id")) > 1:
            return error_page("invalid_request", "Unknown client_id.")
        if q.get("redirect_uri") not in settings.redirect_uris or len(q.getlist("redirect_uri")) > 1:
            return error_page("invalid_request", "redirect_uri is not registered for this client.")
        try:
            auth = parse_request(q, settings, state.clock())
        except Refused as refused:
            fallback = AuthRequest(q["client_id"], q["redirect_uri"], (), q.get("state"), None, "")
            return to_client(fallback, error=refused.error, error_description=refused.description)
        prompts = (q.get("prompt") or "").split()
        session = state.session(request.cookies.get(SESSION_COOKIE))
        fresh = session is not None and (auth.max_age is None or state.clock() - session.auth_time <= auth.max_age)
        if session is not None and fresh and "login" not in prompts:
            return signed_in(auth, session)
        if "none" in prompts:
            return to_client(auth, error="login_required", error_description="the user is not signed in")
        return RedirectResponse(with_query("/login", {"txn": state.hold(auth)}), 302)

    @router.get("/login")
    async def login_page(txn: str = "") -> Response:
        auth = state.waiting(txn)
        if auth is None:
            return error_page("invalid_request", "This sign-in has expired or is unknown.")
        return render("login", txn=txn, email="", error=None, client_id=auth.client_id)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        txn, email, password = (str(form.get(k, "")) for k in ("txn", "email", "password"))
        auth = state.waiting(txn)
        if auth is None:
            return error_page("invalid_request", "This sign-in has expired or is unknown.")
        member = await run_in_threadpool(state.check_password, email, password)  # bcrypt: off the event loop
        if member is None:
            return render("login", 400, txn=txn, email=email, error=WRONG_PASSWORD, client_id=auth.client_id)
        state.pending.pop(txn, None)
        state.end_session(request.cookies.get(SESSION_COOKIE))  # a new sign-in replaces the old one
        session = state.start_session(member)
        response = signed_in(auth, session)
        response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="lax", secure=secure, path="/")
        return response

    return router


def build_logout_router(state: StaffIdpState, settings: StaffIdpSandboxSettings, signer: RsaSigner) -> APIRouter:
    """OpenID Connect RP-Initiated Logout 1.0: ends the IdP session, then back to a registered URI or a page."""
    router = APIRouter()
    secure = settings.issuer.startswith("https://")

    @router.api_route("/end_session", methods=["GET", "POST"])
    async def end_session(request: Request) -> Response:
        params = request.query_params if request.method == "GET" else await request.form()
        hint, client_id = params.get("id_token_hint"), params.get("client_id")
        target, client_state = params.get("post_logout_redirect_uri"), params.get("state")
        audiences: list[str] = []
        if hint:
            claims = signer.decode(str(hint))  # an expired hint is fine (RP-Initiated Logout §2)
            if claims is None or claims.get("iss") != settings.issuer:
                return error_page("invalid_request", "id_token_hint was not issued here.")
            audiences = claims["aud"] if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        if client_id is not None and (client_id != settings.client_id or (audiences and client_id not in audiences)):
            return error_page("invalid_request", "Unknown client_id.")
        if target is not None:
            if client_id is None and settings.client_id not in audiences:
                return error_page("invalid_request", "post_logout_redirect_uri needs client_id or id_token_hint.")
            if target not in settings.post_logout_redirect_uris:
                return error_page("invalid_request", "post_logout_redirect_uri is not registered for this client.")
        state.end_session(request.cookies.get(SESSION_COOKIE))
        response = (RedirectResponse(with_query(str(target), {"state": client_state}), 302) if target is not None
                    else render("signed_out"))
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
        return response

    return router
