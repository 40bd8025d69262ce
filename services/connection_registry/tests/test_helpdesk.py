"""The helpdesk pages over fakes: sign-in, the awaiting list with its map, CSRF, finalise and resend."""

import re

import httpx
import pytest

from connection_registry.handlers import RegistryHandlers
from connection_registry.main import build_http
from shared.contracts import SetupCompleted, SetupFinalised

from .fakes import HELPDESK_TOKEN, SETTINGS, FakeReads, FakeUnitOfWork, StepClock
from .journey import Journey


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def handlers(uow) -> RegistryHandlers:
    return RegistryHandlers(uow, FakeReads(uow), clock=StepClock())


@pytest.fixture
async def browser(handlers):
    app = build_http(handlers, SETTINGS, clock=StepClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
        yield client


async def completed(handlers: RegistryHandlers) -> None:
    for event in Journey().connected():
        await handlers.handle(event)
    await handlers.complete("m-1", "u-1", None)


async def sign_in(browser: httpx.AsyncClient, token: str = HELPDESK_TOKEN) -> httpx.Response:
    return await browser.post("/helpdesk/login", data={"helpdesk_id": "hd-ann", "token": token})


def csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]


async def test_pages_need_a_signed_in_helpdesk_user(browser):
    assert (await browser.get("/helpdesk/")).headers["location"] == "/helpdesk/login"
    refused = await sign_in(browser, token="not-the-helpdesk-token")
    assert refused.status_code == 401 and "Wrong helpdesk ID or token." in refused.text
    assert (await browser.get("/helpdesk/")).status_code == 303


async def test_the_list_shows_merchants_awaiting_finalisation_with_their_map(browser, handlers):
    await completed(handlers)
    signed_in = await sign_in(browser)
    assert signed_in.status_code == 303
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert "samesite=strict" in signed_in.headers["set-cookie"].lower()

    page = await browser.get("/helpdesk/")

    assert page.status_code == 200 and "Signed in as hd-ann" in page.text
    assert "Steve&#39;s Cycles" in page.text and "m-1" in page.text
    assert page.text.count("Steve&#39;s Cycles Ltd") == 2 and "Steve&#39;s Rentals Ltd" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_mark_finalised_publishes_setup_finalised_as_the_signed_in_user(browser, handlers, uow):
    await completed(handlers)
    await sign_in(browser)
    token = csrf(await browser.get("/helpdesk/"))

    done = await browser.post("/helpdesk/merchants/m-1/finalise", data={"csrf": token})
    again = await browser.post("/helpdesk/merchants/m-1/finalise", data={"csrf": token})

    assert done.headers["location"] == "/helpdesk/?notice=finalised"
    assert again.headers["location"] == "/helpdesk/?notice=already_finalised"
    (event,) = uow.committed.published(SetupFinalised)
    assert event.data.finalised_by == "hd-ann"
    assert "No merchant is waiting for finalisation." in (await browser.get("/helpdesk/")).text


async def test_resend_publishes_the_completion_again_under_a_new_id(browser, handlers, uow):
    await completed(handlers)
    await sign_in(browser)

    resent = await browser.post("/helpdesk/merchants/m-1/resend", data={"csrf": csrf(await browser.get("/helpdesk/"))})

    assert resent.headers["location"] == "/helpdesk/?notice=resent"
    first, second = uow.committed.published(SetupCompleted)
    assert second.id != first.id and second.causation_id == first.id


async def test_a_post_without_the_csrf_token_does_nothing(browser, handlers, uow):
    await completed(handlers)
    await sign_in(browser)

    forged = await browser.post("/helpdesk/merchants/m-1/finalise", data={"csrf": "0" * 64})
    missing = await browser.post("/helpdesk/merchants/m-1/resend")

    assert forged.headers["location"] == missing.headers["location"] == "/helpdesk/?notice=bad_form"
    assert len(uow.committed.outbox) == 1  # the completion only


async def test_a_merchant_page_shows_the_timeline_and_sign_out_ends_the_session(browser, handlers):
    await completed(handlers)
    await sign_in(browser)

    page = await browser.get("/helpdesk/merchants/m-1")
    unknown = await browser.get("/helpdesk/merchants/m-404")
    out = await browser.post("/helpdesk/logout", data={"csrf": csrf(page)})

    assert "Setup completed: 3 store(s) connected to 2 organisation(s)" in page.text
    assert unknown.status_code == 404
    assert out.headers["location"] == "/helpdesk/login"
    assert (await browser.get("/helpdesk/")).status_code == 303
