"""The notifier's PostgreSQL adapter: delivery rows recorded with the inbox claim, leased with SKIP LOCKED;
the incidents of connection health."""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.contracts import BreakReason
from shared.delivery import Transaction, transaction

from ..domain.delivery import AttemptResult, Channel, Claimed, Decision, NewDelivery, Status, load_payload
from ..domain.incidents import Incident, MerchantNotice
from ..domain.notifications import Kind
from ..views import AttemptView, DeliveryView, MerchantNotices

_COLUMNS = ("delivery_id, event_id, kind, channel, merchant_id, incident_id, status, attempts, redrives,"
            " next_attempt_at, last_error, created_at, delivered_at, parked_at, cancelled_at")
_INSERT = """
INSERT INTO helpdesk_deliveries (delivery_id, event_id, channel, kind, merchant_id, incident_id, notification,
                                 status, next_attempt_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, 'pending', $8, $9) ON CONFLICT DO NOTHING"""
_UNTOUCHED = """
SELECT notification FROM helpdesk_deliveries
 WHERE delivery_id = $1 AND status = 'pending' AND attempts = 0 FOR UPDATE"""
_OWED = """
SELECT delivery_id, notification FROM helpdesk_deliveries
 WHERE merchant_id = $1 AND incident_id = ANY($2::uuid[]) AND kind = ANY($3::text[])
   AND channel = 'merchant_email' AND status IN ('pending', 'parked') ORDER BY delivery_id FOR UPDATE"""
_CANCEL = """
UPDATE helpdesk_deliveries SET status = 'cancelled', cancelled_at = $2, next_attempt_at = NULL, last_error = $3
 WHERE delivery_id = ANY($1::uuid[])"""
_INCIDENT = ("merchant_id, incident_id, store_id, store_name, tenant_id, organisation_name, reason, since,"
             " reconnect_url, restored_at, reminders_stopped_at")
_OPEN = """
INSERT INTO connection_incidents AS c (incident_id, store_id, merchant_id, store_name, tenant_id, organisation_name,
                                       reason, since, reconnect_url, opened_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
ON CONFLICT (incident_id, store_id) DO UPDATE SET
    store_name = coalesce(c.store_name, excluded.store_name), tenant_id = coalesce(c.tenant_id, excluded.tenant_id),
    organisation_name = coalesce(c.organisation_name, excluded.organisation_name),
    reason = coalesce(c.reason, excluded.reason), since = coalesce(c.since, excluded.since),
    reconnect_url = coalesce(c.reconnect_url, excluded.reconnect_url), opened_at = coalesce(c.opened_at, now())
RETURNING restored_at"""
_RESTORE = f"""
INSERT INTO connection_incidents AS c (incident_id, store_id, merchant_id, restored_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id, store_id) DO UPDATE SET restored_at = coalesce(c.restored_at, excluded.restored_at)
RETURNING {_INCIDENT}"""
_RESTORE_OLDER = f"""
UPDATE connection_incidents SET restored_at = $4
 WHERE merchant_id = $3 AND store_id = $2 AND incident_id <> $1 AND restored_at IS NULL AND since <= $4
RETURNING {_INCIDENT}"""
_STOP = f"""
UPDATE connection_incidents SET reminders_stopped_at = coalesce(reminders_stopped_at, $3)
 WHERE merchant_id = $1 AND incident_id = $2 RETURNING {_INCIDENT}"""
_CLAIM = """
WITH picked AS (
    SELECT p.delivery_id, p.next_attempt_at, c.channel
      FROM unnest($4::text[], $5::int[]) AS c(channel, room) CROSS JOIN LATERAL (
           SELECT delivery_id, next_attempt_at FROM helpdesk_deliveries
            WHERE status = 'pending' AND next_attempt_at <= $1 AND channel = c.channel
            ORDER BY next_attempt_at LIMIT least(c.room, $2) FOR UPDATE SKIP LOCKED) p),
due AS (
    SELECT delivery_id FROM (
           SELECT delivery_id, next_attempt_at,
                  row_number() OVER (PARTITION BY channel ORDER BY next_attempt_at) AS turn FROM picked) t
     ORDER BY turn, next_attempt_at LIMIT $2),
leased AS (
    UPDATE helpdesk_deliveries d
       SET attempts = d.attempts + 1, cycle_attempts = d.cycle_attempts + 1, next_attempt_at = $3
      FROM due WHERE d.delivery_id = due.delivery_id
    RETURNING d.delivery_id, d.channel, d.notification, d.attempts, d.cycle_attempts),
abandoned AS (   -- an earlier attempt whose lease expired with no result (one snapshot: not the rows started below)
    UPDATE helpdesk_delivery_attempts a
       SET outcome = 'abandoned', finished_at = $1, detail = 'no result recorded before the lease expired'
      FROM leased WHERE a.delivery_id = leased.delivery_id AND a.outcome = 'in_flight'),
started AS (
    INSERT INTO helpdesk_delivery_attempts (delivery_id, attempt, started_at, outcome)
    SELECT delivery_id, attempts, $1, 'in_flight' FROM leased)
SELECT * FROM leased"""
_FINISH = """
UPDATE helpdesk_deliveries SET status = $3, next_attempt_at = $4, last_error = $5,
       delivered_at = CASE WHEN $3 = 'delivered' THEN $6::timestamptz END,
       parked_at = CASE WHEN $3 = 'parked' THEN $6::timestamptz END
 WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'"""
