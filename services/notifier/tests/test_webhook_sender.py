"""The signed webhook at the transport: verifiable with `standardwebhooks`, same id on every retry,
no redirects followed, Retry-After read (checklist 46, 47, 49)."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import uuid4

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier.adapters.webhook import WebhookSender
from notifier.domain.delivery import Outcome
from notifier.domain.notifications import notification_for
from shared.contracts.examples import ALL

from .fakes import START

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_QWxzbyBhIHZhbGlkIGJ1dCBkaWZmZXJlbnQ="
SETUP = next(e for e in ALL if e.type.endswith("SetupCompleted.v1"))
NOTIFICATION = notification_for(uuid4(), START, SETUP)


def sender(handler, wall=lambda: datetime.now(UTC)) -> tuple[WebhookSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record), follow_redirects=False)
    return WebhookSender("https://helpdesk.example.com/hooks", SECRET, client, wall), seen


async def test_every_delivery_verifies_and_tampering_a_wrong_secret_or_a_stale_timestamp_do_not():
    send, seen = sender(lambda r: httpx.Response(204))
    result = await send.send(uuid4(), NOTIFICATION)
    assert result.outcome is Outcome.DELIVERED
    request = seen[0]
    headers = dict(request.headers)
    assert Webhook(SECRET).verify(request.content, headers)["type"] == "integration.ready_to_finalise"
    assert headers["webhook-signature"].startswith("v1,") and headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.content.replace(b"m-1", b"m-2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(request.content, headers)

    stale, seen_stale = sender(lambda r: httpx.Response(204), wall=lambda: datetime.now(UTC) - timedelta(minutes=6))
    await stale.send(uuid4(), NOTIFICATION)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(seen_stale[0].content, dict(seen_stale[0].headers))


async def test_retries_carry_the_same_webhook_id_and_body():
    answers = iter([httpx.Response(503), httpx.Response(500), httpx.Response(200)])
    send, seen = sender(lambda r: next(answers))
    delivery = uuid4()
    outcomes = [(await send.send(delivery, NOTIFICATION)).outcome for _ in range(3)]
    assert outcomes == [Outcome.TRANSIENT, Outcome.TRANSIENT, Outcome.DELIVERED]
    assert {r.headers["webhook-id"] for r in seen} == {str(delivery)}
    assert len({r.content for r in seen}) == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_failures_and_are_not_followed(status):
    send, seen = sender(lambda r: httpx.Response(status, headers={"location": "http://169.254.169.254/"}))
    result = await send.send(uuid4(), NOTIFICATION)
    assert result.outcome is Outcome.PERMANENT and result.status_code == status
    assert len(seen) == 1


async def test_retry_after_is_read_as_seconds_or_as_a_date():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    send, _ = sender(lambda r: httpx.Response(429, headers={"retry-after": "120"}), wall=lambda: now)
    assert (await send.send(uuid4(), NOTIFICATION)).retry_after == 120
    later = format_datetime(now + timedelta(minutes=10), usegmt=True)
    send, _ = sender(lambda r: httpx.Response(503, headers={"retry-after": later}), wall=lambda: now)
    assert (await send.send(uuid4(), NOTIFICATION)).retry_after == 600
    send, _ = sender(lambda r: httpx.Response(503, headers={"retry-after": "soon"}), wall=lambda: now)
    assert (await send.send(uuid4(), NOTIFICATION)).retry_after is None


async def test_an_unreachable_or_slow_helpdesk_is_worth_retrying():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    for handler in (refuse, slow):
        send, _ = sender(handler)
        assert (await send.send(uuid4(), NOTIFICATION)).outcome is Outcome.TRANSIENT
