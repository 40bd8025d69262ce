"""The helpdesk console's pages (HTML, outside the OpenAPI document): staff sign-in through the company's
identity provider, the queues, search, a merchant's page, the actions, and the leads' sessions page.

Routes stay a few lines: who is signed in comes from `Staff` (no session: to the sign-in page), a POST's form
from `Form` (checked against the session's CSRF token), what staff may do from `Console` (role checks and the
audit), and every outcome's words from `NOTICES`, in one place.
"""

import hmac
import re
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.types import Scope

from ..console import Console, Redriven
from ..domain import Done, Refusal, reason_in_words
from ..domain.staff import Permission, StaffSession
from ..ports import Clock, SignInFailed
from ..staff_access import SIGN_IN_REFUSALS, SignedIn, StaffAccess

SESSION_COOKIE, SIGN_IN_COOKIE = "registry_staff", "registry_sign_in"
MerchantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
PageNumber = Annotated[int, Query(ge=1, le=10_000)]
MAX_FORM_BYTES = 4096
_BACK = re.compile(r"^/helpdesk/[A-Za-z0-9/_.%=&?+:@-]*$")
NOTICES = {
    "finalised": "Marked as finalised: SetupFinalised was published for the platform backend.",
    "already_finalised": "This merchant had already been finalised; nothing was published again.",
    "resent": "The setup-completed notification was published again (new event id).",
    "reminded": "A reminder to finish the setup is on its way to the merchant's contact email.",
    "redriven": "The notification is due again; the notifier sends it within seconds.",
    "not_parked": "That notification was not parked (delivered or already due): nothing was resent.",
    "session_ended": "The session was ended: its next page asks for sign-in.",
    "bad_form": "The form had expired or was not ours; please try again.",
    "forbidden": "Your role does not allow that; ask a helpdesk lead.",
    "unknown_merchant": "That merchant is not known to the registry.",
    "not_completed": "That merchant has not completed the setup yet.",
    "already_completed": "The merchant already said they had finished: no reminder was sent.",
    "nothing_connected": "No store of that merchant is connected yet: no reminder was sent.",
    "reminded_recently": "A reminder went to this merchant less than a day ago (see the merchant's timeline): "
                         "no other was sent.",
    "notifier_unavailable": "The notifier is not answering; nothing was re-driven. Try again in a minute.",
    "already_ended": "That session had already ended.",
    "erased": "The merchant was erased: the registry's rows are gone and every service is erasing its own.",
    "already_erased": "That merchant had already been erased; nothing was published again.",
    "not_confirmed": "The merchant id typed did not match: nothing was erased.",
    "no_reference": "Give the ticket the erasure was asked in (letters, digits, . _ : # / -): nothing was erased.",
    "erasure_unavailable": "Erasure is not available on this console.",
}
_templates = Environment(loader=PackageLoader("connection_registry", "templates"),
                         autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
_templates.globals.update(reason_in_words=reason_in_words, Permission=Permission)

router = APIRouter(prefix="/helpdesk", include_in_schema=False)


class SignInNeeded(Exception):
    """No open session: every page but sign-in sends the browser to the sign-in page."""


class BadForm(Exception):
    """A POST without this session's CSRF token (or not a small urlencoded form): nothing is done."""


def install_helpdesk(app: FastAPI, console: Console, access: StaffAccess, *, clock: Clock, secure_cookie: bool,
                     provider_origin: str) -> None:
    """`provider_origin`: the identity provider's scheme://host[:port]; sign-out's form ends up there."""
    app.state.console, app.state.staff_access = console, access
    app.state.console_clock, app.state.console_secure_cookie = clock, secure_cookie
    app.state.console_headers = headers(provider_origin)
    app.add_exception_handler(SignInNeeded, lambda request, error: _redirect(request, "/helpdesk/login"))
    app.add_exception_handler(BadForm, lambda request, error: _redirect(request, "/helpdesk/?notice=bad_form"))
    app.include_router(router)


def body_refused(scope: Scope, status: int) -> Response:
    """`shared.http_limits.BodyLimit`'s answer on the console: a form too large (413) or multipart (415)."""
    console_headers = scope["app"].state.console_headers
    return HTMLResponse("<!doctype html><title>Form not accepted</title><p>This form could not be accepted. "
                        '<a href="/helpdesk/">Back to the console</a></p>', status_code=status,
                        headers=console_headers)


def headers(provider_origin: str) -> dict[str, str]:
    return {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "
                                       f"{provider_origin}; frame-ancestors 'none'; base-uri 'none'"}


def _console(request: Request) -> Console:
    return request.app.state.console


def _access(request: Request) -> StaffAccess:
    return request.app.state.staff_access


Access = Annotated[StaffAccess, Depends(_access)]
Desk = Annotated[Console, Depends(_console)]


async def _maybe_staff(request: Request, access: Access) -> StaffSession | None:
    return await access.session(request.cookies.get(SESSION_COOKIE))


async def _staff(session: Annotated[StaffSession | None, Depends(_maybe_staff)]) -> StaffSession:
    if session is None:
        raise SignInNeeded
    return session


Staff = Annotated[StaffSession, Depends(_staff)]


async def _checked_form(request: Request, staff: Staff) -> dict[str, str]:
    form = await _read_form(request)
    given = form.get("csrf", "")
    if not given or not hmac.compare_digest(given.encode(), staff.csrf.encode()):  # bytes: no 500 on non-ASCII
        raise BadForm
    return form


Form = Annotated[dict[str, str], Depends(_checked_form)]


# -- sign-in and sign-out -------------------------------------------------------------------------------------
@router.get("/login")
async def login_page(request: Request, session: Annotated[StaffSession | None, Depends(_maybe_staff)],
                     error: str | None = None) -> Response:
    if session is not None:
        return _redirect(request, "/helpdesk/")
    return _page(request, "login.html", error=_sign_in_words(error))


@router.get("/sign-in")
async def sign_in(request: Request, access: Access) -> Response:
    try:
        start = await access.begin()
    except SignInFailed as failed:
        return _page(request, "login.html", status=503, error=SIGN_IN_REFUSALS[failed.reason])
    response = _redirect(request, start.url)
    _set_cookie(request, response, SIGN_IN_COOKIE, start.state, max_age=600)
    return response


@router.get("/callback")
async def callback(request: Request, access: Access, state: Annotated[str, Query(max_length=200)] = "",
                   code: Annotated[str | None, Query(max_length=2000)] = None,
                   error: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    outcome = await access.finish(request.cookies.get(SIGN_IN_COOKIE), state, code, error)
    if isinstance(outcome, Refusal):
        response = _page(request, "login.html", status=403 if outcome.code == "no_role" else 400,
                         error=outcome.message)
    else:
        response = _redirect(request, "/helpdesk/")
        _set_session_cookie(request, response, outcome)
    response.delete_cookie(SIGN_IN_COOKIE, path="/helpdesk")
    return response


@router.post("/logout")
async def logout(request: Request, staff: Staff, access: Access, form: Form) -> Response:
    response = _redirect(request, await access.sign_out(staff) or "/helpdesk/signed-out")
    response.delete_cookie(SESSION_COOKIE, path="/helpdesk")
    return response


@router.get("/signed-out")
async def signed_out(request: Request) -> Response:
    return _page(request, "signed_out.html")


# -- queues, search, merchant -----------------------------------------------------------------------------------
@router.get("/")
async def awaiting(request: Request, staff: Staff, desk: Desk, page: PageNumber = 1,
                   notice: str | None = None) -> Response:
    return _page(request, "awaiting.html", staff=staff, page=await desk.awaiting(page), notice=_notice(notice))


@router.get("/attention")
async def attention(request: Request, staff: Staff, desk: Desk, page: PageNumber = 1,
                    notice: str | None = None) -> Response:
    listed, sent = await desk.attention(page)
    return _page(request, "attention.html", staff=staff, page=listed, sent=sent, notice=_notice(notice))


@router.get("/unfinished")
async def unfinished(request: Request, staff: Staff, desk: Desk, page: PageNumber = 1,
                     notice: str | None = None) -> Response:
    listed, before = await desk.unfinished(page)
    return _page(request, "unfinished.html", staff=staff, page=listed, before=before, notice=_notice(notice))


@router.get("/parked")
async def parked(request: Request, staff: Staff, desk: Desk, page: PageNumber = 1,
                 notice: str | None = None) -> Response:
    listed, names, waiting = await desk.parked(page)
    return _page(request, "parked.html", staff=staff, page=listed, names=names, waiting=waiting,
                 notice=_notice(notice))


@router.get("/search")
async def search(request: Request, staff: Staff, desk: Desk, q: Annotated[str, Query(max_length=200)] = "",
                 page: PageNumber = 1) -> Response:
    return _page(request, "search.html", staff=staff, q=q.strip(), page=await desk.search(q, page))


@router.get("/merchants/{merchant_id}")
async def merchant(request: Request, merchant_id: MerchantId, staff: Staff, desk: Desk, access: Access,
                   notice: str | None = None) -> Response:
    found = await desk.merchant(merchant_id)
    if found is None:
        return _page(request, "message.html", status=404, staff=staff,
                     message="That merchant is not known to the registry.")
    return _page(request, "merchant.html", staff=staff, view=found, notice=_notice(notice),
                 audit=await access.recent_audit(20, merchant_id))


@router.get("/sessions")
async def sessions(request: Request, staff: Staff, access: Access, notice: str | None = None) -> Response:
    if not staff.member.may(Permission.END_SESSIONS):
        return _page(request, "message.html", status=403, staff=staff, message="Only helpdesk leads see sessions.")
    return _page(request, "sessions.html", staff=staff, sessions=await access.open_sessions(),
                 audit=await access.recent_audit(50), notice=_notice(notice))


# -- actions --------------------------------------------------------------------------------------------------
@router.post("/merchants/{merchant_id}/{action}")
async def act(request: Request, merchant_id: MerchantId, action: Literal["finalise", "resend", "remind"],
              staff: Staff, desk: Desk, form: Form) -> Response:
    outcome = await getattr(desk, action)(staff, merchant_id)
    done = {"finalise": "finalised", "resend": "resent", "remind": "reminded"}[action]
    return _back(request, form, _outcome_code(outcome, done))


@router.get("/erasures/{merchant_id}")
async def erase_page(request: Request, merchant_id: MerchantId, staff: Staff, desk: Desk,
                     notice: str | None = None) -> Response:
    """The confirmation step (leads only): the lead types the merchant id and the ticket."""
    if not staff.member.may(Permission.ERASE):
        return _page(request, "message.html", status=403, staff=staff, message="Only helpdesk leads erase merchants.")
    found = await desk.merchant(merchant_id)
    return _page(request, "erase.html", staff=staff, merchant_id=merchant_id,
                 name=found.graph.merchant.name if found else None, notice=_notice(notice))


@router.post("/erasures/{merchant_id}")
async def erase(request: Request, merchant_id: MerchantId, staff: Staff, desk: Desk, form: Form) -> Response:
    outcome = await desk.erase(staff, merchant_id, form.get("confirm", ""), form.get("reference", ""))
    if isinstance(outcome, Refusal):
        return _back(request, {"back": f"/helpdesk/erasures/{merchant_id}"}, outcome.code)
    return _back(request, {}, "already_erased" if outcome.already_erased else "erased")


@router.post("/notifications/{delivery_id}/redrive")
async def redrive(request: Request, delivery_id: UUID, staff: Staff, desk: Desk, form: Form) -> Response:
    return _back(request, form, _outcome_code(await desk.redrive(staff, delivery_id), "redriven"))


@router.post("/sessions/{session_id}/end")
async def end_session(request: Request, session_id: UUID, staff: Staff, access: Access, form: Form) -> Response:
    refused = await access.end(staff, session_id)
    return _back(request, form, refused.code if refused else "session_ended")


# -- one place for outcomes, cookies and pages -----------------------------------------------------------------
def _outcome_code(outcome: Done | Refusal | Redriven, done: str) -> str:
    if isinstance(outcome, Refusal):
        return outcome.code
    if isinstance(outcome, Redriven):
        return "redriven" if outcome.redriven else "not_parked"
    return done if outcome.change is not None else f"already_{done}"


def _back(request: Request, form: dict[str, str], code: str) -> Response:
    """Back to the page the form was on (a console path only), with the outcome's code for `NOTICES`."""
    back = form.get("back", "/helpdesk/")
    path = back.split("?", 1)[0] if _BACK.match(back) and "//" not in back else "/helpdesk/"
    return _redirect(request, f"{path}?{urlencode({'notice': code})}")


def _notice(code: str | None) -> str | None:
    """Only our own words: a link cannot put text of its choosing on a staff page."""
    return NOTICES.get(code or "")


def _sign_in_words(code: str | None) -> str | None:
    return SIGN_IN_REFUSALS.get(code or "")


def _set_session_cookie(request: Request, response: Response, signed_in: SignedIn) -> None:
    lifetime = int((signed_in.session.expires_at - signed_in.session.started_at).total_seconds())
    _set_cookie(request, response, SESSION_COOKIE, signed_in.token, max_age=lifetime)


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    """Lax, not Strict: the provider's redirect back is a cross-site navigation. POSTs need the CSRF token."""
    response.set_cookie(name, value, max_age=max_age, path="/helpdesk", httponly=True, samesite="lax",
                        secure=request.app.state.console_secure_cookie)


async def _read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (no multipart, no files); anything else reads as empty."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        fields = parse_qs(body.decode(errors="replace"), max_num_fields=10)
    except ValueError:
        return {}
    return {k: v[0] for k, v in fields.items()}


def _page(request: Request, template: str, status: int = 200, **context: object) -> HTMLResponse:
    now: datetime = request.app.state.console_clock()
    html = _templates.get_template(template).render(now=now, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=request.app.state.console_headers)


def _redirect(request: Request, url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=request.app.state.console_headers)
