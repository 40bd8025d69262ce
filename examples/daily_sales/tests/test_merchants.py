"""How the registry's events, in any order, change a merchant's map and finalisation."""

from datetime import timedelta
from uuid import UUID

from daily_sales.domain import Link, Merchant
from daily_sales.domain import merchants as rules

from .fakes import START

T1, T2 = UUID(int=1), UUID(int=2)
A, B, C = (Link("s-a", "A", T1, "Org 1"), Link("s-b", "B", T1, "Org 1"), Link("s-c", "C", T2, "Org 2"))
LATER = START + timedelta(minutes=5)


def test_a_merchant_posts_only_once_finalised_and_linked():
    linked = rules.setup_completed(Merchant("m"), (A, C), "M", START, resend=False)
    assert linked.links == (A, C) and linked.postable == ()
    finalised = rules.finalised(linked, "helpdesk", LATER)
    assert finalised.postable == (A, C) and finalised.finalised_by == "helpdesk"
    assert rules.finalised(Merchant("m"), "helpdesk", START).postable == ()  # finalised before the map came


def test_a_second_finalisation_changes_nothing():
    once = rules.finalised(Merchant("m"), "h1", START)
    assert rules.finalised(once, "h2", LATER) is None


def test_a_resent_setup_completed_cannot_roll_back_a_newer_map():
    changed = rules.with_map(Merchant("m"), (A,), LATER, "M")
    assert rules.setup_completed(changed, (A, B, C), "M", LATER + timedelta(hours=1), resend=True) is None


def test_an_older_map_arriving_late_is_ignored_and_an_equal_or_newer_one_replaces():
    held = rules.with_map(Merchant("m"), (A, B), LATER, "M")
    assert rules.setup_completed(held, (A, B, C), "M", START, resend=False) is None
    assert rules.with_map(held, (C,), LATER, "M").links == (C,)
    assert rules.with_map(held, (), LATER + timedelta(seconds=1), "M").links == ()


def test_an_org_disconnected_stops_its_stores_and_keeps_others():
    held = rules.with_map(Merchant("m"), (A, B, C), START, "M")
    after = rules.org_disconnected(held, T1, LATER)
    assert after.links == (C,) and after.disconnected == {T1: LATER}


def test_an_older_map_cannot_bring_a_disconnected_org_back_but_a_newer_one_can():
    gone = rules.org_disconnected(Merchant("m"), T1, LATER)  # the disconnection came first
    assert rules.with_map(gone, (A, C), START, "M").links == (C,)
    assert rules.with_map(gone, (A, C), LATER + timedelta(minutes=1), "M").links == (A, C)


def test_a_disconnection_older_than_the_held_map_leaves_the_map_alone():
    newer = rules.with_map(Merchant("m"), (A, C), LATER, "M")
    assert rules.org_disconnected(newer, T1, START).links == (A, C)


def test_the_latest_disconnection_time_is_remembered():
    twice = rules.org_disconnected(rules.org_disconnected(Merchant("m"), T1, LATER), T1, START)
    assert twice.disconnected[T1] == LATER
