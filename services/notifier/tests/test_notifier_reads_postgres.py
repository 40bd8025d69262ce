"""What the helpdesk console reads from the notifier, on a real PostgreSQL: a setup reminder stored, leased and
sent like any delivery; pages of parked deliveries by when they were parked; a merchant's deliveries newest first;
the per-merchant counts in one statement, answered from the indexes in a few ms with 10,000 merchants' rows."""

import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from notifier.adapters.postgres import NOTICES, PgDeliveries, PgNotifierTransaction, listing_query
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import AttemptResult, Channel, Outcome, RetryPolicy, Status
from notifier.domain.setup_reminders import SetupReminder
from notifier.handlers import DeliveryAdmin, NotifierHandlers
from notifier.main import MIGRATIONS
from notifier.views import Order
from shared.contracts import CloudEvent, SetupCompleted, SetupReminderRequested
from shared.contracts.examples import ALL, LINK
from shared.delivery import DELIVERY_MIGRATIONS, apply_migrations, unit_of_work

from .fakes import FakeClock, ScriptedSender

pytestmark = pytest.mark.postgres
REMIND = next(e for e in ALL if isinstance(e, SetupReminderRequested))
MERCHANTS = 10_000


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=10)
    await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
    yield pool
    await pool.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


async def test_a_setup_reminder_is_recorded_once_leased_and_sent_as_itself(pool, clock):
    handlers = NotifierHandlers(unit_of_work(lambda: pool, PgNotifierTransaction), (Channel.EMAIL,), clock)
    event = CloudEvent(data=REMIND, source="/tests")
    assert [await handlers.remind(event), await handlers.remind(event)] == [1, 0]
    mail = ScriptedSender()
    assert await Dispatcher(PgDeliveries(lambda: pool), {Channel.MERCHANT_EMAIL: mail}, clock,
                            RetryPolicy()).run_once() == 1
    [(_, sent)] = mail.sent
    assert isinstance(sent, SetupReminder) and sent.links == REMIND.links and sent.event_id == event.id
    row = await pool.fetchrow("SELECT kind, channel, status, incident_id FROM helpdesk_deliveries")
    assert dict(row) == {"kind": "merchant.setup_reminder", "channel": "merchant_email", "status": "delivered",
                         "incident_id": None}


async def test_parked_pages_by_parked_time_and_a_merchants_deliveries_newest_first(pool, clock):
    handlers = NotifierHandlers(unit_of_work(lambda: pool, PgNotifierTransaction), (Channel.WEBHOOK,), clock)
    deliveries, refused = PgDeliveries(lambda: pool), ScriptedSender(AttemptResult(Outcome.PERMANENT, "HTTP 410"))
    dispatcher = Dispatcher(deliveries, {Channel.WEBHOOK: refused}, clock, RetryPolicy())
    for merchant in ("m-a", "m-b", "m-c"):
        clock.advance(minutes=1)
        await handlers.notify(CloudEvent(data=SetupCompleted(merchant_id=merchant, merchant_name="M", links=(LINK,),
                                                             completed_by="u"), source="/t"))
        await dispatcher.run_once()
    admin = DeliveryAdmin(deliveries, clock)
    [first, *_] = await admin.listing()
    clock.advance(minutes=1)
    await admin.redrive(first.delivery_id)
    await dispatcher.run_once()                                           # m-a parked again, now the latest

    async def merchants(**kw) -> list[str]:
        return [v.merchant_id for v in await admin.listing(**kw)]

    assert await merchants() == ["m-b", "m-c", "m-a"]
    assert await merchants(order=Order.NEWEST, limit=2) == ["m-a", "m-c"]
    assert await merchants(limit=2, offset=2) == ["m-a"]
    assert await merchants(status=None) == ["m-a", "m-b", "m-c"]              # all: by when recorded
    assert await admin.count() == 3 and await admin.count(Status.PARKED, "m-b") == 1
    assert await admin.count(Status.DELIVERED) == 0 and await admin.count(None) == 3
    await handlers.remind(CloudEvent(data=REMIND.model_copy(update={"merchant_id": "m-a"}), source="/t"))
    newest = await admin.listing(None, 10, merchant_id="m-a", order=Order.NEWEST)
    assert [v.kind.value for v in newest] == ["merchant.setup_reminder", "integration.ready_to_finalise"]


