"""Rows <-> domain values for the registry's tables (one place, used by writes and reads alike)."""

import json

import asyncpg

from shared.contracts import BreakReason, DisconnectReason, StoreLink, XeroUser

from ..domain import (Completion, Finalisation, Grant, Graph, Incident, Merchant, Organisation, OrgState,
                      StoreRecord, StoreState, TimelineEntry)
from ..ports import TimelineLine

MERCHANT_COLUMNS = ("merchant_id, name, licence, key_id, created_at, updated_at, correlation_id, completion_event_id,"
                    " completed_at, completed_by, completion_links, finalisation_event_id, finalised_at, finalised_by,"
                    " reminders_sent, last_reminded_at")
STORE_COLUMNS = ("merchant_id, store_id, name, state, tenant_id, reason, grant_id, connected_at, changed_at,"
                 " incident_id, incident_reason, broken_since, broken_at, restored_at")
ORG_COLUMNS = ("merchant_id, tenant_id, name, state, grant_id, connection_id, subscription_class, reason,"
               " changed_at, authorised_by_xero_userid, authorised_by_name, authorised_by_email")
GRANT_COLUMNS = "merchant_id, grant_id, auth_event_id, store_id, authorised_by, authorised_at"
TIMELINE_COLUMNS = ("merchant_id, position, occurred_at, what, actor, reason, event_id, causation_id,"
                    " correlation_id, store_id, tenant_id")


GRAPH_QUERY = """
SELECT (SELECT m FROM merchants m WHERE m.merchant_id = $1) AS merchant,
       (SELECT array_agg(s) FROM stores s WHERE s.merchant_id = $1) AS stores,
       (SELECT array_agg(o) FROM organisations o WHERE o.merchant_id = $1) AS organisations,
       (SELECT array_agg(g) FROM grants g WHERE g.merchant_id = $1) AS grants,
       EXISTS (SELECT FROM parked_events p WHERE p.merchant_id = $1) AS has_parked,
       (SELECT coalesce(max(position), 0) FROM timeline t WHERE t.merchant_id = $1) AS last_position
"""
"""One round trip for the whole graph (rows as the tables' composite types, read by column name), plus
what a writer holding the merchant's lock needs next: whether anything is parked, the last timeline position."""


async def load_graph(conn: asyncpg.Connection, merchant_id: str) -> tuple[Graph, asyncpg.Record]:
    """The graph and the query's row (for `has_parked` and `last_position`)."""
    row = await conn.fetchrow(GRAPH_QUERY, merchant_id)
    return _graph(merchant_id, row), row


GRAPHS_QUERY = """
SELECT ids.merchant_id,
       (SELECT m FROM merchants m WHERE m.merchant_id = ids.merchant_id) AS merchant,
       (SELECT array_agg(s) FROM stores s WHERE s.merchant_id = ids.merchant_id) AS stores,
       (SELECT array_agg(o) FROM organisations o WHERE o.merchant_id = ids.merchant_id) AS organisations,
       (SELECT array_agg(g) FROM grants g WHERE g.merchant_id = ids.merchant_id) AS grants
FROM ({listing}) AS ids
"""
"""Many graphs in one round trip: `listing` is a query returning `merchant_id` in the wanted order (`ord`)."""


async def load_graphs(conn: asyncpg.Connection, listing: str, *args: object) -> list[Graph]:
    """The graphs of the merchants `listing` selects, in its order (the helpdesk's lists: one round trip, not one
    per merchant)."""
    found = await conn.fetch(GRAPHS_QUERY.format(listing=listing) + " ORDER BY ids.ord", *args)
    return [_graph(row["merchant_id"], row) for row in found]


def _graph(merchant_id: str, row: asyncpg.Record) -> Graph:
    return Graph(merchant_id, merchant(row["merchant"]) if row["merchant"] else None,
                 {r["store_id"]: store(r) for r in row["stores"] or ()},
                 {r["tenant_id"]: organisation(r) for r in row["organisations"] or ()},
                 {r["grant_id"]: grant(r) for r in row["grants"] or ()})


