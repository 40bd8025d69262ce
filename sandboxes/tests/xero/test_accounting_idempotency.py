"""Idempotency-Key: one create for a repeated key, the stored answer replayed byte for byte (errors too), a
different request refused, a repeat while the first is still running waits for it, keys forgotten after 6 min."""

import asyncio

import pytest

from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID

from .conftest import ACCOUNTING_SCOPES

SALE = {"Type": "ACCREC", "Contact": {"Name": "Daily Sales"}, "Date": "2026-07-01", "Status": "AUTHORISED",
        "Reference": "Till 1 2026-07-01",
        "LineItems": [{"Description": "Takings", "Quantity": 1, "UnitAmount": "100.00", "AccountCode": "200"}]}


@pytest.fixture
async def token(sandbox):
    return await sandbox.connect(scope=ACCOUNTING_SCOPES)


def creates(sandbox, tenant=STEVE_TEST_STORE_TENANT_ID) -> int:
    return sandbox.control("GET", f"/_sandbox/tenants/{tenant}/invoices")["creates"]


async def put(sandbox, token, key, body=SALE, **kwargs):
    return await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=body,
                             headers={"Idempotency-Key": key}, **kwargs)


async def test_same_key_twice_creates_once_and_replays_the_answer(sandbox, token):
    first = await put(sandbox, token, "daily-sales-2026-07-01")
    second = await put(sandbox, token, "daily-sales-2026-07-01")
    assert first.status_code == second.status_code == 200
    assert second.content == first.content  # same Id, same InvoiceID, same timestamps
    assert creates(sandbox) == 1
    assert second.headers["x-minlimit-remaining"] == "58"  # limits come first: a replay still counts
    third = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json={**SALE, "Reference": "another"})
    assert third.status_code == 200 and creates(sandbox) == 2  # no key, no protection


async def test_same_key_with_a_different_request_is_refused(sandbox, token):
    await put(sandbox, token, "k-1")
    changed = await put(sandbox, token, "k-1", body={**SALE, "Reference": "Till 2"})
    assert changed.status_code == 400
    body = changed.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    assert body["Message"] == "Idempotency Key: k-1 is used with a different request."
    other_path = await sandbox.api(token, "POST", "/api.xro/2.0/Invoices", json=SALE,
                                   headers={"Idempotency-Key": "k-1"})
    assert other_path.status_code == 400
    assert creates(sandbox) == 1


async def test_a_stored_error_is_replayed_and_keys_are_per_tenant(sandbox):
    async with sandbox.browser() as browser:
        await sandbox.connect(scope=ACCOUNTING_SCOPES, browser=browser)
        token = await sandbox.connect(scope=ACCOUNTING_SCOPES, browser=browser, tenants=[STEVE_PREMIUM_TENANT_ID])
    bad = {**SALE, "LineItems": [{"UnitAmount": 1, "AccountCode": "999"}]}
    first, again = await put(sandbox, token, "k-bad", bad), await put(sandbox, token, "k-bad", bad)
    assert first.status_code == again.status_code == 400 and first.content == again.content
    elsewhere = await put(sandbox, token, "k-bad", bad, tenant=STEVE_PREMIUM_TENANT_ID)
    assert elsewhere.status_code == 400 and elsewhere.json()["Elements"][0]["InvoiceID"] != first.json()[
        "Elements"][0]["InvoiceID"]
    good = await put(sandbox, token, "k-good", tenant=STEVE_PREMIUM_TENANT_ID)
    assert good.status_code == 200
    assert (creates(sandbox), creates(sandbox, STEVE_PREMIUM_TENANT_ID)) == (0, 1)


async def test_a_repeat_while_the_first_is_running_waits_for_its_answer(sandbox, token):
    sandbox.control("POST", "/_sandbox/latency", {"seconds": 0.4})
    one, two = await asyncio.gather(put(sandbox, token, "k-race"), put(sandbox, token, "k-race"))
    assert one.status_code == two.status_code == 200 and one.content == two.content
    assert creates(sandbox) == 1


async def test_keys_are_kept_six_minutes_and_at_most_128_characters(sandbox, token):
    first = await put(sandbox, token, "k-old")
    sandbox.advance(359)
    assert (await put(sandbox, token, "k-old")).content == first.content
    sandbox.advance(2)
    later = await put(sandbox, token, "k-old")
    assert later.status_code == 200 and later.json()["Invoices"][0]["InvoiceNumber"] == "INV-0002"
    assert creates(sandbox) == 2
    too_long = await put(sandbox, token, "k" * 129)
    assert too_long.status_code == 400 and "128" in too_long.json()["Message"]
    assert (await put(sandbox, token, "k" * 128)).status_code == 200
