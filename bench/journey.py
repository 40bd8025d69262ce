"""The merchant's journey end to end: "Confirm Selection" -> the helpdesk's email, on the `make run` stack.

The stack is `python -m local_infra.stack --port-offset N` (what `make run` runs; tests/e2e starts it the
same way), with its own Kafka and PostgreSQL and the secrets handed in through LOCAL_STACK_SECRETS; it is
started after the other phases have stopped their Kafka and PostgreSQL. Per repetition a new Cloud POS
merchant with two stores is seeded in the Cloud POS sandbox, and the merchant's pages are walked over HTTP
with the scripted browser and merchant steps the gateway tests use too (local_infra.browser and .merchant):
sign in, validate the API key, "Connect to Xero" for one store, log in at Xero and allow access, then:

- "Confirm Selection" (t_confirm): the gateway records the selection, publishes OrgSelected and answers once
  the registry shows the store connected (it waits up to 5 s for that); if the page does not show the store
  yet, the summary is re-read every 50 ms until it does;
- "I have finished connecting stores" (t_finish), clicked as soon as the summary shows the store: this is
  the click that causes the notification (registry -> SetupCompleted -> notifier -> email and webhook);
- the email's arrival is the helpdesk sandbox's own `received_at` (its SMTP sink stamps each message when
  the DATA is received), the webhook's likewise; Kafka times are the records' CreateTime (set by the
  producing service's outbox relay); the notifier's own record of the email delivery (its creation, the
  dispatcher's attempt) is read from its /v1/deliveries API. Every clock is this machine's wall clock.

The first merchant is a warm-up and is not counted. Before each merchant the harness pauses a random 0-1 s:
the notifier's dispatcher also polls every second, and merchants walked back to back at a steady pace would
fall into step with that poll (they did, before the consumer woke the dispatcher) and show the same share of
it every time.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from local_infra.launch import RunningStack, running_stack
from local_infra.merchant import CLOUDPOS_TOKENS, Walk, consent, ready, seed_merchant, to_xero_consent
from local_infra.probes import read_topic
from local_infra.stack import generate_secrets
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from shared.contracts import topics

from .harness import cell, grid, stats

if TYPE_CHECKING:
    from .harness import Config

STEPS = [  # key, label; the figures are milliseconds
    ("confirm_response", "Confirm Selection POST -> page back (store shown)"),
    ("confirm_to_org_selected", "Confirm Selection -> OrgSelected on Kafka"),
    ("confirm_to_finishable", "Confirm Selection -> summary shows the store"),
    ("finish_response", "finish POST -> page back (SetupCompleted recorded)"),
    ("finish_to_setup_completed", "finish -> SetupCompleted on Kafka"),
    ("setup_completed_to_email", "SetupCompleted on Kafka -> email at the SMTP sink"),
    ("setup_completed_to_recorded", "  SetupCompleted on Kafka -> notifier recorded the email"),
    ("recorded_to_attempt", "  recorded -> dispatcher starts the attempt"),
    ("attempt_to_email", "  attempt starts -> email at the SMTP sink"),
    ("finish_to_email", "finish click -> email at the SMTP sink"),
    ("finish_to_webhook", "finish click -> webhook at the helpdesk"),
    ("confirm_to_email", "Confirm Selection click -> email (whole journey)"),
]
HEADLINE = ("finish_to_email", "confirm_to_email")
POLL = 0.05


def make_run(offset: int, say: Callable[[str], None]) -> AbstractContextManager[RunningStack]:
    """`make run` on shifted ports (an e2e run may hold 3000), with the Cloud POS sandbox tokens
    local_infra.merchant's seeding knows. It blocks while the stack starts: nothing else runs in this phase."""
    secrets = generate_secrets() | {"cloudpos_control": CLOUDPOS_TOKENS["control"],
                                    "cloudpos_support": CLOUDPOS_TOKENS["support"]}
    say(f"journey: starting `make run` (python -m local_infra.stack --port-offset {offset})")
    return running_stack(offset, secrets)


