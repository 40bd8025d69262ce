"""The validation use case on fakes: every refusal, the success path, and the failed-attempt budgets."""

from ipaddress import ip_address
from uuid import uuid4

import pytest

from key_validator.domain import ApiKey, Code, Refusal, Validated, Validation
from key_validator.handlers import SOURCE
from shared.contracts import KeyValidated, Licence

from .fakes import BASIL, BASIL_KEY, BRM_KEY, REVOKED_KEY, STEVE, UNKNOWN_KEY, XERO_KEY

HOME = "203.0.113.9"


def command(key: str = XERO_KEY, merchant: str = STEVE, address: str = HOME, **extra) -> Validation:
    return Validation(merchant, "u-1", ApiKey(key), ip_address(address), **extra)


async def test_a_valid_key_answers_with_the_stores_and_stages_key_validated(handlers, uow):
    outcome = await handlers.validate(command())

    assert isinstance(outcome, Validated)
    assert (outcome.merchant_name, outcome.key_id, outcome.key_label) == ("Steve's Cycles", "k-steve-xero",
                                                                          "Xero API Client")
    assert [s.name for s in outcome.stores] == ["Steve's Cycles 1", "Steve's Cycles 2", "Steve's Cycles 3"]
    [event] = uow.committed.outbox
    assert event.data == KeyValidated(merchant_id=STEVE, merchant_name="Steve's Cycles", key_id="k-steve-xero",
                                      key_label="Xero API Client", licence=Licence.PRO_PLUS, stores=outcome.stores,
                                      validated_by="u-1")
    assert (event.source, event.subject, event.id) == (SOURCE, "k-steve-xero", outcome.validation_id)
    assert event.correlation_id == outcome.validation_id  # a journey starts here unless the caller names one
    assert XERO_KEY not in event.data.model_dump_json()
    [attempt] = uow.committed.attempts
    assert (attempt.outcome, attempt.key_id, attempt.validation_id) == (Code.VALIDATED, "k-steve-xero",
                                                                         outcome.validation_id)
    assert len(attempt.key_fingerprint) == 64 and XERO_KEY not in repr(attempt)


async def test_the_callers_correlation_id_is_kept(handlers, uow):
    journey = uuid4()
    await handlers.validate(command(correlation_id=journey))
    assert uow.committed.outbox[0].correlation_id == journey


@pytest.mark.parametrize(("key", "merchant", "code", "words"), [
    (UNKNOWN_KEY, STEVE, Code.UNKNOWN_KEY, "don't recognise"),
    (REVOKED_KEY, STEVE, Code.KEY_REVOKED, "revoked"),
    (BRM_KEY, STEVE, Code.KEY_FOR_OTHER_SERVICE, "issued for Bike Rental Manager, not for Xero"),
    (BASIL_KEY, STEVE, Code.KEY_OF_OTHER_MERCHANT, "different Cloud POS account"),
    (XERO_KEY, BASIL, Code.KEY_OF_OTHER_MERCHANT, "different Cloud POS account"),
    (BASIL_KEY, BASIL, Code.LICENCE_NOT_PRO_PLUS, "your account has a Pro licence"),
])
async def test_every_refusal_is_precise_audited_and_publishes_nothing(handlers, uow, clock, key, merchant, code,
                                                                     words):
    outcome = await handlers.validate(command(key, merchant))

    assert isinstance(outcome, Refusal)
    assert outcome.code == code and words in outcome.message and not outcome.retryable
    assert uow.committed.outbox == []
    assert [a.outcome for a in uow.committed.attempts] == [code]
    assert uow.live_hits(f"merchant:{merchant}", clock()) == 1  # a failure spends the budget
    assert uow.live_hits(f"client:{HOME}", clock()) == 1


@pytest.mark.parametrize("failing", ["introspect", "merchant", "stores"])
async def test_cloudpos_unavailable_is_retryable_and_costs_nothing(handlers, uow, cloudpos, clock, failing):
    cloudpos.down.add(failing)
    for _ in range(8):  # more than the merchant's budget of failures
        outcome = await handlers.validate(command())
        assert outcome.code == Code.CLOUDPOS_UNAVAILABLE and outcome.retryable
    assert uow.committed.outbox == []
    assert uow.live_hits(f"merchant:{STEVE}", clock()) == 0
    cloudpos.down.clear()
    assert isinstance(await handlers.validate(command()), Validated)


async def test_the_merchants_budget_stops_guessing_until_the_window_has_passed(handlers, uow, cloudpos, clock):
    for i in range(5):
        assert (await handlers.validate(command(f"cpk_guess{i:02d}_0123456789abcdef"))).code == Code.UNKNOWN_KEY
        clock.advance(seconds=10)
    asked = len(cloudpos.calls)

    throttled = await handlers.validate(command("cpk_guess99_0123456789abcdef"))
    assert throttled.code == Code.TOO_MANY_ATTEMPTS and throttled.retryable
    assert throttled.retry_after_seconds == 900 - 50  # the oldest failure leaves the window first
    assert (await handlers.validate(command())).code == Code.TOO_MANY_ATTEMPTS  # even the right key, for now
    assert len(cloudpos.calls) == asked  # throttled attempts never reach Cloud POS
    assert [a.outcome for a in uow.committed.attempts][-2:] == [Code.TOO_MANY_ATTEMPTS] * 2

    clock.advance(seconds=throttled.retry_after_seconds)
    assert isinstance(await handlers.validate(command()), Validated)


async def test_a_success_does_not_wipe_earlier_failures(handlers, clock):
    for i in range(4):
        await handlers.validate(command(f"cpk_guess{i:02d}_0123456789abcdef"))
    assert isinstance(await handlers.validate(command()), Validated)
    await handlers.validate(command(UNKNOWN_KEY))
    assert (await handlers.validate(command())).code == Code.TOO_MANY_ATTEMPTS


async def test_one_address_trying_many_merchants_is_stopped(handlers, cloudpos):
    for i in range(20):
        merchant = f"m-victim-{i}"
        cloudpos.add_merchant(merchant, f"Victim {i}")
        assert (await handlers.validate(command(UNKNOWN_KEY, merchant))).code == Code.UNKNOWN_KEY

    assert (await handlers.validate(command())).code == Code.TOO_MANY_ATTEMPTS  # Steve, from that address
    assert isinstance(await handlers.validate(command(address="198.51.100.7")), Validated)


async def test_ipv6_neighbours_share_one_budget(handlers):
    for i in range(20):
        await handlers.validate(command(UNKNOWN_KEY, f"m-{i}", address=f"2001:db8:0:7::{i + 1:x}"))
    assert (await handlers.validate(command(address="2001:db8:0:7:ffff::1"))).code == Code.TOO_MANY_ATTEMPTS
    assert isinstance(await handlers.validate(command(address="2001:db8:0:8::1")), Validated)
