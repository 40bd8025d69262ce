"""The merchant's pages. Each route reads the request, calls one use case, and renders, redirects, or shows
the refusal's page (`problems`). A refused key or organisation is shown on the stores page itself, next to the
field or the store's row, ready to try again. The use cases, the page renderer and the session come in as
dependencies."""

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar
from urllib.parse import quote, urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.types import Scope

from shared.client_address import client_address

from ..domain import refusals
from ..domain.model import WebSession
from ..domain.refusals import Refusal
from ..merchant import MerchantUseCases
from ..merchant.summary import organisation_released, store_connected
from .problems import Problem, not_a_form, problem_of, signed_out, too_large, unexpected
from .web import CSS, Web, read_form

log = logging.getLogger(__name__)
T = TypeVar("T")
THANKS = {True: "Thank you. The Citrus-Lime Helpdesk Team will now arrange to complete the remaining setup steps "
                "to finalise the integration with Cloud POS and your Xero account.",
          False: "Thank you - we already knew you had finished."}
RECORDED = ("Thank you. We have recorded that you have finished; the Citrus-Lime Helpdesk Team will be told "
            "shortly and will then arrange to complete the remaining setup steps.")
router = APIRouter()


def _use_cases(request: Request) -> MerchantUseCases:
    return request.app.state.merchant


def _web(request: Request) -> Web:
    return request.app.state.web


UseCases = Annotated[MerchantUseCases, Depends(_use_cases)]
Pages = Annotated[Web, Depends(_web)]


async def _session(request: Request, cases: UseCases, web: Pages) -> WebSession | None:
    return await cases.sessions.current(web.cookie(request))


async def _signed_in(session: Annotated[WebSession | None, Depends(_session)]) -> WebSession:
    if session is None:
        raise signed_out()
    return session


def _form(*fields: str) -> Callable[[Request], Awaitable[dict[str, str]]]:
    """Every state-changing form: only its declared fields, sent from our page (origin + CSRF token)."""
    async def checked(request: Request) -> dict[str, str]:
        form = await read_form(request, set(fields))
        _web(request).check_form(request, form)
        return form
    return checked


def _flow_id(flow_id: str) -> UUID:
    try:
        return UUID(flow_id)
    except ValueError:
        raise problem_of(refusals.flow_expired()) from None


MaybeSession = Annotated[WebSession | None, Depends(_session)]
Session = Annotated[WebSession, Depends(_signed_in)]
FlowId = Annotated[UUID, Depends(_flow_id)]
NoFields = Annotated[dict[str, str], Depends(_form())]


def _answer(request: Request, web: Web, outcome: T | Refusal, then: Callable[[T], Response]) -> Response:
    return web.refused(request, outcome) if isinstance(outcome, Refusal) else then(outcome)