async def _until(check: Callable[[], object], what: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(POLL)
    raise TimeoutError(f"journey: no {what} within {timeout:.0f}s")


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def _record_time(record) -> datetime:  # noqa: ANN001 - aiokafka ConsumerRecord
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


async def walk(stack: RunningStack, helpdesk: httpx.AsyncClient, notifier: httpx.AsyncClient) -> dict[str, float]:
    """One merchant from sign-in to the helpdesk's email; the figures of STEPS in ms."""
    gateway = stack.url(stack.ports.gateway).rstrip("/")
    merchant = await seed_merchant(stack.url(stack.ports.cloudpos).rstrip("/"))
    view = Walk(gateway, merchant)
    try:
        browser = await ready(view)
        store_id = next(iter(merchant.stores))

        async def store_listed() -> bool:
            await browser.get(gateway + "/")
            return f"/stores/{store_id}/connect" in browser.page.text
        await _until(store_listed, "'Connect to Xero' button for the new store")
        await to_xero_consent(view, browser, store_id)
        await consent(browser, STEVE_TEST_STORE_TENANT_ID)
        assert "Select an Organisation" in browser.text(), browser.text()[:500]

        confirm_at, c0 = datetime.now(UTC), time.monotonic()
        await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
        c1 = time.monotonic()
        assert "is now connected" in browser.text(), browser.text()[:500]

        async def shown() -> bool:
            if "Disconnect from Xero" in browser.text():
                return True
            await browser.get(gateway + "/")
            return False
        await _until(shown, "store on the summary after Confirm Selection")
        c2 = time.monotonic()

        finish_at, f0 = datetime.now(UTC), time.monotonic()
        await browser.submit("I have finished connecting stores")
        f1 = time.monotonic()
        assert "Helpdesk Team will now arrange" in browser.text(), browser.text()[:500]
    finally:
        for b in view.browsers:
            await b.close()
    mid = merchant.merchant_id

    async def mail() -> dict | None:
        return next((m for m in (await helpdesk.get("/mail")).json()
                     if "ready to finalise" in m["subject"] and f"({mid})" in (m["text"] or "")), None)

    async def hook() -> dict | None:
        return next((w for w in (await helpdesk.get("/webhooks")).json() if w["verified"]
                     and (w["body"] or {}).get("data", {}).get("merchant_id") == mid), None)

    email_at = datetime.fromisoformat((await _until(mail, "email at the helpdesk"))["received_at"])
    hook_at = datetime.fromisoformat((await _until(hook, "webhook at the helpdesk"))["received_at"])
    selected = await read_topic(stack.kafka, topics.ORG_SELECTED, key=mid.encode(), timeout=30)
    completed = await read_topic(stack.kafka, topics.SETUP_COMPLETED, key=mid.encode(), timeout=30)
    selected_at, completed_at = _record_time(selected[0]), _record_time(completed[0])
    listed = (await notifier.get("/v1/deliveries", params={"status": "all", "limit": 1000})).json()
    delivery = next(d for d in listed if d["merchant_id"] == mid and d["channel"] == "email")
    delivery = (await notifier.get(f"/v1/deliveries/{delivery['delivery_id']}")).json()
    recorded_at = datetime.fromisoformat(delivery["created_at"])
    attempt_at = datetime.fromisoformat(delivery["history"][0]["started_at"])
    return {"confirm_response": (c1 - c0) * 1000, "confirm_to_org_selected": _ms(selected_at, confirm_at),
            "confirm_to_finishable": (c2 - c0) * 1000, "finish_response": (f1 - f0) * 1000,
            "finish_to_setup_completed": _ms(completed_at, finish_at),
            "setup_completed_to_email": _ms(email_at, completed_at),
            "setup_completed_to_recorded": _ms(recorded_at, completed_at),
            "recorded_to_attempt": _ms(attempt_at, recorded_at), "attempt_to_email": _ms(email_at, attempt_at),
            "finish_to_email": _ms(email_at, finish_at),
            "finish_to_webhook": _ms(hook_at, finish_at), "confirm_to_email": _ms(email_at, confirm_at)}


async def run(cfg: Config, say: Callable[[str], None]) -> dict:
    """The `journey` section of the report."""
    runs: dict[str, list[float]] = {}
    with make_run(cfg.journey_port_offset, say) as stack:
        token = {"Authorization": f"Bearer {stack.secrets['notifier_api']}"}
        async with httpx.AsyncClient(base_url=stack.url(stack.ports.helpdesk), timeout=10) as helpdesk, \
                httpx.AsyncClient(base_url=stack.url(stack.ports.notifier), headers=token, timeout=10) as notifier:
            for rep in range(0, cfg.journey_reps + 1):
                await asyncio.sleep(random.uniform(0, 1))  # out of step with the dispatcher's 1 s poll
                figures = await walk(stack, helpdesk, notifier)
                say(f"  journey {'warm-up' if rep == 0 else f'rep {rep}'}: finish -> email "
                    f"{figures['finish_to_email']:.0f} ms, confirm -> email {figures['confirm_to_email']:.0f} ms")
                if rep:
                    for key, value in figures.items():
                        runs.setdefault(key, []).append(value)
    return {"repetitions": cfg.journey_reps, "unit": "ms",
            "measured": "t0 = just before the click's POST; email = the helpdesk SMTP sink's received_at; "
                        "Kafka = the record's CreateTime; one merchant per repetition (first one a warm-up)",
            "rows": [{"step": key, "label": label, "values": stats(runs[key])} for key, label in STEPS],
            "headline": {key: statistics.median(runs[key]) for key in HEADLINE}}


def table(report: dict) -> str | None:
    section = report.get("journey")
    if not section:
        return None
    head = ["journey step (make run stack)", "ms median [range]"]
    body = [[r["label"], cell(r["values"])] for r in section["rows"]]
    note = (f"journey: {section['repetitions']} merchants (one store each) walked over HTTP on the `make run` "
            f"stack after a warm-up one; the finish click is what triggers the email, and it is clicked as soon "
            f"as the summary shows the store; no baseline goal")
    return "\n".join([note, *grid(head, body)])