_REDRIVE = f"""
UPDATE helpdesk_deliveries SET status = 'pending', cycle_attempts = 0, redrives = redrives + 1,
       next_attempt_at = $2, parked_at = NULL
 WHERE delivery_id = $1 AND status = 'parked' RETURNING {_COLUMNS}"""

NOTICES = """
SELECT merchant_id,
       count(*) FILTER (WHERE channel = 'merchant_email' AND status = 'delivered') AS emails_sent,
       count(*) FILTER (WHERE kind = 'merchant.connection_broken_reminder' AND status = 'delivered')
           AS reminders_sent,
       count(*) FILTER (WHERE kind = 'merchant.setup_reminder' AND status = 'delivered') AS setup_reminders_sent,
       max(delivered_at) FILTER (WHERE channel = 'merchant_email') AS last_sent_at,
       count(*) FILTER (WHERE status = 'parked') AS parked
  FROM helpdesk_deliveries WHERE merchant_id = ANY($1::text[]) GROUP BY merchant_id ORDER BY merchant_id"""


class PgNotifierTransaction:
    """Every row kind of one transaction: the inbox claim, the deliveries (itself) and the incidents."""

    def __init__(self, tx: Transaction) -> None:
        self._conn = tx.connection
        self.claim = tx.claim
        self.incidents = PgIncidentRows(tx.connection)

    @property
    def deliveries(self) -> "PgNotifierTransaction":
        return self

    async def record(self, deliveries: Sequence[NewDelivery]) -> None:
        await _insert(self._conn, deliveries)
        for d in deliveries:
            if isinstance(d.notification, MerchantNotice):
                await self._join(d.delivery_id, d.notification)

    async def withdraw(self, merchant_id: str, incident_ids: Sequence[UUID], kinds: Sequence[Kind], at: datetime,
                       why: str, store_id: str | None = None) -> int:
        owed = await self._conn.fetch(_OWED, merchant_id, list(incident_ids), [k.value for k in kinds])
        cancel = []
        for row in owed:
            notice = MerchantNotice.model_validate_json(row["notification"])
            left = notice.withdrawn(store_id)
            if left is None:
                cancel.append(row["delivery_id"])
            elif left is not notice:
                await self._conn.execute("UPDATE helpdesk_deliveries SET notification = $2::jsonb"
                                         " WHERE delivery_id = $1", row["delivery_id"], left.model_dump_json())
        await self._conn.execute(_CANCEL, cancel, at, f"cancelled: {why}")
        return len(cancel)

    async def _join(self, delivery_id: UUID, new: MerchantNotice) -> None:
        """Another store of the incident joins a merchant email that was not attempted yet."""
        stored = await self._conn.fetchval(_UNTOUCHED, delivery_id)
        if stored is None:
            return
        joined = notice = MerchantNotice.model_validate_json(stored)
        for store in new.stores:
            joined = joined.with_store(store) or joined
        if joined is not notice:
            await self._conn.execute("UPDATE helpdesk_deliveries SET notification = $2::jsonb WHERE delivery_id = $1",
                                     delivery_id, joined.model_dump_json())


class PgIncidentRows:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def open(self, incident: Incident) -> datetime | None:
        i = incident
        return await self._conn.fetchval(_OPEN, i.incident_id, i.store_id, i.merchant_id, i.store_name, i.tenant_id,
                                         i.organisation_name, i.reason.value if i.reason else None, i.since,
                                         i.reconnect_url)

    async def restore(self, merchant_id: str, store_id: str, incident_id: UUID, at: datetime) -> list[Incident]:
        named = await self._conn.fetchrow(_RESTORE, incident_id, store_id, merchant_id, at)
        older = await self._conn.fetch(_RESTORE_OLDER, incident_id, store_id, merchant_id, at)
        return [_incident(r) for r in (named, *older)]

    async def stop_reminders(self, merchant_id: str, incident_id: UUID, at: datetime) -> list[Incident]:
        return [_incident(r) for r in await self._conn.fetch(_STOP, merchant_id, incident_id, at)]


