"""The browser side of the flow: /identity/connect/authorize, the login page and the consent page.

Request errors render Xero's own error page (never a redirect to the app); only Cancel and Allow redirect.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import timedelta
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sandboxes.xero.domain import Grant, Pending
from sandboxes.xero.pages import error_page, render
from sandboxes.xero.settings import BROAD_SCOPES, XeroSandboxSettings
from sandboxes.xero.state import XeroState

SESSION_COOKIE = "XeroSandbox.Session"
AUTHORIZE_PATH = "/identity/connect/authorize"
APP_PREFIX = "/app/"
PENDING_SECONDS = 600


def with_query(url: str, params: dict) -> str:
    """Append params the way IdentityServer does (spaces as %20), dropping empty ones."""
    query = urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote)
    return f"{url}{'&' if urlsplit(url).query else '?'}{query}"


def build_authorize_router(state: XeroState, settings: XeroSandboxSettings) -> APIRouter:
    router = APIRouter()

    def fail(error: str, description: str) -> Response:
        return error_page(error, description, str(uuid.uuid4()))

    def session_of(request: Request):
        return state.sessions.get(request.cookies.get(SESSION_COOKIE, ""))

    def check_request(q) -> str | None:
        """Returns 'error : description' for anything Xero would refuse on its own page."""
        if q.get("client_id") != settings.client_id:
            return "unauthorized_client : Unknown client or client not enabled"
        if q.get("redirect_uri") not in settings.redirect_uris:
            return "unauthorized_client : Invalid redirect_uri"
        if q.get("response_type") != "code":
            return "unsupported_response_type : Response type not supported"
        scopes = (q.get("scope") or "").split()
        if not scopes or any(s not in settings.allowed_scopes for s in scopes):
            return "unauthorized_client : Invalid scope for client"
        if settings.granular_scopes_only and any(s in BROAD_SCOPES for s in scopes):
            return "unauthorized_client : Invalid scope for client"
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if challenge is None and method is not None:
            return "invalid_request : code challenge required"
        if challenge is not None:
            if method != "S256":
                return "invalid_request : Transform algorithm not supported"
            if not 43 <= len(challenge) <= 128:
                return "invalid_request : Invalid code_challenge"
        return None

    def consent_page(pending: Pending, sub: str, error: str | None = None) -> Response:
        orgs = [{"id": o["OrganisationID"], "name": o["Name"],
                 "connected": state.find_connection(sub, pending.client_id, o["OrganisationID"]) is not None}
                for o in state.user_orgs(sub)]
        return render("consent", 400 if error else 200, app_name=settings.app_name, scopes=pending.scopes,
                      orgs=orgs, txn=pending.id, multi=settings.bulk_connections, error=error,
                      email=state.users[sub]["email"])

    @router.get(AUTHORIZE_PATH)
    async def authorize(request: Request) -> Response:
        q = request.query_params
        problem = check_request(q)
        if problem:
            return fail(*problem.split(" : ", 1))
        session = session_of(request)
        if session is None:
            here = f"{AUTHORIZE_PATH}?{request.url.query}"
            return RedirectResponse(with_query("/identity/user/login", {"ReturnUrl": here}), 302)
        pending = state.add_pending(
            session_id=session.id, client_id=q["client_id"], redirect_uri=q["redirect_uri"],
            scopes=list(dict.fromkeys(q["scope"].split())), state=q.get("state"), nonce=q.get("nonce"),
            code_challenge=q.get("code_challenge"))
        return consent_page(pending, session.sub)

    @router.get("/identity/user/login")
    async def login_page(request: Request) -> Response:
        return render("login", return_url=request.query_params.get("ReturnUrl", ""), email="", error=None)

    @router.post("/identity/user/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        return_url = str(form.get("ReturnUrl", ""))
        if not (return_url.startswith(AUTHORIZE_PATH + "?") or return_url.startswith(APP_PREFIX)):
            return_url = "/"  # never an open redirect: only the authorize flow or this sandbox's web app
        session = state.login(email, password)
        if session is None:
            return render("login", 400, return_url=return_url, email=email,
                          error="Your email or password is incorrect")
        response = RedirectResponse(return_url, 302)
        response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="lax", path="/")
        return response

    @router.post("/identity/connect/consent")
    async def consent(request: Request) -> Response:
        form = await request.form()
        session = session_of(request)
        pending = state.pending.get(str(form.get("txn", "")))
        if pending is None or session is None or pending.session_id != session.id:
            return fail("invalid_request", "Invalid or expired consent request")
        if state.clock.now() - pending.created_at > timedelta(seconds=PENDING_SECONDS):
            state.pending.pop(pending.id, None)
            return fail("invalid_request", "Invalid or expired consent request")
        if form.get("action") == "cancel":
            state.pending.pop(pending.id, None)
            return RedirectResponse(with_query(pending.redirect_uri,
                                               {"error": "access_denied", "state": pending.state}), 302)
        if form.get("action") != "allow":
            return consent_page(pending, session.sub, "Choose Allow access or Cancel")
        allowed = {o["OrganisationID"] for o in state.user_orgs(session.sub)}
        chosen = list(dict.fromkeys(str(t) for t in form.getlist("tenant_id")))
        if not chosen or any(t not in allowed for t in chosen):
            return consent_page(pending, session.sub, "Select an organisation to connect")
        if len(chosen) > 1 and not settings.bulk_connections:
            return consent_page(pending, session.sub, "Select a single organisation")
        state.pending.pop(pending.id, None)
        event_id = state.connect(session.sub, pending.client_id, chosen)
        scopes = state.grant_scopes(session.sub, pending.client_id, pending.scopes)
        grant = Grant(session.sub, pending.client_id, scopes, event_id, session, pending.nonce)
        code = state.issue_code(grant, pending.redirect_uri, pending.code_challenge)
        return RedirectResponse(with_query(pending.redirect_uri, {
            "code": code, "scope": " ".join(scopes), "state": pending.state,
            "session_state": session_state(pending, session.id)}), 302)

    return router


def session_state(pending: Pending, session_id: str) -> str:
    """OIDC session management value, computed as IdentityServer does: sha256(client+origin+sid+salt).salt."""
    salt = secrets.token_hex(16)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(pending.redirect_uri))
    digest = hashlib.sha256(f"{pending.client_id}{origin}{session_id}{salt}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() + "." + salt
