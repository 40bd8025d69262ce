"""Connection health on real Kafka + PostgreSQL: OrgSelected (with the Xero user who authorised it), then
ConnectionBroken, then ConnectionRestored go in through the topics; the summary API and the helpdesk pages show
the store needing reconnecting and then connected again, nothing is published for either, a restore that
overtakes its break leaves the store connected, and a rebuild from offset zero reproduces the rows."""

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from connection_registry.rebuild import rebuild
from shared.contracts import BreakReason, CloudEvent

from .journey import ORG_A, STEVE, Journey
from .live import Registry, serving, snapshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_a_break_and_its_restore_show_in_the_summary_and_on_the_helpdesk_pages(pg_dsn, kafka_bootstrap,
                                                                                     fresh_database, unique_name):
    async with serving(pg_dsn, kafka_bootstrap, unique_name("registry-health")) as registry:
        j = Journey(f"m-{uuid4().hex[:10]}", clock=lambda: datetime.now(UTC))
        setup = await connect_and_complete(registry, j)
        broken = j.broken("s-1", ORG_A, uuid4(), BreakReason.REMOVED_IN_XERO)

        await registry.send(broken)
        await shows_reconnect_needed(registry, j.merchant_id, broken)

        restored = j.restored("s-1", ORG_A, broken.data.incident_id, broken.data.since)
        await registry.send(restored)
        await shows_connected_again(registry, j.merchant_id)

        # A restore that overtakes its break (another incident, on s-2): the store is never left broken.
        late = j.broken("s-2", ORG_A, uuid4(), BreakReason.AUTHORISATION_EXPIRED)
        early = j.restored("s-2", ORG_A, late.data.incident_id, late.data.since)
        await registry.send(early)
        await registry.send(late)

        summary = (await registry.http.get(f"/v1/merchants/{j.merchant_id}/summary")).json()
        assert [s["status"] for s in summary["stores"]] == ["connected", "connected"]
        consumed = [e.id for e in (*setup, broken, restored, early, late)]
        live = await snapshot(registry.runtime.pool, [j.merchant_id], consumed)

    report = await rebuild(fresh_database, kafka_bootstrap, unique_name("registry-health-rebuild"))

    conn = await asyncpg.connect(fresh_database)
    try:
        rebuilt = await snapshot(conn, [j.merchant_id], consumed)
    finally:
        await conn.close()
    # The rebuild reads in event-time order (s-2's break before its restore): the same rows, the timeline
    # in the order things happened rather than the order the live service learned them.
    for table in ("merchants", "stores", "organisations", "grants", "parked_events"):
        assert rebuilt[table] == live[table], (table, report)
    assert [r["what"] for r in rebuilt["timeline"][-2:]] == [
        "Store 2 needs reconnecting: the Xero authorisation expired or was withdrawn",
        "Store 2 reconnected to 'Steve's Cycles Ltd' (same organisation)"]
    assert rebuilt["timeline"][:-2] == live["timeline"][:-2]
    assert {r["event_id"] for r in rebuilt["delivery_inbox"]} >= set(consumed)


async def connect_and_complete(registry: Registry, j: Journey) -> list[CloudEvent]:
    """Two stores on organisation A, authorised in Xero by Steve; the merchant has finished."""
    setup = [j.key_validated(stores=2), j.store_connected("s-1", "g-1", ORG_A),
             j.org_selected("s-1", ORG_A, "g-1", authorised_by=STEVE), j.org_selected("s-2", ORG_A, "g-1")]
    for event in setup:
        await registry.send(event)
    assert (await registry.http.post(f"/v1/merchants/{j.merchant_id}/completion",
                                      json={"completed_by": "u-1"})).status_code == 202
    return setup


async def shows_reconnect_needed(registry: Registry, merchant: str, broken: CloudEvent) -> None:
    summary = (await registry.http.get(f"/v1/merchants/{merchant}/summary")).json()
    s1 = summary["stores"][0]
    assert (s1["store_id"], s1["state"], s1["tenant_id"]) == ("s-1", "connected", str(ORG_A))  # the link stays
    assert (s1["status"], s1["reason"]) == ("reconnect_needed", "removed_in_xero")
    assert datetime.fromisoformat(s1["since"]) == broken.data.since
    assert [(s["status"], s["reason"], s["since"]) for s in summary["stores"][1:]] == [("connected", None, None)]
    (org,) = summary["organisations"]
    assert [s["store_id"] for s in org["stores"]] == ["s-1", "s-2"]
    assert org["authorised_by"] == {"xero_userid": str(STEVE.xero_userid), "name": "Steve Tester",
                                    "email": "steve@xero-demo.test"}
    pages = await helpdesk_pages(registry, merchant)
    since = f"since {broken.data.since:%Y-%m-%d %H:%M} UTC"
    assert f"Reconnect needed — the app was removed inside Xero, {since}" in pages["merchant"]
    assert "Steve Tester" in pages["merchant"] and "steve@xero-demo.test" in pages["merchant"]
    assert "Store 1 needs reconnecting: the app was removed inside Xero" in pages["merchant"]
    assert f"Reconnect needed — the app was removed inside Xero, {since}" in pages["awaiting"]
    assert f"/helpdesk/merchants/{merchant}" in pages["attention"]


async def shows_connected_again(registry: Registry, merchant: str) -> None:
    summary = (await registry.http.get(f"/v1/merchants/{merchant}/summary")).json()
    assert [(s["store_id"], s["state"], s["status"], s["reason"], s["since"]) for s in summary["stores"]] == [
        ("s-1", "connected", "connected", None, None), ("s-2", "connected", "connected", None, None)]
    pages = await helpdesk_pages(registry, merchant)
    assert "Reconnect needed" not in pages["merchant"]
    assert "Store 1 reconnected to &#39;Steve&#39;s Cycles Ltd&#39; (same organisation)" in pages["merchant"]
    assert f"/helpdesk/merchants/{merchant}" not in pages["attention"]
    outbox = await registry.runtime.pool.fetch("SELECT topic FROM delivery_outbox WHERE record_key = $1",
                                               merchant.encode())
    assert [r["topic"] for r in outbox] == ["SetupCompleted"]  # no ConnectionsChanged, no StoreDisconnected


async def helpdesk_pages(registry: Registry, merchant: str) -> dict[str, str]:
    """The three pages as a signed-in helpdesk user sees them (the API's bearer header does not matter there)."""
    browser = registry.http
    await registry.sign_in_staff()
    pages = {"awaiting": (await browser.get("/helpdesk/")).text,
             "merchant": (await browser.get(f"/helpdesk/merchants/{merchant}")).text,
             "attention": (await browser.get("/helpdesk/attention")).text}
    assert all("<h2>" in page for page in pages.values())
    return pages
