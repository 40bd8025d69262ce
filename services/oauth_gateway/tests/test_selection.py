"""Select an Organisation + Confirm Selection over real HTTP: the subscription gate, BOLA, CSRF, forms."""

import pytest

from local_infra.browser import forms_of, text_of
from local_infra.merchant import connect, consent, ready, to_xero_consent
from sandboxes.xero import (
    DEMO_COMPANY_UK_TENANT_ID,
    STEVE_PREMIUM_TENANT_ID,
    STEVE_STARTER_TENANT_ID,
    STEVE_TEST_STORE_TENANT_ID,
    STEVE_TRIAL_TENANT_ID,
)
from tests.support.kafka import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _at_selection(stack, tenant_id: str, store_index: int = 0):
    browser = await ready(stack)
    await to_xero_consent(stack, browser, list(stack.merchant.stores)[store_index])
    await consent(browser, tenant_id)
    assert "Select an Organisation" in browser.text()
    return browser


async def _selected(stack) -> int:
    return await stack.pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE topic = 'OrgSelected'")


async def _registry_has_organisations(stack) -> bool:
    return bool(stack.registry.summary(stack.merchant.merchant_id)["organisations"])


async def _live_tenants(stack) -> set[str]:
    return {c["tenantId"] for c in (await stack.xero_state())["connections"]}


@pytest.mark.parametrize(("tenant", "words"), [
    (STEVE_STARTER_TENANT_ID, "Xero's Starter plan"),
    (STEVE_TRIAL_TENANT_ID, "is on a Xero trial"),
    (DEMO_COMPANY_UK_TENANT_ID, "Demo Company"),
])
async def test_starter_trial_and_demo_organisations_are_refused_with_why_and_what_to_do(stack, tenant, words):
    browser = await _at_selection(stack, tenant)

    page = await browser.submit("Confirm Selection", {"tenant_id": tenant})

    assert page.status_code == 403
    assert words in browser.text()
    assert "This Xero organisation cannot be connected" in browser.text()
    if tenant != DEMO_COMPANY_UK_TENANT_ID:
        assert "trial or starter accounts cannot be integrated" in browser.text() and "Upgrade" in browser.text()
    assert await _selected(stack) == 0
    assert tenant not in await _live_tenants(stack)       # not left connected at Xero to an unused organisation
    # on the stores page, in the store's row, whose button points at the refusal and has the focus: try again
    store_id, name = next(iter(stack.merchant.stores.items()))
    stores = page.text.split('aria-labelledby="stores-heading"', 1)[1]            # not the awaiting banner
    row = stores.split(f"<th scope=\"row\">{name}</th>", 1)[1].split("</tr>", 1)[0]
    assert 'role="alert" data-code="subscription_refused"' in row and words in text_of(row)
    assert f'aria-label="Connect to Xero for {name}" aria-describedby="store-1-error"' in row and "autofocus" in row
    await connect(stack, browser, store_id, STEVE_PREMIUM_TENANT_ID)
    assert "is now connected to the Xero organisation 'Steve Premium Ltd'" in browser.text(), browser.text()


async def test_an_unknown_subscription_class_is_accepted_and_logged_for_review(stack, caplog):
    await stack.xero("PATCH", f"/_sandbox/tenants/{STEVE_PREMIUM_TENANT_ID}", json={"Class": "HYPERDRIVE"})
    browser = await _at_selection(stack, STEVE_PREMIUM_TENANT_ID)

    await browser.submit("Confirm Selection", {"tenant_id": STEVE_PREMIUM_TENANT_ID})

    assert "is now connected" in browser.text()
    assert await _selected(stack) == 1
    assert any("unknown subscription class 'HYPERDRIVE'" in r.getMessage() for r in caplog.records)


async def test_an_organisation_from_another_consent_cannot_be_selected(stack):
    browser = await ready(stack)
    await connect(stack, browser, list(stack.merchant.stores)[0], STEVE_PREMIUM_TENANT_ID)
    await to_xero_consent(stack, browser, list(stack.merchant.stores)[1])
    await consent(browser, STEVE_TEST_STORE_TENANT_ID)
    assert [value for value, _ in browser.options()] == [STEVE_TEST_STORE_TENANT_ID]   # this consent only

    page = await browser.submit("Confirm Selection", {"tenant_id": STEVE_PREMIUM_TENANT_ID})

    assert page.status_code == 403 and "Choose one of the listed organisations" in browser.text()
    assert await _selected(stack) == 1


async def test_the_store_comes_from_the_flow_never_from_the_form(stack):
    browser = await _at_selection(stack, STEVE_TEST_STORE_TENANT_ID)
    other_store = list(stack.merchant.stores)[1]

    page = await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID,
                                                      "store_id": other_store})

    assert page.status_code == 400 and "This form was changed" in browser.text()
    assert await _selected(stack) == 0


async def test_the_selection_page_says_which_organisation_already_serves_which_store(stack):
    browser = await ready(stack)
    store_1, store_2 = stack.merchant.stores
    await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)
    await eventually(lambda: _registry_has_organisations(stack), what="the registry to see the selection")
    await to_xero_consent(stack, browser, store_2)
    await consent(browser, STEVE_TEST_STORE_TENANT_ID)

    assert browser.options() == [(STEVE_TEST_STORE_TENANT_ID,
                                  "Steve Test Store (already connected to: Steve Test Store)")]


async def test_forms_without_a_valid_csrf_token_or_from_another_origin_are_refused(stack):
    browser = await _at_selection(stack, STEVE_TEST_STORE_TENANT_ID)
    url = str(browser.page.url)

    missing = await browser.post(url, {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    forged = await browser.post(url, {"tenant_id": STEVE_TEST_STORE_TENANT_ID, "csrf_token": "0" * 64})
    await browser.get(url)
    token = next(f.fields["csrf_token"] for f in forms_of(browser.page.text) if "csrf_token" in f.fields)
    cross = await browser.post(url, {"tenant_id": STEVE_TEST_STORE_TENANT_ID, "csrf_token": token},
                               headers={"Origin": "https://evil.example"})

    assert [missing.status_code, forged.status_code, cross.status_code] == [403, 403, 403]
    assert await _selected(stack) == 0
    ok = await browser.post(url, {"tenant_id": STEVE_TEST_STORE_TENANT_ID, "csrf_token": token},
                            headers={"Origin": stack.gateway_url})
    assert ok.status_code == 200 and await _selected(stack) == 1


async def test_a_double_submit_selects_once(stack):
    browser = await _at_selection(stack, STEVE_TEST_STORE_TENANT_ID)
    await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID}, follow=False)
    url = str(browser.page.url)
    assert await _selected(stack) == 1
    again = await browser.get(url)
    assert again.status_code in (200, 409)
    assert await _selected(stack) == 1
