"""The helpdesk console, clicked through in Debian's Chromium on the `make run` stack: staff sign-in through the
staff identity sandbox, each queue, search, a merchant's page, the actions, a lead's powers, and sign-out (the
old cookie is refused after). Each step leaves a screenshot in artifacts/e2e/console-*.png.

The merchants are this module's own (helpdesk_world.py), so it runs alone or after the journey. Each person has
a browser context of their own (their cookies: the console's session and the provider's); Alice's steps share
one page and run in file order, like an agent working through a shift.
"""

import json
import re
import urllib.request
from collections.abc import Callable

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from sandboxes.staff_idp import demo_data as staff
from shared.contracts import topics
from tests.support.kafka import eventually, read_topic

from .conftest import ARTIFACTS, CHROMIUM_ARGS
from .helpdesk_world import World, build_world

pytestmark = pytest.mark.e2e
QUEUES = {"Awaiting finalisation": ("/helpdesk/", "Merchants awaiting finalisation"),
          "Needs attention": ("/helpdesk/attention", "Connections needing attention"),
          "Started, not finished": ("/helpdesk/unfinished", "Started, not finished"),
          "Parked notifications": ("/helpdesk/parked", "Parked notifications")}
SIGN_IN = "Sign in with your staff account"


@pytest.fixture(scope="module")
async def world(stack) -> World:
    return await build_world(stack)


@pytest.fixture(scope="module")
async def chromium(stack) -> Browser:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                   args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _person(chromium: Browser) -> tuple[BrowserContext, Page]:
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return context, page


@pytest.fixture(scope="module")
async def alice(chromium) -> Page:
    context, page = await _person(chromium)
    yield page
    await context.close()


@pytest.fixture(scope="module")
async def lena(chromium) -> Page:
    context, page = await _person(chromium)
    yield page
    await context.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"console-{name}.png", full_page=True)


def console(stack, path: str = "/helpdesk/") -> str:
    return stack.url(stack.ports.registry, path)


async def sign_in(page: Page, stack, email: str, name: str) -> None:
    """The console's sign-in page, the provider's form, and back (a fresh context: the provider asks)."""
    await page.goto(console(stack, "/helpdesk/login"))
    await page.get_by_role("link", name=SIGN_IN).click()
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(staff.DEMO_PASSWORD)
    await shot(page, f"provider-sign-in-{name}")
    await page.get_by_role("button", name="Sign in").click()


def nav_link(page: Page, label: str) -> Locator:
    return page.get_by_role("navigation", name="Helpdesk queues").get_by_role("link", name=label, exact=True)


def row_of(page: Page, text: str) -> Locator:
    return page.locator("tbody tr").filter(has_text=text)


async def shown_after_reload(page: Page, locator: Locator, what: str, timeout: float = 30) -> None:
    """Events reach the registry through Kafka: reload until the page shows them."""
    async def there() -> bool:
        if await locator.count():
            return True
        await page.reload()
        return await locator.count() > 0

    await eventually(there, timeout=timeout, what=what)


async def in_order(rows: Locator, *texts: str) -> None:
    """Each text is on a row of `rows`, and those rows come in this order (other rows may come between)."""
    every = await rows.all_inner_texts()
    found = [next((i for i, row in enumerate(every) if text in row), None) for text in texts]
    assert None not in found, (texts, every)
    assert found == sorted(found), (texts, every)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


async def until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    async def done() -> bool:
        return check()
    await eventually(done, timeout=timeout, what=what)


# -- sign-in ----------------------------------------------------------------------------------------------------
async def test_a_colleague_without_a_helpdesk_role_is_refused(chromium, stack):
    context, page = await _person(chromium)
    try:
        await sign_in(page, stack, staff.SAM_EMAIL, "sam")
        await expect(page.get_by_role("alert")).to_contain_text("no helpdesk role")
        await expect(page.get_by_role("navigation", name="Helpdesk queues")).to_have_count(0)
        await shot(page, "01-sam-refused")
        await page.goto(console(stack))
        await expect(page.get_by_role("link", name=SIGN_IN)).to_be_visible()
    finally:
        await context.close()


