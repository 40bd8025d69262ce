"""Browser-facing plumbing: the session cookie, CSRF tokens, origin checks, and page rendering.

The cookie is HttpOnly, SameSite=Lax (Strict would drop it on the top-level return from Xero), Path=/
with no Domain; under https it is Secure and named with the `__Host-` prefix. CSRF tokens are an HMAC
of the cookie value, so they change whenever the session id changes (at sign-in).
"""

import hashlib
import hmac
import secrets
from importlib.resources import files

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..domain.refusals import Refusal
from ..settings import GatewaySettings
from .problems import Problem, forbidden_form, problem_of, unexpected_fields

_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none';"
                               " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer browsers send `Origin: null` on our own form posts.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
CSS = (files("oauth_gateway") / "static" / "site.css").read_text()


class Web:
    def __init__(self, settings: GatewaySettings) -> None:
        self.secure = settings.secure_cookies
        self.cookie_name = "__Host-cpx_setup" if self.secure else "cpx_setup"
        self.known_name = "__Host-cpx_known" if self.secure else "cpx_known"
        self._known_seconds = settings.sign_in.known_browser_days * 86400
        self._secret = settings.session_secret.get_secret_value().encode()
        self._origin = settings.public_origin
        folder = str(files("oauth_gateway") / "templates")
        self._templates = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(default=True))

    def cookie(self, request: Request) -> str | None:
        value = request.cookies.get(self.cookie_name)
        return value if value and len(value) <= 100 else None

    def known_browser(self, request: Request) -> str:
        """The marks of the accounts this browser signed in to (`domain.signin.Accounts`); never a username."""
        value = request.cookies.get(self.known_name, "")
        return value if len(value) <= 120 else ""

    def set_known_browser(self, response: Response, value: str) -> None:
        response.set_cookie(self.known_name, value, max_age=self._known_seconds, path="/", secure=self.secure,
                            httponly=True, samesite="lax")

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._secret, b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()

    def check_form(self, request: Request, form: dict[str, str]) -> None:
        """Every state-changing form: same origin (when the browser says) and a token tied to the cookie."""
        origin = request.headers.get("origin")
        if origin is not None and origin != self._origin:
            raise forbidden_form()
        cookie, sent = self.cookie(request), form.get("csrf_token", "")
        # bytes, not str: compare_digest raises TypeError (a 500) on a non-ASCII str
        if not cookie or not hmac.compare_digest(self.csrf_token(cookie).encode(), sent.encode()):
            raise forbidden_form()

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(self.cookie_name, value, path="/", secure=self.secure,
                            httponly=True, samesite="lax")

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="lax")

    def page(self, request: Request, template: str, status: int = 200, **context: object) -> HTMLResponse:
        """Render a page; a visitor without a cookie gets an anonymous one so forms can carry a CSRF token."""
        cookie = self.cookie(request)
        fresh = None if cookie else secrets.token_urlsafe(32)
        html = self._templates.get_template(template).render(csrf_token=self.csrf_token(cookie or fresh or ""),
                                                             **context)
        response = HTMLResponse(html, status_code=status, headers=_HEADERS)
        if fresh:
            self.set_cookie(response, fresh)
        return response

    def problem(self, request: Request, problem: Problem, **context: object) -> HTMLResponse:
        return self.page(request, "problem.html", problem.status, problem=problem, **context)

    def refused(self, request: Request, refusal: Refusal) -> HTMLResponse:
        return self.problem(request, problem_of(refusal))

    def redirect(self, url: str) -> Response:
        return Response(status_code=303, headers={"Location": url, **_HEADERS})


async def read_form(request: Request, allowed: set[str]) -> dict[str, str]:
    """Only the fields a form declares; anything else (say a `store_id`) is refused, not ignored. No file is
    ever accepted and the parser stops at one field too many (multipart is refused before, by BodyLimit)."""
    try:
        form = await request.form(max_files=0, max_fields=len(allowed) + 1)
    except (HTTPException, MultiPartException):  # Starlette's answer to a file or too many fields
        raise unexpected_fields() from None
    keys = set(form.keys())
    if not keys <= allowed | {"csrf_token"} or any(len(form.getlist(k)) > 1 for k in keys):
        raise unexpected_fields()
    return {k: str(form[k]) for k in keys}
