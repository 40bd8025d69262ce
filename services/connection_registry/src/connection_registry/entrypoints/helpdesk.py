"""The helpdesk pages: merchants awaiting finalisation with their store → organisation map, connections
needing attention (stores to reconnect, finalised or not), one merchant's history, "mark finalised"
(publishes SetupFinalised) and "resend notification" (re-publishes SetupCompleted under a new id; rule in
`connection_registry.domain.completion`). HTML, outside the OpenAPI document."""

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ..domain import Done, Refusal, reason_in_words
from ..handlers import RegistryHandlers
from .helpdesk_session import COOKIE, HelpdeskSession, HelpdeskSessions

log = logging.getLogger(__name__)
MerchantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
MAX_FORM_BYTES = 4096
PAGE_SIZE = 50
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                      "frame-ancestors 'none'; base-uri 'none'"}
NOTICES = {
    "finalised": "Marked as finalised: SetupFinalised was published for the platform backend.",
    "already_finalised": "This merchant had already been finalised; nothing was published again.",
    "resent": "The setup-completed notification was published again (new event id).",
    "unknown_merchant": "That merchant is not known to the registry.",
    "not_completed": "That merchant has not completed the setup yet.",
    "bad_form": "The form had expired or was not ours; please try again.",
}
_templates = Environment(loader=PackageLoader("connection_registry", "templates"),
                         autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
_templates.globals["reason_in_words"] = reason_in_words


router = APIRouter(prefix="/helpdesk", include_in_schema=False)


def _handlers(request: Request) -> RegistryHandlers:
    return request.app.state.handlers


def _sessions(request: Request) -> HelpdeskSessions:
    return request.app.state.helpdesk_sessions


Handlers = Annotated[RegistryHandlers, Depends(_handlers)]
Sessions = Annotated[HelpdeskSessions, Depends(_sessions)]


def _session(request: Request, sessions: Sessions) -> HelpdeskSession | None:
    return sessions.session(request.cookies.get(COOKIE))

MaybeSession = Annotated[HelpdeskSession | None, Depends(_session)]


def install_helpdesk(app: FastAPI, sessions: HelpdeskSessions, *, secure_cookie: bool) -> None:
    """The pages read the registry's use cases from `app.state.handlers` and the staff sessions from here."""
    app.state.helpdesk_sessions, app.state.helpdesk_secure_cookie = sessions, secure_cookie
    app.include_router(router)


@router.get("/login")
async def login_page() -> Response:
    return _page("login.html", error=None)


@router.post("/login")
async def login(request: Request, sessions: Sessions) -> Response:
    form = await _form(request)
    cookie = sessions.sign_in(form.get("helpdesk_id", "").strip(), form.get("token", ""))
    if cookie is None:
        return _page("login.html", status=401, error="Wrong helpdesk ID or token.")
    response = RedirectResponse("/helpdesk/", status_code=303, headers=HEADERS)
    response.set_cookie(COOKIE, cookie, max_age=sessions.max_age, path="/helpdesk", httponly=True,
                        secure=request.app.state.helpdesk_secure_cookie, samesite="strict")
    return response


@router.get("/")
async def awaiting(handlers: Handlers, session: MaybeSession, notice: str | None = None,
                   page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    """A page of `PAGE_SIZE` merchants (each with its map): thousands waiting must not make one huge page."""
    if session is None:
        return _to_login()
    merchants = await handlers.awaiting_finalisation(PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return _page("awaiting.html", session=session, merchants=merchants, notice=NOTICES.get(notice or ""),
                 parked=await handlers.parked_count(), attention=await handlers.attention_count(),
                 total=await handlers.awaiting_count(), page=page, page_size=PAGE_SIZE)


@router.get("/attention")
async def attention(handlers: Handlers, session: MaybeSession) -> Response:
    if session is None:
        return _to_login()
    return _page("attention.html", session=session, merchants=await handlers.needing_attention())


@router.get("/merchants/{merchant_id}")
async def merchant(merchant_id: MerchantId, handlers: Handlers, session: MaybeSession) -> Response:
    if session is None:
        return _to_login()
    graph = await handlers.graph(merchant_id)
    if graph.merchant is None:
        return _page("message.html", status=404, session=session, message=NOTICES["unknown_merchant"])
    return _page("merchant.html", session=session, graph=graph,
                 timeline=await handlers.timeline(merchant_id, 0, 1000))


@router.post("/merchants/{merchant_id}/finalise")
async def finalise(request: Request, merchant_id: MerchantId, handlers: Handlers, sessions: Sessions,
                   session: MaybeSession) -> Response:
    return await _act(request, sessions, session, lambda s: handlers.finalise(merchant_id, s.helpdesk_id),
                      "finalised")


@router.post("/merchants/{merchant_id}/resend")
async def resend(request: Request, merchant_id: MerchantId, handlers: Handlers, sessions: Sessions,
                 session: MaybeSession) -> Response:
    return await _act(request, sessions, session, lambda s: handlers.resend(merchant_id), "resent")


@router.post("/logout")
async def logout(request: Request, sessions: Sessions, session: MaybeSession) -> Response:
    if session and not sessions.csrf_ok(session, (await _form(request)).get("csrf")):
        return _to_list("bad_form")
    response = _to_login()
    response.delete_cookie(COOKIE, path="/helpdesk")
    return response


async def _act(request: Request, sessions: HelpdeskSessions, session: HelpdeskSession | None,
               action: Callable[[HelpdeskSession], Awaitable[Done | Refusal]], done: str) -> Response:
    if session is None:
        return _to_login()
    if not sessions.csrf_ok(session, (await _form(request)).get("csrf")):
        return _to_list("bad_form")
    outcome = await action(session)
    if isinstance(outcome, Refusal):
        return _to_list(outcome.code)
    log.info("helpdesk %s: %s merchant %s (event %s)", session.helpdesk_id, done, outcome.merchant_id,
             outcome.event_id)
    return _to_list(done if outcome.change is not None else f"already_{done}")


async def _form(request: Request) -> dict[str, str]:
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


def _page(template: str, status: int = 200, **context: object) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(**context), status_code=status, headers=HEADERS)


def _to_login() -> Response:
    return RedirectResponse("/helpdesk/login", status_code=303, headers=HEADERS)


def _to_list(notice: str) -> Response:
    return RedirectResponse(f"/helpdesk/?notice={notice}" if notice else "/helpdesk/", status_code=303,
                            headers=HEADERS)
