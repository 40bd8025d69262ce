"""The merchant's pages. Each route: read the request, call one use case, render or redirect."""

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from ..domain.model import WebSession
from ..domain.problems import Problem, flow_expired, signed_out
from ..handlers.summary import (
    Summary,
    finish,
    organisation_released,
    read_summary,
    settle,
    store_connected,
)
from ..handlers.gateway import GatewayHandlers
from .web import CSS, Web, read_form


def build_routes(h: GatewayHandlers, web: Web, callback_path: str) -> APIRouter:
    router = APIRouter()

    async def session_of(request: Request) -> WebSession | None:
        return await h.sessions.current(web.cookie(request))

    async def signed_in(request: Request) -> WebSession:
        session = await session_of(request)
        if session is None:
            raise signed_out()
        return session

    @router.get("/static/site.css", include_in_schema=False)
    async def css() -> Response:
        return PlainTextResponse(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @router.get("/")
    async def home(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return web.page(request, "signin.html")
        summary: Summary = await read_summary(h.deps, session)
        return web.page(request, "home.html", session=session, summary=summary,
                        flash=await h.sessions.take_flash(session))

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await read_form(request, {"username", "password"})
        web.check_form(request, form)
        try:
            session_id, _ = await h.sessions.sign_in(form.get("username", ""), form.get("password", ""),
                                                     web.cookie(request))
        except Problem as problem:
            return web.page(request, "signin.html", problem.status, error=problem.message)
        response = web.redirect("/")
        web.set_cookie(response, session_id)        # a new id: the pre-sign-in cookie is replaced
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        form = await read_form(request, set())
        web.check_form(request, form)
        session = await session_of(request)
        if session is not None:
            await h.sessions.sign_out(session)
        response = web.redirect("/")
        web.clear_cookie(response)
        return response

    @router.post("/key")
    async def validate_key(request: Request) -> Response:
        form = await read_form(request, {"api_key"})
        web.check_form(request, form)
        session = await signed_in(request)
        client = request.client.host if request.client else "unknown"
        await h.sessions.validate_key(session, form.get("api_key", ""), client)
        return web.redirect("/")

    @router.post("/stores/{store_id}/connect")
    async def connect(store_id: str, request: Request) -> Response:
        web.check_form(request, await read_form(request, set()))
        return web.redirect(await h.connect.start(await signed_in(request), store_id))

    @router.get(callback_path)
    async def callback(request: Request) -> Response:
        flow_id = await h.connect.callback(await session_of(request), list(request.query_params.multi_items()))
        return web.redirect(f"/connect/{flow_id}")

    @router.get("/connect/{flow_id}")
    async def selection(flow_id: str, request: Request) -> Response:
        session = await signed_in(request)
        page = await h.select.page(session, _uuid(flow_id))
        return web.page(request, "select.html", session=session, flow=page.flow, serving=page.serving)

    @router.post("/connect/{flow_id}")
    async def confirm(flow_id: str, request: Request) -> Response:
        form = await read_form(request, {"tenant_id"})
        web.check_form(request, form)
        session = await signed_in(request)
        store_id, tenant_id = await h.select.confirm(session, _uuid(flow_id), form.get("tenant_id", ""))
        await settle(h.deps, session.merchant_id, store_connected(store_id, tenant_id))
        return web.redirect("/")

    @router.post("/organisations/{tenant_id}/disconnect")
    async def disconnect(tenant_id: str, request: Request) -> Response:
        web.check_form(request, await read_form(request, set()))
        session = await signed_in(request)
        await h.disconnect.disconnect(session, tenant_id)
        await settle(h.deps, session.merchant_id, organisation_released(tenant_id))
        return web.redirect("/")

    @router.post("/finished")
    async def finished(request: Request) -> Response:
        web.check_form(request, await read_form(request, set()))
        session = await signed_in(request)
        message = await finish(h.deps, session)
        return web.page(request, "done.html", session=session, message=message)

    return router


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise flow_expired() from None