def merchant(r: asyncpg.Record) -> Merchant:
    completion = finalisation = None
    if r["completion_event_id"]:
        links = tuple(StoreLink.model_validate(link) for link in json.loads(r["completion_links"]))
        completion = Completion(r["completion_event_id"], r["completed_at"], r["completed_by"], links)
    if r["finalisation_event_id"]:
        finalisation = Finalisation(r["finalisation_event_id"], r["finalised_at"], r["finalised_by"])
    return Merchant(r["merchant_id"], r["name"], r["licence"], r["key_id"], r["created_at"], r["updated_at"],
                    r["correlation_id"], completion, finalisation, r["reminders_sent"], r["last_reminded_at"])


def store(r: asyncpg.Record) -> StoreRecord:
    incident = None
    if r["incident_id"]:
        incident = Incident(r["incident_id"], r["broken_since"],
                            BreakReason(r["incident_reason"]) if r["incident_reason"] else None, r["broken_at"],
                            r["restored_at"])
    return StoreRecord(r["merchant_id"], r["store_id"], r["name"], StoreState(r["state"]), r["tenant_id"],
                       r["reason"], r["grant_id"], r["connected_at"], r["changed_at"], incident)


def grant(r: asyncpg.Record) -> Grant:
    return Grant(r["merchant_id"], r["grant_id"], r["auth_event_id"], r["store_id"], r["authorised_by"],
                 r["authorised_at"])


def organisation(r: asyncpg.Record) -> Organisation:
    user = None
    if r["authorised_by_xero_userid"]:
        user = XeroUser(xero_userid=r["authorised_by_xero_userid"], name=r["authorised_by_name"] or "",
                        email=r["authorised_by_email"] or "")
    return Organisation(r["merchant_id"], r["tenant_id"], r["name"], OrgState(r["state"]), r["grant_id"],
                        r["connection_id"], r["changed_at"], r["subscription_class"],
                        DisconnectReason(r["reason"]) if r["reason"] else None, user)


def timeline_line(r: asyncpg.Record) -> TimelineLine:
    values = dict(r)
    return TimelineLine(values.pop("position"), TimelineEntry(**values))


def merchant_values(m: Merchant) -> tuple[object, ...]:
    c, f = m.completion, m.finalisation
    links = json.dumps([link.model_dump(mode="json") for link in c.links]) if c else None
    return (m.merchant_id, m.name, m.licence, m.key_id, m.created_at, m.updated_at, m.correlation_id,
            c and c.event_id, c and c.at, c and c.by, links, f and f.event_id, f and f.at, f and f.by,
            m.reminders_sent, m.last_reminded_at)


def store_values(s: StoreRecord) -> tuple[object, ...]:
    i = s.incident
    return (s.merchant_id, s.store_id, s.name, s.state.value, s.tenant_id, s.reason, s.grant_id, s.connected_at,
            s.changed_at, i and i.incident_id, i and i.reason and i.reason.value, i and i.since, i and i.broken_at,
            i and i.restored_at)


def organisation_values(o: Organisation) -> tuple[object, ...]:
    u = o.authorised_by
    return (o.merchant_id, o.tenant_id, o.name, o.state.value, o.grant_id, o.connection_id, o.subscription_class,
            o.reason.value if o.reason else None, o.changed_at, u and u.xero_userid, u and u.name, u and u.email)


def grant_values(g: Grant) -> tuple[object, ...]:
    return (g.merchant_id, g.grant_id, g.auth_event_id, g.store_id, g.authorised_by, g.authorised_at)


def timeline_values(position: int, t: TimelineEntry) -> tuple[object, ...]:
    return (t.merchant_id, position, t.occurred_at, t.what, t.actor, t.reason, t.event_id, t.causation_id,
            t.correlation_id, t.store_id, t.tenant_id)


def upsert(table: str, columns: str, key: str) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE every other column: the domain hands over whole rows."""
    names = [c.strip() for c in columns.split(",")]
    keys = {k.strip() for k in key.split(",")}
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n not in keys)
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT ({key}) DO UPDATE SET {updates}"