async def test_an_agent_signs_in_and_sees_her_name_and_role(alice, stack, world):
    await sign_in(alice, stack, staff.ALICE_EMAIL, "alice")
    await expect(alice.get_by_text(f"Signed in as Alice Agent ({staff.ALICE_EMAIL}, helpdesk agent)")).to_be_visible()
    await expect(alice.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(nav_link(alice, "Staff sessions")).to_have_count(0)    # a lead's page
    await shot(alice, "02-alice-signed-in")


# -- queues -----------------------------------------------------------------------------------------------------
async def test_each_queue_opens_from_the_nav_with_its_heading(alice, stack):
    for label, (path, heading) in QUEUES.items():
        await nav_link(alice, label).click()
        await expect(alice.get_by_role("heading", level=2, name=re.compile(f"^{re.escape(heading)}"))).to_be_visible()
        assert alice.url == console(stack, path)
        await expect(nav_link(alice, label)).to_have_attribute("aria-current", "page")
        await shot(alice, f"03-queue-{path.rsplit('/', 1)[-1] or 'awaiting'}")


async def test_awaiting_finalisation_lists_the_longest_waiting_first(alice, world):
    await nav_link(alice, "Awaiting finalisation").click()
    sections = alice.locator("section.merchant")
    await shown_after_reload(alice, sections.filter(has_text=world.elm.name), "Elm awaiting finalisation")
    await in_order(sections, world.alder.name, world.birch.name, world.elm.name)
    alder = sections.filter(has_text=world.alder.name)
    await expect(alder).to_contain_text(re.compile(r"waiting \d+ (min|h)"))
    for store in world.alder.stores.values():
        await expect(alder).to_contain_text(store)
    await expect(alder.get_by_role("button", name=f"Mark finalised: {world.alder.name}", exact=True)).to_be_visible()
    await shot(alice, "04-awaiting-oldest-first")


async def test_started_not_finished_lists_the_earliest_connection_first(alice, world):
    await nav_link(alice, "Started, not finished").click()
    rows = alice.locator("tbody tr")
    await shown_after_reload(alice, rows.filter(has_text=world.cedar.name), "Cedar in the unfinished queue")
    await in_order(rows, world.dogwood.name, world.cedar.name)
    cedar = row_of(alice, world.cedar.name)
    await expect(cedar).to_contain_text("1 of 2")
    await expect(cedar).to_contain_text(re.compile(r"\d+ min ago"))
    for finished in (world.alder, world.birch, world.elm):
        await expect(row_of(alice, finished.name)).to_have_count(0)
    await shot(alice, "05-unfinished-oldest-first")


async def test_send_reminder_emails_the_merchant(alice, stack, world):
    cedar = row_of(alice, world.cedar.name)
    await cedar.get_by_role("button", name=f"Send reminder: {world.cedar.name}", exact=True).click()
    await expect(alice.get_by_role("status")).to_contain_text("A reminder to finish the setup is on its way")
    await expect(row_of(alice, world.cedar.name)).to_contain_text(re.compile(r"\b1, last \d+ min ago"))
    await shot(alice, "06-reminder-sent")
    mailbox = stack.url(stack.ports.helpdesk, "/mail")

    def reminder() -> dict | None:
        return next((m for m in get_json(mailbox) if world.cedar.contact_email in m["to"]), None)

    published = await read_topic(stack.kafka, topics.SETUP_REMINDER_REQUESTED, key=world.cedar.merchant_id.encode(),
                                 expect=1)
    assert [json.loads(r.value)["requested_by"] for r in published] == [staff.ALICE_EMAIL]
    await until(lambda: reminder() is not None, f"the reminder in {world.cedar.contact_email}'s mailbox")
    mail = reminder()
    assert mail["subject"] == "Finish connecting your stores to Xero", mail
    assert world.cedar.name in mail["text"] and world.cedar.organisation in mail["text"], mail["text"]
    connected, unconnected = world.cedar.stores.values()
    assert connected in mail["text"] and unconnected not in mail["text"], mail["text"]

    await cedar.get_by_role("button", name=f"Send reminder: {world.cedar.name}", exact=True).click()
    await expect(alice.get_by_role("status")).to_contain_text("less than a day ago")   # at most one a day
    await alice.goto(stack.url(stack.ports.helpdesk))
    await expect(alice.locator("article.mail").filter(has_text=world.cedar.contact_email)).to_have_count(1)
    await shot(alice, "07-reminder-in-the-mailbox")


# -- search and the merchant's page -----------------------------------------------------------------------------
async def test_search_finds_a_merchant_by_each_name_and_id(alice, world):
    alder = world.alder
    store = list(alder.stores.values())[1]
    await alice.go_back()                    # from the helpdesk's mailbox to the console
    for n, (what, text) in enumerate((("merchant name", alder.name), ("store name", store),
                                      ("organisation name", alder.organisation), ("organisation id", alder.tenant_id),
                                      ("merchant id", alder.merchant_id), ("part of a name", "alder cyc"))):
        await alice.get_by_label("Search merchants").fill(text)
        await alice.get_by_role("button", name="Search", exact=True).click()
        await expect(alice.get_by_role("heading", level=2)).to_contain_text(f"Merchants matching “{text}”")
        found = alice.get_by_role("link", name=alder.name, exact=True)
        await expect(found, f"search by {what}").to_have_count(1)
        await expect(row_of(alice, world.birch.name), f"only Alder for {what}").to_have_count(0)
        await shot(alice, f"09-search-{n}-{what.replace(' ', '-')}")
    await alice.get_by_label("Search merchants").fill(f"no such merchant {world.tag}")
    await alice.get_by_role("button", name="Search", exact=True).click()
    await expect(alice.get_by_text("No merchant matches")).to_be_visible()


async def test_the_merchant_page_shows_stores_organisations_who_authorised_timeline_and_notifications(alice, world):
    alder = world.alder
    await alice.get_by_label("Search merchants").fill(alder.merchant_id)
    await alice.get_by_role("button", name="Search", exact=True).click()
    await alice.get_by_role("link", name=alder.name, exact=True).click()
    await expect(alice.get_by_role("heading", level=2, name=re.compile(re.escape(alder.name)))).to_be_visible()
    await expect(alice.get_by_text("awaiting finalisation for")).to_be_visible()

    stores = alice.locator("table").filter(has=alice.get_by_text(f"Every store of {alder.name}"))
    for store in alder.stores.values():
        await expect(stores.locator("tr").filter(has_text=store)).to_contain_text("Connected")
    organisations = alice.locator("table").filter(has=alice.get_by_text("who authorised each"))
    organisation = organisations.locator("tbody tr").filter(has_text=alder.organisation)
    await expect(organisation).to_contain_text(alder.tenant_id)
    await expect(organisation).to_contain_text(alder.xero_user)
    await expect(organisation.get_by_role("link", name=alder.xero_email)).to_be_visible()

    sent = alice.locator("table").filter(has=alice.get_by_text(f"Emails and webhooks about {alder.name}"))
    for channel in ("webhook", "email"):     # "ready to finalise", to the helpdesk's receiver and mailbox
        await expect(sent.locator("tbody tr").filter(has_text=channel).filter(has_text="delivered").first,
                     f"the {channel} about {alder.name}").to_be_visible()

    timeline = alice.locator("table").filter(has=alice.get_by_text(f"History of {alder.name}"))
    whats = await timeline.locator("tbody tr td:nth-child(3)").all_inner_texts()
    first_store = list(alder.stores.values())[0]
    assert any(w.startswith("Cloud POS API key") for w in whats), whats
    assert any(w == f"Store '{first_store}' connected to organisation '{alder.organisation}'" for w in whats), whats
    assert any(w.startswith("Setup completed: 2 store(s)") for w in whats), whats
    positions = [int(p) for p in await timeline.locator("tbody tr td:nth-child(1)").all_inner_texts()]
    assert positions == sorted(positions), positions                      # oldest first
    await shot(alice, "10-merchant-page")


# -- actions ----------------------------------------------------------------------------------------------------
async def test_an_agent_finalises_and_is_recorded_as_the_one_who_did(alice, stack, world):
    await nav_link(alice, "Awaiting finalisation").click()
    await alice.get_by_role("button", name=f"Mark finalised: {world.alder.name}", exact=True).click()
    await expect(alice.get_by_role("status")).to_contain_text("SetupFinalised was published")
    await expect(alice.locator("section.merchant").filter(has_text=world.alder.name)).to_have_count(0)
    await expect(alice.locator("section.merchant").filter(has_text=world.birch.name)).to_have_count(1)
    await shot(alice, "11-finalised")

    await alice.get_by_label("Search merchants").fill(world.alder.merchant_id)
    await alice.get_by_role("button", name="Search", exact=True).click()
    await expect(row_of(alice, world.alder.name)).to_contain_text("Finalised")
    await alice.get_by_role("link", name=world.alder.name, exact=True).click()
    await expect(alice.get_by_text(re.compile(f"Finalised .* by {re.escape(staff.ALICE_EMAIL)}"))).to_be_visible()
    timeline = alice.locator("table").filter(has=alice.get_by_text(f"History of {world.alder.name}"))
    await expect(timeline.locator("tbody tr").last).to_contain_text("Setup finalised by the helpdesk")
    await expect(timeline.locator("tbody tr").last).to_contain_text(staff.ALICE_EMAIL)
    activity = alice.locator("table").filter(has=alice.get_by_text(f"What helpdesk staff did for {world.alder.name}"))
    await expect(activity.locator("tbody tr").first).to_contain_text(staff.ALICE_EMAIL)
    await expect(alice.get_by_role("button", name=f"Mark finalised: {world.alder.name}")).to_have_count(0)
    await shot(alice, "12-finalised-merchant-page")
    published = await read_topic(stack.kafka, topics.SETUP_FINALISED, key=world.alder.merchant_id.encode(), expect=1)
    assert [json.loads(r.value)["finalised_by"] for r in published] == [staff.ALICE_EMAIL]


async def test_parked_notifications_are_listed_oldest_first_and_an_agent_cannot_redrive(alice, stack, world):
    await nav_link(alice, "Parked notifications").click()
    rows = alice.locator("tbody tr")
    await shown_after_reload(alice, rows.filter(has_text=world.elm.merchant_id), "Elm's parked webhook")
    await in_order(rows, world.birch.merchant_id, world.elm.merchant_id)
    birch = row_of(alice, world.birch.merchant_id)
    await expect(birch).to_contain_text("webhook")
    await expect(birch).to_contain_text("410")
    await expect(birch).to_contain_text("a lead can re-drive")
    await expect(alice.get_by_role("button", name=re.compile("^Re-drive"))).to_have_count(0)
    await expect(alice.get_by_text("ask a helpdesk lead to re-drive them")).to_be_visible()
    await shot(alice, "13-parked-agent")

    # No button, and no way round it: the same POST a lead's button makes is refused for an agent.
    csrf = await alice.locator("input[name=csrf]").first.get_attribute("value")
    delivery = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", await birch.inner_text()).group(0)
    answer = await alice.request.post(console(stack, f"/helpdesk/notifications/{delivery}/redrive"),
                                      form={"csrf": csrf, "back": "/helpdesk/parked"})
    assert answer.url.endswith("/helpdesk/parked?notice=forbidden"), answer.url
    assert "Your role does not allow that" in await answer.text()
    await alice.reload()
    await expect(row_of(alice, world.birch.merchant_id)).to_have_count(1)


async def test_needs_attention_shows_the_broken_connection_with_its_reason(alice, stack, world):
    """Dogwood's organisation removed the app in the set-up (the platform's next call found it broken)."""
    await alice.goto(console(stack))
    await nav_link(alice, "Needs attention").click()
    dogwood = row_of(alice, world.dogwood.name)
    await shown_after_reload(alice, dogwood, "Dogwood's broken connection", timeout=60)
    await expect(dogwood).to_contain_text("Reconnect needed")
    await expect(dogwood).to_contain_text(list(world.dogwood.stores.values())[0])
    await expect(dogwood).to_contain_text(world.dogwood.organisation)
    await expect(dogwood).to_contain_text(world.dogwood.xero_email)        # who authorised it in Xero
    await expect(dogwood).to_contain_text("Not finished")
    await shot(alice, "08-needs-attention")


async def test_a_lead_redrives_a_parked_notification_and_it_is_delivered(lena, stack, world):
    await sign_in(lena, stack, staff.LENA_EMAIL, "lena")
    await expect(lena.get_by_text(f"Signed in as Lena Lead ({staff.LENA_EMAIL}, helpdesk lead)")).to_be_visible()
    await nav_link(lena, "Parked notifications").click()
    birch = row_of(lena, world.birch.merchant_id)
    redrive = re.compile(f"^Re-drive: .* for {re.escape(world.birch.merchant_id)}$")
    await birch.get_by_role("button", name=redrive).click()
    await expect(lena.get_by_role("status")).to_contain_text("The notification is due again")
    await expect(row_of(lena, world.elm.merchant_id)).to_have_count(1)
    await shot(lena, "14-redriven")
    hooks = stack.url(stack.ports.helpdesk, "/webhooks")

    def delivered() -> bool:
        return any(h["verified"] and h["status"] == 204 and world.birch.merchant_id in json.dumps(h["body"])
                   for h in get_json(hooks))

    await until(delivered, "Birch's re-driven webhook at the helpdesk")
    await lena.reload()
    await expect(row_of(lena, world.birch.merchant_id)).to_have_count(0)


async def test_only_a_lead_erases_a_merchant_and_only_after_typing_its_id(alice, lena, stack, world):
    """docs/erasure.md: Cedar asked to be forgotten. An agent has no way to do it; the lead confirms by typing the
    merchant id and the ticket, and the registry publishes MerchantErased for every other service."""
    cedar = world.cedar
    await alice.goto(console(stack, f"/helpdesk/merchants/{cedar.merchant_id}"))
    await expect(alice.get_by_role("link", name=re.compile("^Erase"))).to_have_count(0)
    csrf = await alice.locator("input[name=csrf]").first.get_attribute("value")
    forged = await alice.request.post(console(stack, f"/helpdesk/erasures/{cedar.merchant_id}"),
                                      form={"csrf": csrf, "confirm": cedar.merchant_id, "reference": "HD-1"})
    assert forged.url.endswith(f"/helpdesk/erasures/{cedar.merchant_id}?notice=forbidden"), forged.url
    assert forged.status == 403 and "Only helpdesk leads erase merchants" in await forged.text()

    await lena.goto(console(stack, f"/helpdesk/merchants/{cedar.merchant_id}"))
    await lena.get_by_role("link", name=f"Erase {cedar.name} everywhere…").click()
    await lena.get_by_label(f"Type the merchant id ({cedar.merchant_id}) to confirm").fill(world.alder.merchant_id)
    await lena.get_by_label("Ticket").fill("HD-2101")
    await lena.get_by_role("button", name="Erase this merchant everywhere").click()
    await expect(lena.get_by_role("status")).to_contain_text("did not match: nothing was erased")
    await shot(lena, "15-erase-not-confirmed")
    await lena.get_by_label(f"Type the merchant id ({cedar.merchant_id}) to confirm").fill(cedar.merchant_id)
    await lena.get_by_label("Ticket").fill("HD-2101")
    await lena.get_by_role("button", name="Erase this merchant everywhere").click()
    await expect(lena.get_by_role("status")).to_contain_text("The merchant was erased")
    await shot(lena, "15-erased")

    (record,) = await read_topic(stack.kafka, topics.MERCHANT_ERASED, key=cedar.merchant_id.encode())
    assert json.loads(record.value)["requested_by"] == staff.LENA_EMAIL
    await lena.goto(console(stack, f"/helpdesk/merchants/{cedar.merchant_id}"))
    await expect(lena.get_by_text("That merchant is not known to the registry.")).to_be_visible()
    await lena.goto(console(stack, f"/helpdesk/search?q={cedar.name}"))
    await expect(row_of(lena, cedar.merchant_id)).to_have_count(0)


async def test_a_lead_ends_an_agents_session_and_the_agent_must_sign_in_again(chromium, lena, stack):
    context, bob = await _person(chromium)
    try:
        await sign_in(bob, stack, staff.BOB_EMAIL, "bob")
        await expect(bob.get_by_text("Signed in as Bob Agent")).to_be_visible()

        await nav_link(lena, "Staff sessions").click()
        sessions = lena.locator("table").first.locator("tbody tr")
        await expect(sessions.filter(has_text=staff.BOB_EMAIL)).to_have_count(1)
        await expect(sessions.filter(has_text=staff.LENA_EMAIL)).to_contain_text("(you)")
        await shot(lena, "15-staff-sessions")
        await lena.get_by_role("button", name="End session: Bob Agent", exact=True).click()
        await expect(lena.get_by_role("status")).to_contain_text("The session was ended")
        await expect(sessions.filter(has_text=staff.BOB_EMAIL)).to_have_count(0)

        await nav_link(bob, "Needs attention").click()
        await expect(bob.get_by_role("link", name=SIGN_IN)).to_be_visible()
        assert bob.url == console(stack, "/helpdesk/login")
        await shot(bob, "16-bob-signed-out-by-the-lead")
    finally:
        await context.close()


async def test_sign_out_ends_the_session_and_the_old_cookie_is_refused(chromium, alice, stack):
    await alice.goto(console(stack))
    cookies = [c for c in await alice.context.cookies() if c["name"] == "registry_staff"]
    assert len(cookies) == 1, await alice.context.cookies()
    await alice.get_by_role("button", name="Sign out").click()
    await expect(alice.get_by_text("You are signed out of the helpdesk console.")).to_be_visible()
    assert alice.url == console(stack, "/helpdesk/signed-out")
    assert not [c for c in await alice.context.cookies() if c["name"] == "registry_staff"]
    await shot(alice, "17-signed-out")

    context, thief = await _person(chromium)
    try:
        await context.add_cookies(cookies)
        for path in ("/helpdesk/", "/helpdesk/search?q=cycles"):
            await thief.goto(console(stack, path))
            await expect(thief.get_by_role("link", name=SIGN_IN)).to_be_visible()
            assert thief.url == console(stack, "/helpdesk/login")
        await shot(thief, "18-old-cookie-refused")
    finally:
        await context.close()
    # The provider's session ended too: signing in again asks for the password.
    await alice.get_by_role("link", name=SIGN_IN).click()
    await expect(alice.get_by_label("Password")).to_be_visible()
