"""Which days a store owes, and the idempotency key of each."""

from datetime import date

from daily_sales.domain import DayPolicy, idempotency_key

MON, TUE, FRI = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 6)


def test_finalised_today_owes_yesterday_only():
    assert DayPolicy().due(today=MON, finalised_on=MON) == (date(2026, 3, 1),)


def test_each_following_day_owes_every_day_since_the_day_before_finalisation():
    assert DayPolicy().due(today=TUE, finalised_on=MON) == (date(2026, 3, 1), MON)
    assert DayPolicy().due(today=FRI, finalised_on=MON) == tuple(date(2026, 3, d) for d in range(1, 6))


def test_catch_up_is_bounded():
    assert DayPolicy(catch_up_days=2).due(today=FRI, finalised_on=MON) == (date(2026, 3, 4), date(2026, 3, 5))
    assert DayPolicy(catch_up_days=1).due(today=FRI, finalised_on=date(2025, 1, 1)) == (date(2026, 3, 5),)


def test_a_pinned_day_is_the_only_day():
    pinned = DayPolicy(pinned=date(2026, 2, 14))
    assert pinned.due(today=FRI, finalised_on=MON) == (date(2026, 2, 14),)
    assert pinned.due(today=date(2020, 1, 1), finalised_on=MON) == (date(2026, 2, 14),)


def test_a_clock_behind_the_finalisation_owes_nothing_yet():
    assert DayPolicy().due(today=MON, finalised_on=TUE) == ()


def test_the_idempotency_key_names_the_store_and_day_and_changes_only_on_a_redrive():
    assert idempotency_key("s-steve-1", date(2026, 3, 1)) == "daily-sales:s-steve-1:2026-03-01"
    assert idempotency_key("s-steve-1", date(2026, 3, 1), 2) == "daily-sales:s-steve-1:2026-03-01:redrive-2"