async def seed(pool: asyncpg.Pool, now: datetime) -> None:
    """10,000 merchants, six deliveries each: the helpdesk's two notices, a broken connection's email and a
    reminder (delivered), a setup reminder (delivered for even merchants, else parked) and one pending."""
    await pool.execute("""
        INSERT INTO helpdesk_deliveries (delivery_id, event_id, channel, kind, merchant_id, notification, status,
                                         created_at, delivered_at, parked_at)
        SELECT gen_random_uuid(), gen_random_uuid(), d.channel, d.kind, 'm-' || lpad(m::text, 5, '0'), '{}'::jsonb,
               d.status, $1::timestamptz - make_interval(mins => m + d.n),
               CASE WHEN d.status = 'delivered' THEN $1::timestamptz - make_interval(mins => m) END,
               CASE WHEN d.status = 'parked' THEN $1::timestamptz - make_interval(mins => m) END
          FROM generate_series(1, $2::int) AS m,
               LATERAL (VALUES (1, 'email', 'integration.ready_to_finalise', 'delivered'),
                               (2, 'webhook', 'integration.ready_to_finalise', 'delivered'),
                               (3, 'merchant_email', 'merchant.connection_broken', 'delivered'),
                               (4, 'merchant_email', 'merchant.connection_broken_reminder', 'delivered'),
                               (5, 'merchant_email', 'merchant.setup_reminder',
                                CASE WHEN m % 2 = 0 THEN 'delivered' ELSE 'parked' END),
                               (6, 'merchant_email', 'merchant.connection_broken_reminder', 'pending'))
                       AS d(n, channel, kind, status)""", now, MERCHANTS)
    await pool.execute("ANALYZE helpdesk_deliveries")


async def timed(call, runs: int = 40) -> tuple[object, float]:
    """The answer and the p95 in ms (after one warm-up)."""
    result = await call()
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        took.append((time.perf_counter() - start) * 1000)
    return result, statistics.quantiles(took, n=20)[-1]


async def test_console_reads_answer_from_the_indexes_in_a_few_ms_with_ten_thousand_merchants(pool, clock):
    await seed(pool, clock())
    admin = DeliveryAdmin(PgDeliveries(lambda: pool), clock)
    page = [f"m-{n:05d}" for n in range(4_001, 4_101)]
    notices, p95_notices = await timed(lambda: admin.notices(page))
    assert len(notices) == 100
    first, second = notices[0], notices[1]
    assert (first.merchant_id, first.emails_sent, first.reminders_sent, first.setup_reminders_sent, first.parked) \
        == ("m-04001", 2, 1, 0, 1)
    assert (second.emails_sent, second.setup_reminders_sent, second.parked) == (3, 1, 0)
    assert second.last_sent_at == clock() - timedelta(minutes=4_002)
    parked, p95_parked = await timed(lambda: admin.listing(Status.PARKED, 50, offset=2_000))
    assert len(parked) == 50 and parked == sorted(parked, key=lambda v: v.parked_at)
    total, p95_count = await timed(lambda: admin.count(Status.PARKED))
    assert total == MERCHANTS // 2
    sent, p95_sent = await timed(lambda: admin.listing(None, 50, merchant_id="m-04321", order=Order.NEWEST))
    assert len(sent) == 6 and sent[0].kind.value == "integration.ready_to_finalise"
    print(f"\nnotices(100) p95 {p95_notices:.2f} ms, parked page p95 {p95_parked:.2f} ms, "
          f"parked count p95 {p95_count:.2f} ms, a merchant's deliveries p95 {p95_sent:.2f} ms")
    assert max(p95_notices, p95_parked, p95_count, p95_sent) < 50     # "a few ms", with room for a busy machine

    statements = (("notices", NOTICES, [page]), ("parked page", *listing_query(Status.PARKED, 50, 2_000, None, False)),
                  ("parked count", "SELECT count(*) FROM helpdesk_deliveries WHERE status = 'parked'", []),
                  ("sent to", *listing_query(None, 50, 0, "m-04321", True)))
    for what, sql, args in statements:
        plan = "\n".join(r[0] for r in await pool.fetch(f"EXPLAIN {sql}", *args))
        assert "Seq Scan" not in plan, (what, plan)
