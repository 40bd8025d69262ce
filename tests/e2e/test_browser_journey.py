"""The knowledge-base journey, clicked through in Debian's Chromium, against every part running as its own
process (the `make run` stack). Each step leaves a screenshot in artifacts/e2e/.

The steps share one browser page and run in file order, like a merchant working down the article, at 1280 px.
Every merchant page on the way is also checked at 375 px, and by axe-core at both widths (accessibility.py);
the Xero sandbox's pages and the helpdesk's are not ours to check here.
"""

import json
import re
import urllib.request
from collections import Counter

import pytest
from playwright.async_api import Page, async_playwright, expect

from sandboxes.cloudpos import demo_data as pos
from sandboxes.staff_idp import demo_data as staff
from sandboxes.xero import demo_data as xero
from shared.contracts import topics
from tests.support.kafka import eventually, read_topic

from .accessibility import DESKTOP, check_page
from .conftest import ARTIFACTS, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e
MERCHANT = pos.STEVE_MERCHANT_ID
STORE_1, STORE_2, STORE_3 = "Steve Test Store", "Steve Test Store 2", "Steve Outlet Store"
PREMIUM, STARTER = "Steve Premium Ltd", "Steve Starter Ltd"


@pytest.fixture(scope="module")
async def page(stack):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                   args=CHROMIUM_ARGS)
        (ARTIFACTS / "axe.json").unlink(missing_ok=True)
        page = await browser.new_page(viewport=DESKTOP)
        page.set_default_timeout(20_000)
        yield page
        await browser.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def check(page: Page, name: str) -> None:
    """A merchant page: axe-core and the 375 px layout, with screenshots at 1280 px and 375 px."""
    await check_page(page, name, ARTIFACTS)


def store_row(page: Page, name: str):
    """The store's row in "Your stores" (its name is the row's header)."""
    return page.locator("table[aria-labelledby=stores-heading] tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True))


def finished_button(page: Page):
    return page.get_by_role("button", name="I have finished connecting stores")


def organisation_group(page: Page, organisation: str):
    return page.locator("section.org").filter(has_text=f"Xero Organisation Name: {organisation}")


async def connect(page: Page, store: str, organisation: str, *, expect_xero_login: bool,
                  button: str = "Connect to Xero for {store}") -> None:
    """'Connect to Xero' (or `button`) for one store, through Xero's login (when asked) and consent, back to our
    page. Each store's button is named after the store."""
    await store_row(page, store).get_by_role("button", name=button.format(store=store), exact=True).click()
    login = page.get_by_role("heading", name="Log in to Xero")
    if expect_xero_login:
        await expect(login).to_be_visible()
        await page.get_by_label("Email address").fill(xero.STEVE_EMAIL)
        await page.get_by_label("Password").fill(xero.DEMO_PASSWORD)
        await shot(page, f"xero-login-{store}")
        await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("button", name="Allow access")).to_be_visible()
    assert not await login.is_visible()
    await choose(page.locator("select[name=tenant_id]"), organisation)
    await shot(page, f"xero-consent-{store}")
    await page.get_by_role("button", name="Allow access").click()
    await expect(page.get_by_role("heading", name="Select an Organisation")).to_be_visible()


async def choose(dropdown, organisation: str) -> None:
    """Options read 'Name', or 'Name (already connected...)' once an organisation serves a store."""
    option = dropdown.locator("option").filter(has_text=re.compile(f"^\\s*{re.escape(organisation)}\\s*(\\(|$)"))
    await dropdown.select_option(value=await option.get_attribute("value"))


async def confirm(page: Page, organisation: str, name: str) -> None:
    await choose(page.get_by_label("Select an Organisation"), organisation)
    await check(page, name)
    await page.get_by_role("button", name="Confirm Selection").click()


