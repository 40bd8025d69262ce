"""The helpdesk webhook, signed the Standard Webhooks way. `webhook-id` is the delivery id: the same on
every retry, so the receiver can drop a duplicate after a lost acknowledgement."""

from datetime import datetime
from email.utils import parsedate_to_datetime
from uuid import UUID

import httpx
from standardwebhooks.webhooks import Webhook

from shared.ports import Clock, utc_now

from .. import rendering
from ..domain.delivery import AttemptResult, Outcome, judge_http
from ..domain.notifications import Notification
from .guarded_http import blocked

USER_AGENT = "cloudpos-xero-notifier/1"


class WebhookSender:
    def __init__(self, url: str, secret: str, client: httpx.AsyncClient, wall: Clock = utc_now) -> None:
        self._url = url
        self._signer = Webhook(secret)
        self._client = client
        self._wall = wall  # the receiver checks webhook-timestamp against its real clock

    async def send(self, delivery_id: UUID, notification: Notification) -> AttemptResult:
        body = rendering.webhook_body(notification)
        msg_id, at = str(delivery_id), self._wall()
        headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": msg_id,
                   "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": self._signer.sign(msg_id, at, body)}
        try:
            response = await self._client.post(self._url, content=body.encode(), headers=headers)
        except httpx.TimeoutException as error:
            return AttemptResult(Outcome.TRANSIENT, f"no answer in time ({type(error).__name__})")
        except httpx.TransportError as error:
            if blocked(error):
                return AttemptResult(Outcome.PERMANENT, "the helpdesk host resolves to a forbidden address")
            return AttemptResult(Outcome.TRANSIENT, f"helpdesk unreachable ({type(error).__name__})")
        return judge_http(response.status_code, _retry_after(response, at), response.text[:200])


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Seconds from `Retry-After`, given as seconds or as an HTTP date; None when absent or unreadable."""
    raw = response.headers.get("retry-after", "").strip()
    if raw.isdigit():
        return float(raw)
    try:
        return max(0.0, (parsedate_to_datetime(raw) - now).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None
