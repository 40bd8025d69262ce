"""A store's connection health as the merchant sees it, the words for each reason, and the signed reconnect link.

Only three things break a connection: `invalid_grant`, a 401 a refresh does not cure, and the organisation
missing from /connections (plus a subscription downgraded below Standard, found by the daily re-read).
Xero being slow, down or rate-limited is never a break: nothing here is told about it.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote
from uuid import UUID

from shared.contracts import BreakReason, XeroUser

REASON_WORDS = {
    BreakReason.REMOVED_IN_XERO: "the Cloud POS app was removed from this organisation inside Xero",
    BreakReason.AUTHORISATION_EXPIRED: "the Xero authorisation has expired or was withdrawn (for example, the Xero "
                                       "user who connected it no longer has access)",
    BreakReason.ORGANISATION_DELETED: "the Xero organisation no longer exists",
    BreakReason.SUBSCRIPTION_DOWNGRADED: "the organisation's Xero subscription is no longer Standard or better",
    BreakReason.NEW_PERMISSIONS_NEEDED: "Cloud POS needs new permissions in Xero",
}


def reason_words(reason: BreakReason | str | None) -> str:
    try:
        return REASON_WORDS[BreakReason(reason)]
    except ValueError:
        return "the connection to Xero stopped working"


class Health(StrEnum):
    CONNECTED = "connected"
    RECONNECT_NEEDED = "reconnect_needed"


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """One store's line on the merchant's page."""

    store_id: str
    store_name: str
    tenant_id: UUID
    organisation_name: str
    health: Health
    reason: BreakReason | None = None
    since: datetime | None = None
    authorised_by: XeroUser | None = None

    @property
    def reason_words(self) -> str:
        return reason_words(self.reason)


@dataclass(frozen=True, slots=True)
class ReconnectLinks:
    """Signed, expiring, single-purpose links to one store's reconnect (they lead through sign-in, so a leaked
    link alone grants nothing). HMAC-SHA256 over purpose, merchant, store, incident and expiry."""

    secret: bytes
    base_url: str
    ttl: timedelta = timedelta(days=14)

    def url(self, merchant_id: str, store_id: str, incident_id: UUID, now: datetime) -> str:
        expires = int((now + self.ttl).timestamp())
        token = f"{incident_id}.{expires}.{self._mac(merchant_id, store_id, incident_id, expires)}"
        return f"{self.base_url.rstrip('/')}/reconnect/{quote(store_id, safe='')}?link={token}"

    def verify(self, merchant_id: str, store_id: str, token: str, now: datetime) -> bool:
        """Only for this merchant's store, unexpired and untampered."""
        try:
            incident, expires, mac = token.split(".")
            incident_id, expiry = UUID(incident), int(expires)
        except ValueError:
            return False
        expected = self._mac(merchant_id, store_id, incident_id, expiry)
        return hmac.compare_digest(mac, expected) and now.timestamp() < expiry

    def _mac(self, merchant_id: str, store_id: str, incident_id: UUID, expires: int) -> str:
        message = f"reconnect\n{merchant_id}\n{store_id}\n{incident_id}\n{expires}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
