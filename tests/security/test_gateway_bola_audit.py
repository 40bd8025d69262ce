"""§B36 on the gateway: a signed-in merchant reaching for another merchant's things (their API key, a store, a
Xero sign-in in progress, a connected organisation) or for an organisation outside its own consent (§B23) is
refused, changes nothing, and the gateway's audit log records each attempt: who, what they reached for, why
it was refused."""

import json
from dataclasses import replace

import pytest

from local_infra.browser import forms_of
from local_infra.merchant import connect, consent, ready, seed_merchant, to_xero_consent
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import stack  # noqa: F401 - fixture

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.security]


async def _refusals(stack, merchant_id: str) -> list[dict]:
    rows = await stack.pool.fetch("SELECT actor, action, detail FROM audit_log WHERE merchant_id = $1"
                                  " AND action = 'access.refused' ORDER BY seq", merchant_id)
    return [{"actor": r["actor"], **json.loads(r["detail"])} for r in rows]


async def test_reaching_for_another_merchants_key_store_flow_or_organisation_is_refused_and_audited(stack):
    victim = replace(stack, merchant=await seed_merchant(stack.cloudpos_url))
    attacker_browser, victim_browser = await ready(stack), await ready(victim)
    attacker, attacker_user = stack.merchant.merchant_id, f"u-{stack.merchant.merchant_id}"
    victim_store = next(iter(victim.merchant.stores))
    await connect(victim, victim_browser, victim_store, STEVE_TEST_STORE_TENANT_ID)
    assert "is now connected" in victim_browser.text(), victim_browser.text()
    await victim_browser.get(stack.gateway_url + "/")
    await to_xero_consent(victim, victim_browser, list(victim.merchant.stores)[1])
    await consent(victim_browser, STEVE_PREMIUM_TENANT_ID)                      # the victim's flow, mid-selection
    victim_flow = str(victim_browser.page.url).rsplit("/", 1)[1]
    before = await stack.pool.fetchval("SELECT count(*) FROM connections")
    await attacker_browser.get(stack.gateway_url + "/")
    form = {"csrf_token": next(f.fields["csrf_token"] for f in forms_of(attacker_browser.page.text))}

    key = await attacker_browser.post(stack.gateway_url + "/key", form | {"api_key": victim.merchant.api_key})
    store = await attacker_browser.post(f"{stack.gateway_url}/stores/{victim_store}/connect", form)
    flow_page = await attacker_browser.get(f"{stack.gateway_url}/connect/{victim_flow}")
    flow_post = await attacker_browser.post(f"{stack.gateway_url}/connect/{victim_flow}",
                                            form | {"tenant_id": STEVE_PREMIUM_TENANT_ID})
    organisation = await attacker_browser.post(
        f"{stack.gateway_url}/organisations/{STEVE_TEST_STORE_TENANT_ID}/disconnect", form)

    assert key.status_code == 403
    assert store.status_code == 403
    assert flow_page.status_code == 400 and flow_post.status_code == 400
    assert organisation.status_code == 404
    assert await stack.pool.fetchval("SELECT count(*) FROM connections") == before
    assert await stack.pool.fetchval("SELECT count(*) FROM connections WHERE status = 'active'") == before
    assert victim.merchant.api_key not in json.dumps(await _refusals(stack, attacker))  # §B39: never stored
    refused = [(r["target"], r["reference"], r["reason"], r["actor"]) for r in await _refusals(stack, attacker)]
    assert refused == [
        ("api_key", "", "key_of_other_merchant", attacker_user),
        ("store", victim_store, "store_not_yours", attacker_user),
        ("flow", victim_flow, "flow_not_yours", attacker_user),
        ("flow", victim_flow, "flow_not_yours", attacker_user),
        ("organisation", STEVE_TEST_STORE_TENANT_ID, "not_connected", attacker_user)]
    flows = [r for r in await _refusals(stack, attacker) if r["target"] == "flow"]
    assert {r["owner_merchant_id"] for r in flows} == {victim.merchant.merchant_id}
    assert await _refusals(stack, victim.merchant.merchant_id) == []           # the victim did nothing wrong

    await victim_browser.submit("Confirm Selection", {"tenant_id": STEVE_PREMIUM_TENANT_ID})
    assert "is now connected" in victim_browser.text()                          # their flow still works


async def test_an_organisation_outside_this_consent_is_refused_and_audited(stack):
    browser = await ready(stack)
    await to_xero_consent(stack, browser, next(iter(stack.merchant.stores)))
    await consent(browser, STEVE_TEST_STORE_TENANT_ID)
    foreign = "00000000-0000-4000-8000-00000000beef"

    page = await browser.submit("Confirm Selection", {"tenant_id": foreign})

    assert page.status_code == 403 and "Choose one of the listed organisations" in browser.text()
    assert [(r["target"], r["reference"], r["reason"]) for r in await _refusals(stack, stack.merchant.merchant_id)] \
        == [("organisation", foreign, "organisation_not_in_consent")]


async def test_hostile_references_are_audited_without_breaking_the_page(stack):
    """What an attacker types lands in the audit log as data: NUL and control characters, 10 kB, markup."""
    browser = await ready(stack)
    form = {"csrf_token": next(f.fields["csrf_token"] for f in forms_of(browser.page.text))}
    hostile = ["%00", "a%0d%0aSet-Cookie:%20x=1", "x" * 10_000, "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"]

    for value in hostile:
        store = await browser.post(f"{stack.gateway_url}/stores/{value}/connect", form)
        organisation = await browser.post(f"{stack.gateway_url}/organisations/{value}/disconnect", form)
        assert store.status_code == 403 and organisation.status_code == 404, (value, store.text[:300])

    refused = await _refusals(stack, stack.merchant.merchant_id)
    assert len(refused) == 2 * len(hostile)
    assert all(len(r["reference"]) <= 200 and "\x00" not in r["reference"] and "\r" not in r["reference"]
               for r in refused)