@router.get("/static/site.css", include_in_schema=False)
async def css() -> Response:
    return PlainTextResponse(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/")
async def home(request: Request, web: Pages, cases: UseCases, session: MaybeSession) -> Response:
    if session is None:
        return web.page(request, "signin.html")
    return await _stores(request, web, cases, session)


async def _stores(request: Request, web: Web, cases: MerchantUseCases, session: WebSession,
                  refusal: Refusal | None = None) -> Response:
    """The stores page; with `refusal`, its status, and the refusal next to the key field or the store's row."""
    problem = problem_of(refusal) if refusal else None
    return web.page(request, "home.html", problem.status if problem else 200, session=session,
                    summary=await cases.summaries.read(session), flash=await cases.sessions.take_flash(session),
                    key_problem=problem if refusal and refusal.store_id is None else None,
                    store_problem=problem if refusal and refusal.store_id else None,
                    refused_store=refusal.store_id if refusal else None)


@router.post("/sign-in")
async def sign_in(request: Request, web: Pages, cases: UseCases,
                  form: Annotated[dict[str, str], Depends(_form("username", "password", "next"))]) -> Response:
    outcome = await cases.sessions.sign_in(form.get("username", ""), form.get("password", ""), web.cookie(request),
                                           _client(request), web.known_browser(request))
    then = _reconnect_target(form.get("next", ""))
    if isinstance(outcome, Refusal):
        problem = problem_of(outcome)
        page = web.page(request, "signin.html", problem.status, error=problem.message, next=then)
        if outcome.retry_after:
            page.headers["Retry-After"] = str(outcome.retry_after)
        return page
    response = web.redirect(then or "/")
    web.set_cookie(response, outcome.session_id)        # a new id: the pre-sign-in cookie is replaced
    web.set_known_browser(response, outcome.known_browser)
    return response


def _client(request: Request) -> str:
    """The merchant's address: X-Forwarded-For only from our own proxies (`shared.client_address`)."""
    return str(client_address(request) or "unknown")


@router.get("/reconnect/{store_id}")
async def reconnect(store_id: str, request: Request, web: Pages, cases: UseCases, session: MaybeSession,
                    link: str = "") -> Response:
    """The emailed link: sign in first if need be, then this store's reconnect page."""
    if session is None:
        return web.page(request, "signin.html", next=f"/reconnect/{quote(store_id, safe='')}?link={quote(link)}")
    outcome = await cases.reconnect.page(session, store_id, link)
    return _answer(request, web, outcome, lambda store: web.page(request, "reconnect.html", store=store))


def _reconnect_target(next_url: str) -> str | None:
    """Only back to a reconnect page of this site: never an open redirect."""
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/reconnect/") or "//" in parts.path:
        return None
    return next_url


@router.post("/sign-out")
async def sign_out(web: Pages, cases: UseCases, _: NoFields, session: MaybeSession) -> Response:
    if session is not None:
        await cases.sessions.sign_out(session)
    response = web.redirect("/")
    web.clear_cookie(response)
    return response


@router.post("/key")
async def validate_key(request: Request, web: Pages, cases: UseCases,
                       form: Annotated[dict[str, str], Depends(_form("api_key"))], session: Session) -> Response:
    outcome = await cases.sessions.validate_key(session, form.get("api_key", ""), _client(request))
    if isinstance(outcome, Refusal):
        return await _stores(request, web, cases, session, outcome)
    return web.redirect("/")


@router.post("/stores/{store_id}/connect")
async def connect(store_id: str, request: Request, web: Pages, cases: UseCases, _: NoFields,
                  session: Session) -> Response:
    return _answer(request, web, await cases.connect.start(session, store_id), web.redirect)


async def callback(request: Request, web: Pages, cases: UseCases, session: MaybeSession) -> Response:
    """Xero's redirect back (registered at the redirect URI's path by `install`)."""
    outcome = await cases.connect.callback(session, list(request.query_params.multi_items()))
    return _answer(request, web, outcome, lambda flow_id: web.redirect(f"/connect/{flow_id}"))


@router.get("/connect/{flow_id}")
async def selection(request: Request, web: Pages, cases: UseCases, session: Session, flow_id: FlowId) -> Response:
    return _answer(request, web, await cases.select.page(session, flow_id), lambda page: web.page(
        request, "select.html", session=session, flow=page.flow, serving=page.serving,
        organisations=page.organisations, previous=str(page.previous_tenant_id or "")))


@router.post("/connect/{flow_id}")
async def confirm(request: Request, web: Pages, cases: UseCases,
                  form: Annotated[dict[str, str], Depends(_form("tenant_id"))], session: Session,
                  flow_id: FlowId) -> Response:
    outcome = await cases.select.confirm(session, flow_id, form.get("tenant_id", ""))
    if isinstance(outcome, Refusal) and outcome.store_id is not None:    # e.g. a Trial or Starter organisation
        return await _stores(request, web, cases, session, outcome)
    if not isinstance(outcome, Refusal):
        await cases.summaries.settle(session.merchant_id, store_connected(outcome.store_id, outcome.tenant_id))
    return _answer(request, web, outcome, lambda _: web.redirect("/"))


@router.get("/organisations/{tenant_id}/disconnect")
async def disconnecting(tenant_id: str, request: Request, web: Pages, cases: UseCases, session: Session) -> Response:
    """The confirmation step: which stores "Disconnect from Xero" disconnects. Only its form's POST does it."""
    return _answer(request, web, await cases.disconnect.preview(session, tenant_id), lambda found: web.page(
        request, "disconnect.html", session=session, organisation=found))


@router.post("/organisations/{tenant_id}/disconnect")
async def disconnect(tenant_id: str, request: Request, web: Pages, cases: UseCases, _: NoFields,
                     session: Session) -> Response:
    outcome = await cases.disconnect.disconnect(session, tenant_id)
    if not isinstance(outcome, Refusal):
        await cases.summaries.settle(session.merchant_id, organisation_released(tenant_id))
    return _answer(request, web, outcome, lambda _: web.redirect("/"))


@router.post("/finished")
async def finished(request: Request, web: Pages, cases: UseCases, _: NoFields, session: Session) -> Response:
    return _answer(request, web, await cases.summaries.finish(session), lambda done: web.page(
        request, "done.html", session=session, message=RECORDED if done.recorded else THANKS[done.first_time]))


def body_refused(scope: Scope, status: int) -> Response:
    """`shared.http_limits.BodyLimit`'s page: a body too large (413) or multipart (415), refused before any
    route, session lookup or CSRF check."""
    request = Request(scope)
    return _web(request).problem(request, too_large() if status == 413 else not_a_form())


def install(app: FastAPI, *, callback_path: str) -> None:
    """The pages, Xero's redirect back, and the page for anything that goes wrong."""
    app.include_router(router)
    app.add_api_route(callback_path, callback, methods=["GET"])

    @app.exception_handler(Problem)
    async def problem_page(request: Request, problem: Problem) -> Response:
        return _web(request).problem(request, problem)

    @app.exception_handler(Exception)
    async def unexpected_page(request: Request, error: Exception) -> Response:
        log.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path,
                  exc_info=error)      # the path only: a callback's query string carries the code
        return _web(request).problem(request, unexpected())