def _incident(row: asyncpg.Record) -> Incident:
    return Incident(**{**dict(row), "reason": row["reason"] and BreakReason(row["reason"])})


async def _insert(conn: asyncpg.Connection, deliveries: Sequence[NewDelivery]) -> None:
    if not deliveries:  # most attempts have no follow-ups: spare their transaction the round trip
        return
    await conn.executemany(_INSERT, [
        (d.delivery_id, d.notification.event_id, d.channel.value, d.notification.kind.value,
         d.notification.merchant_id, d.notification.incident_id, d.notification.model_dump_json(), d.due_at,
         d.created_at) for d in deliveries])


class PgDeliveries:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime,
                        room: Mapping[Channel, int] | None = None) -> list[Claimed]:
        room = {c: limit for c in Channel} if room is None else room
        channels = [c for c in Channel if room.get(c, 0) > 0]
        # one statement (its own transaction): lease, close expired attempts, open the new ones
        rows = await self._pool().fetch(_CLAIM, now, limit, lease_until, [c.value for c in channels],
                                        [room[c] for c in channels])
        return [Claimed(r["delivery_id"], Channel(r["channel"]), load_payload(Channel(r["channel"]), r["notification"]),
                        r["attempts"], r["cycle_attempts"]) for r in rows]

    async def finish(self, claimed: Claimed, result: AttemptResult, decision: Decision, at: datetime,
                     follow_ups: Sequence[NewDelivery] = ()) -> None:
        async with transaction(self._pool()) as tx:
            await _insert(tx.connection, follow_ups)
            await tx.connection.execute(
                "UPDATE helpdesk_delivery_attempts SET finished_at = $3, outcome = $4, status_code = $5,"
                " detail = $6 WHERE delivery_id = $1 AND attempt = $2",
                claimed.delivery_id, claimed.attempt, at, result.outcome.value, result.status_code,
                result.detail[:1000])
            error = None if decision.status is Status.DELIVERED else decision.note[:1000]
            await tx.connection.execute(_FINISH, claimed.delivery_id, claimed.attempt, decision.status.value,
                                        decision.next_attempt_at, error, at)

    async def redrive(self, delivery_id: UUID, now: datetime) -> tuple[bool, DeliveryView] | None:
        async with transaction(self._pool()) as tx:
            row = await tx.connection.fetchrow(_REDRIVE, delivery_id, now)
        view = await self.get(delivery_id)
        return None if view is None else (row is not None, view)

    async def get(self, delivery_id: UUID) -> DeliveryView | None:
        async with self._pool().acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM helpdesk_deliveries WHERE delivery_id = $1",
                                      delivery_id)
            if row is None:
                return None
            attempts = await conn.fetch(
                "SELECT attempt, started_at, finished_at, outcome, status_code, detail"
                " FROM helpdesk_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt", delivery_id)
        return DeliveryView(**dict(row), history=[AttemptView(**dict(a)) for a in attempts])

    async def listing(self, status: Status | None, limit: int, *, offset: int = 0, merchant_id: str | None = None,
                      newest_first: bool = False) -> list[DeliveryView]:
        sql, args = listing_query(status, limit, offset, merchant_id, newest_first)
        return [DeliveryView(**dict(r)) for r in await self._pool().fetch(sql, *args)]

    async def count(self, status: Status | None, merchant_id: str | None = None) -> int:
        where, args = _filter(status, merchant_id)
        return await self._pool().fetchval(f"SELECT count(*) FROM helpdesk_deliveries {where}", *args)

    async def notices(self, merchant_ids: Sequence[str]) -> list[MerchantNotices]:
        rows = await self._pool().fetch(NOTICES, list(merchant_ids))
        return [MerchantNotices(**dict(r)) for r in rows]


def listing_query(status: Status | None, limit: int, offset: int, merchant_id: str | None,
                  newest_first: bool) -> tuple[str, list]:
    """The statement of `listing` and its arguments (the tests read its plan)."""
    where, args = _filter(status, merchant_id)
    key = "parked_at" if status is Status.PARKED else "created_at"
    way = "DESC" if newest_first else "ASC"
    return (f"SELECT {_COLUMNS} FROM helpdesk_deliveries {where} ORDER BY {key} {way}, delivery_id {way}"
            f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}", [*args, limit, offset])


def _filter(status: Status | None, merchant_id: str | None) -> tuple[str, list[str]]:
    """A WHERE clause naming only the filters given, so each shape gets its own plan and uses its index."""
    conditions, args = [], []
    for column, value in (("status", status.value if status else None), ("merchant_id", merchant_id)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), args
