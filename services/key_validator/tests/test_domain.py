"""The pure rules: key format, fingerprints, rate-limit buckets, refusal order and wording."""

import pickle
from datetime import UTC, datetime
from ipaddress import ip_address

import pytest

from key_validator.domain import (
    ApiKey,
    Code,
    InvalidKeyFormat,
    KeyFacts,
    MerchantFacts,
    client_bucket,
    fingerprint,
    judge_key,
    judge_licence,
    refusals,
)

from .fakes import FINGERPRINT_SECRET, XERO_KEY

GOOD = ["cpk_" + "a" * 16, "cpk_" + "A9_-" * 31, "cpk_demo_xero_steve_cycles_00000000000000001"]
BAD = ["", " ", "cpk_", "cpk_short", "CPK_" + "a" * 20, "sk_live_" + "a" * 20, "cpk_" + "a" * 125,
       "cpk_" + "a" * 19 + " ", "cpk_" + "a" * 10 + "\x00" + "a" * 10, "cpk_ääääääääääääääääää",
       "cpk_aaaaaaaaaa'; DROP TABLE x;--", "cpk_" + "a" * 20 + "\n", "cpk_aaaa/aaaa+aaaa=aaaa"]


@pytest.mark.parametrize("text", GOOD)
def test_well_formed_keys_are_accepted(text):
    assert ApiKey(text).reveal() == text


@pytest.mark.parametrize("text", BAD)
def test_malformed_keys_are_refused_without_repeating_them(text):
    with pytest.raises(InvalidKeyFormat) as refused:
        ApiKey(text)
    assert text.strip() == "" or text not in str(refused.value)


def test_a_key_never_shows_itself_by_accident():
    key = ApiKey(XERO_KEY)
    assert XERO_KEY not in f"{key} {key!r} {[key]} {({'k': key})}"
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_fingerprints_are_keyed_hashes():
    print_ = fingerprint(ApiKey(XERO_KEY), FINGERPRINT_SECRET)
    assert len(print_) == 64 and XERO_KEY not in print_
    assert print_ == fingerprint(ApiKey(XERO_KEY), FINGERPRINT_SECRET)
    assert print_ != fingerprint(ApiKey(XERO_KEY), b"another pepper entirely")


@pytest.mark.parametrize(("address", "bucket"), [
    ("203.0.113.9", "client:203.0.113.9"),
    ("::ffff:203.0.113.9", "client:203.0.113.9"),
    ("2001:db8:1:2:aaaa::1", "client:2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::9", "client:2001:db8:1:2::/64"),
])
def test_clients_are_counted_per_address_and_ipv6_per_64(address, bucket):
    assert client_bucket(ip_address(address)) == bucket


def _key(**facts) -> KeyFacts:
    base = {"active": True, "key_id": "k-1", "label": "Xero API Client", "service": "xero", "merchant_id": "m-1"}
    return KeyFacts(**base | facts)


@pytest.mark.parametrize(("facts", "code"), [
    (KeyFacts(active=False), Code.UNKNOWN_KEY),
    (_key(active=False, revoked_at=datetime(2026, 1, 1, tzinfo=UTC)), Code.KEY_REVOKED),
    (_key(active=False), Code.KEY_REVOKED),
    (_key(service="bike_rental_manager"), Code.KEY_FOR_OTHER_SERVICE),
    (_key(merchant_id="m-2"), Code.KEY_OF_OTHER_MERCHANT),
    # Another merchant's key reveals nothing else about itself: not its revocation, not its service.
    (_key(merchant_id="m-2", active=False, revoked_at=datetime(2026, 1, 1, tzinfo=UTC)), Code.KEY_OF_OTHER_MERCHANT),
    (_key(merchant_id="m-2", service="bike_rental_manager"), Code.KEY_OF_OTHER_MERCHANT),
    (_key(service="xero "), Code.KEY_FOR_OTHER_SERVICE),
])
def test_refusals_about_the_key(facts, code):
    assert judge_key(facts, "m-1").code == code


def test_an_active_xero_key_of_the_signed_in_merchant_passes():
    assert judge_key(_key(), "m-1") is None


@pytest.mark.parametrize("licence", ["pro", "standard", "lite", "enterprise"])
def test_only_pro_plus_may_use_the_integration(licence):
    refusal = judge_licence(MerchantFacts("m-1", "Basil's Bakery", licence))
    assert refusal.code == Code.LICENCE_NOT_PRO_PLUS and "Pro Plus" in refusal.message
    assert judge_licence(MerchantFacts("m-1", "Steve's Cycles", "pro_plus")) is None


def test_messages_name_the_other_service_and_the_licence_in_words():
    brm = refusals.key_for_other_service("bike_rental_manager").message
    assert "issued for Bike Rental Manager, not for Xero" in brm
    assert "issued for Stock Sync, not" in refusals.key_for_other_service("stock_sync").message
    assert "a Pro licence" in refusals.licence_not_pro_plus("pro").message


@pytest.mark.parametrize(("seconds", "words"), [(1, "1 minute "), (60, "1 minute "), (61, "2 minutes"),
                                                (900, "15 minutes")])
def test_throttling_says_how_long_to_wait(seconds, words):
    refusal = refusals.too_many_attempts(seconds)
    assert words in refusal.message and refusal.retry_after_seconds == seconds and refusal.retryable


def test_only_outages_and_throttling_are_retryable():
    assert refusals.cloudpos_unavailable().retryable
    assert not any(r.retryable for r in (refusals.unknown_key(), refusals.key_revoked(), refusals.invalid_format(),
                                         refusals.key_of_other_merchant(), refusals.licence_not_pro_plus("pro")))
