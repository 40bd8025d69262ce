"""Retention's rules without a database: the inbox horizon's two steps, the guard every consumer runs, the
settings' checks."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.contracts import CloudEvent
from shared.contracts.examples import key_validated
from shared.retention import GRACE, SKEW, Horizon, InboxHorizon, inbox_step, is_behind
from shared.settings import RetentionSettings

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
KEEP = timedelta(days=60)


def test_the_first_round_only_announces_a_horizon() -> None:
    assert inbox_step(NOW, None, KEEP) == (None, Horizon(NOW - KEEP, NOW))


def test_claims_behind_a_horizon_go_only_once_it_has_stood_for_the_grace() -> None:
    """A consumer may hold the previous horizon for HORIZON_TTL, and be inside its handler's transaction for a few
    minutes more: claims behind a new horizon must not go before that is surely over."""
    announced = Horizon(NOW - KEEP, NOW)
    assert GRACE >= timedelta(minutes=30)
    assert inbox_step(NOW + timedelta(minutes=29, seconds=59), announced, KEEP) == (None, None)
    later = NOW + GRACE
    assert inbox_step(later, announced, KEEP) == (NOW - KEEP - SKEW, Horizon(later - KEEP, later))


def test_the_horizon_never_moves_back() -> None:
    """A shorter inbox_days later (or a clock set back) must not bring pruned claims' events back to life."""
    announced = Horizon(NOW - KEEP, NOW - GRACE)
    _, announce = inbox_step(NOW, announced, timedelta(days=90))
    assert announce == Horizon(NOW - KEEP, NOW)


def _event(at: datetime) -> CloudEvent:
    return CloudEvent(data=key_validated("m-1"), source="/tests", time=at)


def test_an_event_older_than_the_horizon_counts_as_applied() -> None:
    assert is_behind(_event(NOW - KEEP - timedelta(seconds=1)), NOW - KEEP)
    assert not is_behind(_event(NOW - KEEP), NOW - KEEP)
    assert not is_behind(_event(NOW - timedelta(days=3650)), None)  # nothing pruned yet: everything is handled


class FakePool:
    def __init__(self, horizon: datetime | None) -> None:
        self.horizon = horizon
        self.reads = 0

    async def fetchval(self, _sql: str) -> datetime | None:
        self.reads += 1
        return self.horizon


async def test_the_guard_hands_young_events_on_and_leaves_old_ones_alone() -> None:
    pool, clock, handled = FakePool(NOW - KEEP), [0.0], []

    async def handle(event: CloudEvent) -> None:
        handled.append(event.id)

    guarded = InboxHorizon("svc", lambda: pool, ttl=60, monotonic=lambda: clock[0]).guard(handle)
    young, old = _event(NOW), _event(NOW - KEEP - timedelta(days=1))
    await guarded(young)
    await guarded(old)
    assert handled == [young.id]
    assert pool.reads == 1  # reused within its ttl
    pool.horizon, clock[0] = None, 60.0
    await guarded(old)  # reread after the ttl
    assert handled == [young.id, old.id] and pool.reads == 2


def test_the_defaults_hold_together() -> None:
    settings = RetentionSettings()
    assert settings.inbox_days >= settings.dead_letter_days + settings.max_consumer_lag_days


@pytest.mark.parametrize(("values", "complaint"), [
    ({"inbox_days": 30, "dead_letter_days": 30}, "inbox_days"),
    ({"inbox_days": 100, "finished_work_days": 90}, "finished_work_days"),
    ({"client_address_days": 500}, "client_address_days"),
])
def test_settings_that_would_apply_an_event_twice_or_keep_addresses_longer_are_refused(values, complaint) -> None:
    with pytest.raises(ValidationError, match=complaint):
        RetentionSettings(**values)


async def test_every_handler_a_service_subscribes_goes_through_the_horizon(monkeypatch) -> None:
    from shared.contracts import KeyValidated
    from shared.runtime import ServiceRuntime
    from shared.settings import DatabaseSettings, KafkaSettings

    runtime = ServiceRuntime("svc", database=DatabaseSettings(url="postgresql://svc@db/svc"),
                             kafka=KafkaSettings(bootstrap_servers="kafka:9092"), migrations=())
    subscribed, handled = [], []
    monkeypatch.setattr(runtime._consumer, "subscribe",
                        lambda _event, handle, _text, batch=None: subscribed.append((handle, batch)))
    monkeypatch.setattr(runtime, "_pool", FakePool(NOW - KEEP))

    async def handle(event: CloudEvent) -> None:
        handled.append(event.id)

    async def handle_batch(events: list[CloudEvent]) -> None:
        handled.append([event.id for event in events])

    runtime.consumes(KeyValidated, handle, "test", batch=handle_batch)
    young, old = _event(NOW), _event(NOW - KEEP - timedelta(days=1))
    for event in (old, young):
        await subscribed[0][0](event)
    await subscribed[0][1]([old, young])
    await subscribed[0][1]([old])
    assert handled == [young.id, [young.id]]   # the batch handler gets the young ones only, and nothing when none
