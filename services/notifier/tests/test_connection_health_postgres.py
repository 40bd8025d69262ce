"""Connection health on a real PostgreSQL: the stores of an incident join one merchant email while it is not
attempted yet, a restoration takes its store out (and cancels what is left empty), the stop link cancels the
reminders, a missing contact email records the helpdesk's notice with the attempt, nothing cancelled is sent."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from notifier.adapters.postgres import PgDeliveries, PgNotifierTransaction
from notifier.connection_health import ConnectionHealth, ReminderStops
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import AttemptResult, Channel, Outcome, RetryPolicy
from notifier.domain.incidents import MerchantNotice, ReminderSchedule
from notifier.domain.stop_links import stop_token
from notifier.handlers import DeliveryAdmin
from notifier.main import MIGRATIONS
from shared.contracts import CloudEvent, ConnectionBroken, ConnectionRestored
from shared.contracts.examples import ALL
from shared.delivery import DELIVERY_MIGRATIONS, apply_migrations, unit_of_work

from .fakes import FakeClock, ScriptedSender

pytestmark = pytest.mark.postgres
BROKEN = next(e for e in ALL if isinstance(e, ConnectionBroken))
RESTORED = next(e for e in ALL if isinstance(e, ConnectionRestored))
HELPDESK = (Channel.EMAIL, Channel.WEBHOOK)
SECRET = b"a-reminder-link-secret-of-32-bytes!!"
STORES = ("s-1", "s-2", "s-3")


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=10)
    await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
    yield pool
    await pool.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def health(pool, clock) -> ConnectionHealth:
    schedule = ReminderSchedule((1, 3, 7), timedelta(minutes=1), timedelta(seconds=5))
    return ConnectionHealth(unit_of_work(lambda: pool, PgNotifierTransaction), HELPDESK, schedule, clock)


def broken(incident, store_id: str, since: datetime) -> CloudEvent:
    return CloudEvent(data=BROKEN.model_copy(update={"incident_id": incident, "store_id": store_id, "since": since,
                                                     "store_name": f"Store {store_id}"}), source="/t")


def restored(incident, store_id: str) -> CloudEvent:
    return CloudEvent(data=RESTORED.model_copy(update={"incident_id": incident, "store_id": store_id}), source="/t")


async def merchant_rows(pool, incident) -> list[tuple[str, str, list[str]]]:
    rows = await pool.fetch("SELECT kind, status, notification FROM helpdesk_deliveries WHERE incident_id = $1"
                            " AND channel = 'merchant_email' ORDER BY (notification->>'reminder')::int", incident)
    return [(r["kind"], r["status"], [s.store_id for s in MerchantNotice.model_validate_json(r["notification"]).stores])
            for r in rows]


async def test_the_stores_of_an_incident_share_the_merchants_emails_and_leave_them_when_restored(pool, health, clock):
    incident = uuid4()
    for store in STORES:
        await health.broken(broken(incident, store, clock()))
        await health.broken(broken(incident, store, clock()))          # a second copy (another event id)
    assert await pool.fetchval("SELECT count(*) FROM helpdesk_deliveries WHERE incident_id = $1"
                               " AND channel <> 'merchant_email'", incident) == 6  # every store, each channel
    assert [stores for _, _, stores in await merchant_rows(pool, incident)] == [list(STORES)] * 4

    await health.restored(restored(incident, "s-2"))
    assert {tuple(stores) for _, _, stores in await merchant_rows(pool, incident)} == {("s-1", "s-3")}
    for store in ("s-1", "s-3"):
        await health.restored(restored(incident, store))
    assert {status for _, status, _ in await merchant_rows(pool, incident)} == {"cancelled"}
    assert await pool.fetchval("SELECT count(*) FROM helpdesk_deliveries WHERE incident_id = $1"
                               " AND kind = 'integration.connection_restored'", incident) == 6
    assert await pool.fetchval("SELECT count(*) FROM connection_incidents WHERE incident_id = $1"
                               " AND restored_at IS NOT NULL", incident) == 3


async def test_a_store_joins_only_emails_not_attempted_yet(pool, health, clock):
    incident, sender = uuid4(), ScriptedSender()
    await health.broken(broken(incident, "s-1", clock()))
    clock.advance(seconds=5)
    dispatcher = Dispatcher(PgDeliveries(lambda: pool), {c: sender for c in (*HELPDESK, Channel.MERCHANT_EMAIL)},
                            clock, RetryPolicy())
    await dispatcher.run_once()
    await health.broken(broken(incident, "s-2", clock() - timedelta(seconds=5)))
    first, *reminders = await merchant_rows(pool, incident)
    assert first == ("merchant.connection_broken", "delivered", ["s-1"])   # sent: its bytes never change
    assert {tuple(stores) for _, _, stores in reminders} == {("s-1", "s-2")}


async def test_the_stop_link_cancels_the_reminders_and_nothing_cancelled_is_sent(pool, health, clock):
    incident, sender = uuid4(), ScriptedSender()
    await health.broken(broken(incident, "s-1", clock()))
    stops = ReminderStops(unit_of_work(lambda: pool, PgNotifierTransaction), SECRET, clock)
    stopped = await stops.stop(stop_token(SECRET, BROKEN.merchant_id, incident, clock() + timedelta(days=1)))
    assert stopped.cancelled == 3 and [i.store_id for i in stopped.incidents] == ["s-1"]
    assert stopped.incidents[0].reminders_stopped_at is not None
    clock.advance(hours=1)
    dispatcher = Dispatcher(PgDeliveries(lambda: pool), {c: sender for c in (*HELPDESK, Channel.MERCHANT_EMAIL)},
                            clock, RetryPolicy())
    assert await dispatcher.run_once() == 3                               # the helpdesk's two and the first email
    assert [n.kind for _, n in sender.sent].count("merchant.connection_broken_reminder") == 0
    [reminder, *_] = await pool.fetch("SELECT delivery_id FROM helpdesk_deliveries WHERE incident_id = $1"
                                      " AND status = 'cancelled'", incident)
    assert not (await DeliveryAdmin(PgDeliveries(lambda: pool), clock).redrive(reminder["delivery_id"])).redriven


async def test_a_restoration_consumed_first_means_no_merchant_email(pool, health, clock):
    incident = uuid4()
    await health.restored(restored(incident, "s-1"))
    await health.broken(broken(incident, "s-1", clock() - timedelta(minutes=1)))
    assert await merchant_rows(pool, incident) == []
    assert await pool.fetchval("SELECT count(*) FROM helpdesk_deliveries WHERE incident_id = $1", incident) == 4


async def test_no_contact_email_parks_the_email_and_records_the_helpdesks_notice_once(pool, health, clock):
    incident = uuid4()
    await health.broken(broken(incident, "s-1", clock()))
    nobody = ScriptedSender(AttemptResult(Outcome.PERMANENT, "no contact email", no_recipient=True))
    helpdesk = ScriptedSender()
    dispatcher = Dispatcher(PgDeliveries(lambda: pool), {Channel.MERCHANT_EMAIL: nobody, Channel.EMAIL: helpdesk,
                                                         Channel.WEBHOOK: helpdesk}, clock, RetryPolicy(),
                            helpdesk=HELPDESK)
    for _ in range(2):
        clock.advance(minutes=1, seconds=1)                               # the first email, then reminder 1
        while await dispatcher.run_once():
            pass
    assert [k for _, k, _ in (await merchant_rows(pool, incident))[:2]] == ["parked", "parked"]
    assert [n.kind for _, n in helpdesk.sent].count("integration.merchant_unreachable") == 2  # email + webhook
