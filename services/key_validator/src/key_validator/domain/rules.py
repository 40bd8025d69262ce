"""Which validations succeed: decided from Cloud POS's facts about the key and the merchant. Pure."""

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from shared.contracts import KeyValidated, Licence, Store

from . import refusals
from .keys import ApiKey, IpAddress, same
from .refusals import Code, Refusal

XERO = "xero"


@dataclass(frozen=True, slots=True)
class Validation:
    """The command: the signed-in merchant and user (vouched for by the caller) and the pasted key."""

    merchant_id: str
    user_id: str
    api_key: ApiKey
    client_address: IpAddress
    correlation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """What Cloud POS's introspection says. `key_id` None: Cloud POS does not know the key at all."""

    active: bool
    key_id: str | None = None
    label: str | None = None
    service: str | None = None
    merchant_id: str | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MerchantFacts:
    merchant_id: str
    name: str
    licence: str


@dataclass(frozen=True, slots=True)
class Validated:
    validation_id: UUID
    merchant_id: str
    merchant_name: str
    key_id: str
    key_label: str
    stores: tuple[Store, ...]
    licence: Licence = Licence.PRO_PLUS

    def event(self, validated_by: str) -> KeyValidated:
        return KeyValidated(merchant_id=self.merchant_id, merchant_name=self.merchant_name, key_id=self.key_id,
                            key_label=self.key_label, licence=self.licence, stores=self.stores,
                            validated_by=validated_by)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One audit row: who tried which key (by fingerprint only), from where, and what came of it."""

    validation_id: UUID
    merchant_id: str
    user_id: str
    client_address: IpAddress
    key_fingerprint: str
    attempted_at: datetime
    outcome: Code | None = None
    key_id: str | None = None

    def ended(self, outcome: Code, key_id: str | None = None) -> "Attempt":
        return replace(self, outcome=outcome, key_id=key_id)


def judge_key(key: KeyFacts, merchant_id: str) -> Refusal | None:
    """The key must be known, the signed-in merchant's own, still active and issued for Xero.

    Ownership is checked before anything else about a known key, so another merchant's key reveals
    nothing (not even whether it was revoked or what it is for).
    """
    if key.key_id is None:
        return refusals.unknown_key()
    if not same(key.merchant_id, merchant_id):
        return refusals.key_of_other_merchant()
    if not key.active or key.revoked_at is not None:
        return refusals.key_revoked()
    if not same(key.service, XERO):
        return refusals.key_for_other_service(key.service or "")
    return None


def judge_licence(merchant: MerchantFacts) -> Refusal | None:
    """Only a Pro Plus licence may use the Xero integration (see the knowledge-base article)."""
    if merchant.licence != Licence.PRO_PLUS.value:
        return refusals.licence_not_pro_plus(merchant.licence)
    return None