def get_json(url: str, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


async def test_sign_in_refuses_a_bike_rental_manager_key_at_the_field_then_validates_the_xero_key(page, stack):
    await page.goto(stack.url(stack.ports.gateway))
    await check(page, "01-sign-in")
    await page.get_by_label("Cloud POS username (email address)").fill(pos.STEVE_USERNAME)
    await page.get_by_label("Password").fill(pos.DEMO_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(finished_button(page)).to_have_count(0)                # nothing connected yet
    await check(page, "02-key-needed")

    key = page.get_by_label("Cloud POS API Key")
    await key.fill(pos.DEMO_BRM_KEY)
    await page.get_by_role("button", name="Validate Cloud POS API Key").click()
    await expect(key).to_be_focused()                                  # on the stores page, ready to try again
    await expect(key).to_have_accessible_description(re.compile("Bike Rental Manager"))
    await expect(key).to_have_attribute("aria-invalid", "true")
    await check(page, "02-bike-rental-manager-key-refused")
    assert pos.DEMO_BRM_KEY not in await page.content()

    await key.fill(pos.DEMO_XERO_KEY)
    await page.get_by_role("button", name="Validate Cloud POS API Key").click()
    for store in (STORE_1, STORE_2, STORE_3):
        await expect(store_row(page, store).get_by_role("button", name=f"Connect to Xero for {store}", exact=True)
                     ).to_be_visible()
    await expect(finished_button(page)).to_have_count(0)
    await check(page, "03-stores-listed")
    assert pos.DEMO_XERO_KEY not in await page.content()


async def test_first_store_logs_in_to_xero_and_selects_its_organisation(page):
    await connect(page, STORE_1, STORE_1, expect_xero_login=True)
    await confirm(page, STORE_1, "04-select-an-organisation")
    await expect(organisation_group(page, STORE_1).get_by_text(STORE_1, exact=True)).to_be_visible()
    row = store_row(page, STORE_1)
    await expect(row.get_by_role("button")).to_have_accessible_name(f"Change organisation for {STORE_1}")
    await expect(row).to_contain_text(f"Connected to {STORE_1}")
    await expect(finished_button(page)).to_be_visible()                 # one store connected
    await check(page, "05-first-store-connected")


async def test_second_store_skips_the_xero_login_and_joins_the_same_organisation(page):
    await connect(page, STORE_2, STORE_1, expect_xero_login=False)
    await expect(page.get_by_label("Select an Organisation")).to_contain_text(f"already connected to: {STORE_1}")
    await confirm(page, STORE_1, "06-second-store-same-organisation")
    await expect(organisation_group(page, STORE_1).get_by_text(STORE_2, exact=True)).to_be_visible()


async def test_third_store_is_refused_a_starter_organisation_then_accepted_on_premium(page, stack):
    await connect(page, STORE_3, STARTER, expect_xero_login=False)
    await confirm(page, STARTER, "07-starter-organisation-selected")
    row = store_row(page, STORE_3)                                      # the stores page, in the store's row
    await expect(row.get_by_role("alert")).to_contain_text("Starter")
    retry = row.get_by_role("button", name=f"Connect to Xero for {STORE_3}", exact=True)
    await expect(retry).to_be_focused()
    await expect(retry).to_have_accessible_description(re.compile("trial or starter accounts cannot be integrated"))
    await check(page, "08-starter-organisation-refused")

    await connect(page, STORE_3, PREMIUM, expect_xero_login=False)      # straight from there
    await confirm(page, PREMIUM, "09-premium-organisation-selected")
    await expect(organisation_group(page, PREMIUM).get_by_text(STORE_3, exact=True)).to_be_visible()


async def test_summary_groups_the_stores_by_organisation(page):
    first, premium = organisation_group(page, STORE_1), organisation_group(page, PREMIUM)
    await expect(first.locator("li")).to_have_text([STORE_1, STORE_2])
    await expect(premium.locator("li")).to_have_text([STORE_3])
    await expect(page.locator("section.org")).to_have_count(2)
    # the refused Starter consent is not offered for a store connected since
    await expect(page.get_by_role("heading", name="Select an Organisation to finish connecting")).to_have_count(0)
    await check(page, "10-summary-by-organisation")


async def test_finishing_tells_the_helpdesk_by_email_and_webhook(page, stack):
    await finished_button(page).click()
    await check(page, "11-finished")
    helpdesk = stack.url(stack.ports.helpdesk)

    async def mail_arrived() -> bool:
        return any("ready to finalise" in m["subject"] for m in get_json(f"{helpdesk}mail"))

    await eventually(mail_arrived, timeout=30, what="the helpdesk email")
    mail = next(m for m in get_json(f"{helpdesk}mail") if "ready to finalise" in m["subject"])
    for store, organisation in ((STORE_1, STORE_1), (STORE_2, STORE_1), (STORE_3, PREMIUM)):
        assert re.search(rf"{re.escape(store)} \(\S+\) -> {re.escape(organisation)} ", mail["text"])
    await eventually(lambda: _webhooks(helpdesk, "ready"), timeout=30, what="the helpdesk webhook")
    hook = [w for w in get_json(f"{helpdesk}webhooks") if w["verified"]][0]
    links = {(s["store_name"], s["organisation_name"]) for s in hook["body"]["data"]["links"]}
    assert links == {(STORE_1, STORE_1), (STORE_2, STORE_1), (STORE_3, PREMIUM)}
    await page.goto(helpdesk)
    await shot(page, "12-helpdesk-mailbox")


async def _webhooks(helpdesk: str, kind: str) -> bool:
    return any(w["verified"] and kind in w["body"]["type"] for w in get_json(f"{helpdesk}webhooks"))


async def test_disconnecting_an_organisation_asks_first_then_disconnects_both_its_stores_at_xero_too(page, stack):
    await page.goto(stack.url(stack.ports.gateway))
    disconnect = f"Disconnect from Xero: {STORE_1}"
    await organisation_group(page, STORE_1).get_by_role("button", name=disconnect, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Disconnect '{STORE_1}' from Xero?")
    await expect(page.get_by_role("main").get_by_role("listitem")).to_have_text([STORE_1, STORE_2])
    await expect(page.get_by_role("main")).to_contain_text("will disconnect all Cloud POS stores associated with")
    await check(page, "13-disconnect-confirmation")
    await page.get_by_role("link", name="Cancel").click()              # nothing happens
    await expect(organisation_group(page, STORE_1).locator("li")).to_have_text([STORE_1, STORE_2])

    await organisation_group(page, STORE_1).get_by_role("button", name=disconnect, exact=True).click()
    await page.get_by_role("button", name=disconnect, exact=True).click()
    await expect(organisation_group(page, STORE_1)).to_have_count(0)
    await expect(organisation_group(page, PREMIUM)).to_have_count(1)
    for store in (STORE_1, STORE_2):
        await expect(store_row(page, store)).to_contain_text("Disconnected")
        button = store_row(page, store).get_by_role("button")
        await expect(button).to_have_accessible_name(f"Connect to Xero for {store}")
    await check(page, "13-organisation-disconnected")

    control = {"x-sandbox-control-token": stack.secrets["xero_control"]}

    async def gone_at_xero() -> bool:
        state = get_json(stack.url(stack.ports.xero, "/_sandbox/state"), control)
        return all(c["tenantId"] != xero.STEVE_TEST_STORE_TENANT_ID for c in state["connections"])

    await eventually(gone_at_xero, timeout=30, what="the connection to be deleted at Xero")
    helpdesk = stack.url(stack.ports.helpdesk)

    async def told() -> bool:
        return sum("changed" in m["subject"] for m in get_json(f"{helpdesk}mail")) >= 1

    await eventually(told, timeout=30, what="the helpdesk to be told about the disconnect")


async def test_one_store_can_be_connected_again_alone(page):
    await connect(page, STORE_1, STORE_1, expect_xero_login=False)
    await confirm(page, STORE_1, "14-reconnect-one-store")
    group = organisation_group(page, STORE_1)
    await expect(group.locator("li")).to_have_text([STORE_1])
    await expect(store_row(page, STORE_2)).to_contain_text("Disconnected")
    await check(page, "15-one-store-reconnected")


async def test_the_helpdesk_finalises_and_the_sales_poster_puts_yesterdays_invoice_into_xero(page, stack):
    """examples/daily_sales, started by `make run`, posts through the gateway's platform proxy once finalised."""
    await page.goto(stack.url(stack.ports.registry, "/helpdesk/login"))
    await page.get_by_role("link", name="Sign in with your staff account").click()
    await page.get_by_label("Email address").fill(staff.ALICE_EMAIL)
    await page.get_by_label("Password").fill(staff.DEMO_PASSWORD)
    await shot(page, "16-helpdesk-staff-sign-in")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text("Signed in as Alice Agent")).to_be_visible()
    await page.get_by_role("button", name=f"Mark finalised: {pos.STEVE_MERCHANT_NAME}", exact=True).click()
    await expect(page.get_by_text("SetupFinalised was published")).to_be_visible()
    await shot(page, "16-helpdesk-finalised")

    control = {"x-sandbox-control-token": stack.secrets["xero_control"]}
    invoices_of = stack.url(stack.ports.xero, f"/_sandbox/tenants/{xero.STEVE_TEST_STORE_TENANT_ID}/invoices")

    async def posted() -> bool:
        return any(i["Reference"].startswith("s-steve-1 ") for i in get_json(invoices_of, control)["invoices"])

    await eventually(posted, timeout=60, what="the daily sales invoice in Xero")
    await page.goto(stack.url(stack.ports.xero, "/app/invoices"))
    section = page.locator("section").filter(has=page.get_by_role("heading", name=STORE_1, exact=True))
    await expect(section.get_by_role("cell", name=re.compile(r"^s-steve-1 \d{4}-\d{2}-\d{2}$"))).to_have_count(1)
    await shot(page, "17-invoice-in-xero")


async def test_the_platform_backend_sees_the_journey_on_kafka_in_order(stack):
    """A plain Kafka consumer, as the wider platform reads it: CloudEvents headers, keys and order."""
    key = MERCHANT.encode()
    expected = {topics.KEY_VALIDATED: 1, topics.STORE_CONNECTED: 5, topics.ORG_SELECTED: 4,
                topics.ORG_DISCONNECTED: 1, topics.STORE_DISCONNECTED: 2, topics.SETUP_COMPLETED: 1,
                topics.CONNECTIONS_CHANGED: 2}
    records = {topic: await read_topic(stack.kafka, topic, key=key, expect=count)
               for topic, count in expected.items()}
    assert {topic: len(found) for topic, found in records.items()} == expected

    for topic, found in records.items():
        for record in found:
            headers = {k: v.decode() for k, v in record.headers}
            assert headers["ce_specversion"] == "1.0"
            assert headers["ce_type"].startswith("com.citruslime.cloudpos.xero.") and headers["ce_type"].endswith(".v1")
            assert headers["ce_source"].startswith("/cloudpos-xero/")
            assert headers["content-type"] == "application/json"
            assert {"ce_id", "ce_time"} <= headers.keys()
            assert record.key == key
        assert [r.offset for r in found] == sorted(r.offset for r in found)
        times = [dict(r.headers)["ce_time"].decode() for r in found]
        assert times == sorted(times), f"{topic} out of order"

    selected = [json.loads(r.value) for r in records[topics.ORG_SELECTED]]
    assert [(s["store_id"], s["organisation_name"]) for s in selected] == [
        ("s-steve-1", STORE_1), ("s-steve-2", STORE_1), ("s-steve-3", PREMIUM), ("s-steve-1", STORE_1)]
    cause = dict(records[topics.ORG_DISCONNECTED][0].headers)["ce_id"]
    cascade = records[topics.STORE_DISCONNECTED]
    assert {json.loads(r.value)["store_id"] for r in cascade} == {"s-steve-1", "s-steve-2"}
    assert {dict(r.headers)["ce_causationid"] for r in cascade} == {cause}
    connected = Counter(json.loads(r.value)["store_id"] for r in records[topics.STORE_CONNECTED])
    assert connected == {"s-steve-1": 2, "s-steve-2": 1, "s-steve-3": 2}


async def test_an_app_removed_inside_xero_is_explained_emailed_and_repaired_by_reconnecting(page, stack):
    """Both stores of 'Steve Test Store' break when the app is removed inside Xero; the health check (30 s under
    make run) finds it, the page and the merchant's email say why, and the emailed link repairs both."""
    await page.goto(stack.url(stack.ports.gateway))
    await connect(page, STORE_2, STORE_1, expect_xero_login=False)
    await confirm(page, STORE_1, "18-second-store-back")
    control = {"x-sandbox-control-token": stack.secrets["xero_control"]}
    request = urllib.request.Request(stack.url(stack.ports.xero, f"/_sandbox/tenants/{xero.STEVE_TEST_STORE_TENANT_ID}"
                                                                  "/remove-app"), method="POST", headers=control)
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback sandbox

    banner = page.get_by_role("heading", name="2 stores need reconnecting to Xero")

    async def told_on_the_page() -> bool:
        await page.goto(stack.url(stack.ports.gateway))     # not reload(): Chromium has answered it "not attached"
        return await banner.count() == 1

    await eventually(told_on_the_page, timeout=90, what="the break on the merchant's page (health check: 30 s)")
    await expect(page.locator("section.banner[role=alert]")).to_contain_text(
        "the Cloud POS app was removed from this organisation")
    for store in (STORE_1, STORE_2):
        await expect(store_row(page, store).get_by_role("button")).to_have_accessible_name(f"Reconnect {store} to Xero")
    await check(page, "19-reconnect-needed")
    helpdesk = stack.url(stack.ports.helpdesk)

    def merchant_mail() -> dict | None:
        return next((m for m in get_json(f"{helpdesk}mail") if m["subject"] == "Action needed: reconnect 2 stores to "
                     "Xero"), None)

    await eventually(lambda: _async(merchant_mail() is not None), timeout=60, what="the merchant's email")
    links = re.findall(r"http://127\.0\.0\.1:\d+/reconnect/[^\s\"<]+", merchant_mail()["text"])
    assert len(set(links)) == 2, merchant_mail()["text"]

    await page.goto(links[0])
    await check(page, "19-reconnect-page")
    await page.get_by_role("button", name=re.compile(r"^Reconnect .+ to Xero$")).click()
    await expect(page.get_by_role("button", name="Allow access")).to_be_visible()
    await choose(page.locator("select[name=tenant_id]"), STORE_1)
    await page.get_by_role("button", name="Allow access").click()
    await expect(page.get_by_label("Select an Organisation")).to_contain_text("this store's organisation until now")
    await confirm(page, STORE_1, "20-reconnect-same-organisation")
    await expect(page.get_by_role("heading", name=re.compile("need.* reconnecting"))).to_have_count(0)
    await expect(organisation_group(page, STORE_1).locator("li")).to_have_text([STORE_1, STORE_2])

    key = MERCHANT.encode()
    broken = await read_topic(stack.kafka, topics.CONNECTION_BROKEN, key=key, expect=2)
    restored = await read_topic(stack.kafka, topics.CONNECTION_RESTORED, key=key, expect=2)
    assert sorted(json.loads(r.value)["store_id"] for r in broken) == ["s-steve-1", "s-steve-2"]
    assert sorted(json.loads(r.value)["store_id"] for r in restored) == ["s-steve-1", "s-steve-2"]
    assert len({json.loads(r.value)["incident_id"] for r in broken + restored}) == 1

    async def helpdesk_told_both() -> bool:
        subjects = [m["subject"] for m in get_json(f"{helpdesk}mail")]
        return (sum(s.startswith("Xero connection broken:") for s in subjects) == 2
                and sum(s.startswith("Xero connection restored:") for s in subjects) == 2)

    await eventually(helpdesk_told_both, timeout=60, what="the helpdesk's break and repair notices")


async def _async(value: bool) -> bool:
    return value


async def test_a_connected_store_offers_change_organisation_which_moves_it_to_another(page, stack):
    """Steve Outlet Store moves from Steve Premium Ltd to Steve Test Store: the same consent and selection."""
    await page.goto(stack.url(stack.ports.gateway))
    await expect(store_row(page, STORE_3).get_by_role("button")).to_have_count(1)
    await connect(page, STORE_3, STORE_1, expect_xero_login=False, button="Change organisation for {store}")
    await expect(page.get_by_label("Select an Organisation")).to_contain_text(
        f"already connected to: {STORE_1}, {STORE_2}")
    await confirm(page, STORE_1, "21-change-organisation")
    await expect(organisation_group(page, STORE_1).locator("li")).to_have_text([STORE_3, STORE_1, STORE_2])  # by name
    await expect(organisation_group(page, PREMIUM)).to_have_count(0)
    await expect(store_row(page, STORE_3)).to_contain_text(f"Connected to {STORE_1}")
    await check(page, "22-organisation-changed")
