"""The merchant → store → organisation graph and its rules. Pure and synchronous: no I/O here."""

from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from shared.contracts import KeyValidated


class StoreState(StrEnum):
    ELIGIBLE = "eligible"            # listed by a validated key, not yet sent to Xero
    AUTHORISED = "authorised"        # consent given, no organisation chosen yet
    CONNECTED = "connected"          # posting to one organisation
    DISCONNECTED = "disconnected"    # was connected; `reason` says why


@dataclass(frozen=True, slots=True)
class StoreRecord:
    merchant_id: str
    store_id: str
    name: str
    state: StoreState = StoreState.ELIGIBLE
    tenant_id: UUID | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Merchant:
    merchant_id: str
    name: str
    licence: str
    key_id: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One append-only line of a merchant's history."""

    merchant_id: str
    what: str
    actor: str
    reason: str | None
    event_id: UUID
    causation_id: UUID | None
    store_id: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What a rule decided: rows to upsert and lines to append."""

    merchant: Merchant | None
    stores: tuple[StoreRecord, ...]
    timeline: tuple[TimelineEntry, ...]


def validate_key(known: dict[str, StoreRecord], event: KeyValidated, event_id: UUID,
                 causation_id: UUID | None) -> Change:
    """A validated key makes its stores eligible; stores already further along keep their state."""
    stores = tuple(
        replace(known[s.store_id], name=s.name) if s.store_id in known
        else StoreRecord(merchant_id=event.merchant_id, store_id=s.store_id, name=s.name)
        for s in event.stores)
    merchant = Merchant(event.merchant_id, event.merchant_name, event.licence.value, event.key_id)
    entry = TimelineEntry(event.merchant_id, f"Cloud POS API key '{event.key_label}' validated; "
                          f"{len(stores)} store(s) eligible", event.validated_by, None, event_id, causation_id)
    return Change(merchant, stores, (entry,))
