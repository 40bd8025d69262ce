"""What the service knows about a merchant: finalised or not, and its store → organisation map.

The map comes from the registry's events, which arrive on several topics, so in no guaranteed order:
- SetupCompleted gives the first map; a resend (its causation id names the original) carries that OLD map and
  is ignored. ConnectionsChanged gives each later map whole. A map older than the one held is ignored.
- OrgDisconnected takes the organisation's stores out of the map held (unless that map is newer), and is
  remembered, so an older map arriving late cannot bring them back.
- SetupFinalised only sets the flag: posting starts once the merchant is finalised AND has a map.
Every rule returns the merchant as it becomes, or None when the event changes nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Link:
    store_id: str
    store_name: str
    tenant_id: UUID
    organisation_name: str


@dataclass(frozen=True, slots=True)
class Merchant:
    merchant_id: str
    name: str | None = None
    finalised_at: datetime | None = None
    finalised_by: str | None = None
    links: tuple[Link, ...] = ()
    links_as_of: datetime | None = None
    disconnected: Mapping[UUID, datetime] = field(default_factory=lambda: MappingProxyType({}))
    """Organisation → when it was last disconnected from this merchant."""

    @property
    def postable(self) -> tuple[Link, ...]:
        """The stores that get invoices: all linked stores, once the merchant is finalised."""
        return self.links if self.finalised_at is not None else ()


def with_map(merchant: Merchant, links: tuple[Link, ...], as_of: datetime, name: str) -> Merchant | None:
    """Take a whole new map, unless an equal-or-newer one is held already; an organisation disconnected at or
    after the map's time stays out of it."""
    if merchant.links_as_of is not None and as_of < merchant.links_as_of:
        return None
    kept = tuple(link for link in links
                 if (gone := merchant.disconnected.get(link.tenant_id)) is None or gone < as_of)
    return replace(merchant, name=name, links=kept, links_as_of=as_of)


def setup_completed(merchant: Merchant, links: tuple[Link, ...], name: str, at: datetime,
                    resend: bool) -> Merchant | None:
    return None if resend else with_map(merchant, links, at, name)


def finalised(merchant: Merchant, by: str, at: datetime) -> Merchant | None:
    """The first finalisation counts (its date decides the first day posted); repeats change nothing."""
    if merchant.finalised_at is not None:
        return None
    return replace(merchant, finalised_at=at, finalised_by=by)


def org_disconnected(merchant: Merchant, tenant_id: UUID, at: datetime) -> Merchant:
    """Stop posting for the organisation's stores; remember when, against late older maps."""
    previous = merchant.disconnected.get(tenant_id)
    disconnected = dict(merchant.disconnected) | {tenant_id: at if previous is None else max(previous, at)}
    links = merchant.links
    if merchant.links_as_of is None or merchant.links_as_of <= at:
        links = tuple(link for link in links if link.tenant_id != tenant_id)
    return replace(merchant, links=links, disconnected=MappingProxyType(disconnected))
