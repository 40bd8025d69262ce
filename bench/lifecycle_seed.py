"""The data of `bench.lifecycle`: N merchants with three stores each, served by two Xero grants each (one Xero
user authorised two organisations, another one), made consistent across the three places that hold them:

- the Xero sandbox (`/_sandbox/seed`): the users, their organisations and connections, one refresh token each;
- the gateway's database: grants with those refresh tokens sealed by the gateway's own TokenCipher (the same
  per-grant contexts PgGrants uses), connections, store links and signed-in web sessions;
- the registry's database: merchants, stores, organisations, grants and a short timeline, written through
  the registry's own row mapping (connection_registry.adapters.rows), so the rows are what its handlers write.

About 1 % of the merchants have their third store broken (the app was removed for that organisation inside
Xero: gone from the sandbox too), which the helpdesk's "needs attention" page lists; 20 % have completed the
setup and wait for the helpdesk, 60 % are finalised. Rows go in with COPY; the schemas come from each
service's migrations, applied here the way the services apply them at start.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import httpx

from connection_registry.adapters import rows
from connection_registry.domain.model import (Completion, Finalisation, Grant, Incident, Merchant, Organisation,
                                              OrgState, StoreRecord, StoreState, TimelineEntry)
from connection_registry.main import MIGRATIONS as REGISTRY_MIGRATIONS
from oauth_gateway.adapters.crypto import TokenCipher
from oauth_gateway.main import MIGRATIONS as GATEWAY_MIGRATIONS
from shared.contracts import BreakReason, StoreLink, XeroUser
from shared.delivery import DELIVERY_MIGRATIONS, apply_migrations
from shared.ratelimit import RATE_LIMIT_MIGRATIONS

APPLICATION = "bench-lifecycle"   # application_name of the bench's own sessions (left out of the gateway's count)
SEED_CHUNK = 10_000               # users per /_sandbox/seed call
BROKEN_EVERY = 100                # one merchant in 100 has a broken store


@dataclass(frozen=True, slots=True)
class StoreSeed:
    store_id: str
    name: str
    tenant_id: uuid.UUID
    organisation_name: str
    connection_id: uuid.UUID
    grant_id: str
    broken: bool = False


@dataclass(frozen=True, slots=True)
class GrantSeed:
    grant_id: str
    user: dict               # the sandbox's record: sub, xero_userid, email, name, refresh_token, auth_event_id ...
    stores: tuple[StoreSeed, ...]


@dataclass(frozen=True, slots=True)
class MerchantSeed:
    merchant_id: str
    name: str
    user_id: str             # the Cloud POS user who connected the stores
    grants: tuple[GrantSeed, ...]
    completed: bool
    finalised: bool

    @property
    def stores(self) -> tuple[StoreSeed, ...]:
        return tuple(s for g in self.grants for s in g.stores)


async def seed_xero(xero: httpx.AsyncClient, count: int, orgs_per_user: int, scopes: list[str],
                    prefix: str) -> list[dict]:
    users: list[dict] = []
    while len(users) < count:
        body = {"users": min(SEED_CHUNK, count - len(users)), "orgs_per_user": orgs_per_user, "scopes": scopes,
                "prefix": prefix}
        response = await xero.post("/_sandbox/seed", json=body, timeout=300)
        response.raise_for_status()
        users += response.json()["users"]
    return users


async def plan_merchants(xero: httpx.AsyncClient, count: int, scopes: list[str]) -> list[MerchantSeed]:
    """Seed the sandbox and lay out who uses what; the broken stores' organisations are removed in Xero."""
    two = await seed_xero(xero, count, 2, scopes, "BenchA")
    one = await seed_xero(xero, count, 1, scopes, "BenchB")
    merchants = []
    for i, (a, b) in enumerate(zip(two, one, strict=True)):
        mid = f"bench-m{i:05d}"
        grants = []
        for user, first in ((a, 1), (b, 3)):
            gid = f"g-{uuid.uuid4().hex}"
            stores = tuple(StoreSeed(f"{mid}-s{first + n}", f"Bench Store {i}-{first + n}", uuid.UUID(t), name,
                                     uuid.UUID(c), gid, broken=first + n == 3 and i % BROKEN_EVERY == BROKEN_EVERY // 3)
                           for n, (t, name, c) in enumerate(zip(user["tenant_ids"], user["organisation_names"],
                                                                user["connection_ids"], strict=True)))
            grants.append(GrantSeed(gid, user, stores))
        merchants.append(MerchantSeed(mid, f"Bench Cycles {i}", f"{mid}-u1", tuple(grants),
                                      completed=i % 10 < 8, finalised=2 <= i % 10 < 8))
    for store in (s for m in merchants for s in m.stores if s.broken):
        (await xero.post(f"/_sandbox/tenants/{store.tenant_id}/remove-app")).raise_for_status()
    return merchants


async def migrate(dsn: str, *components) -> None:  # noqa: ANN002 - shared.delivery.Migrations
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        await apply_migrations(pool, DELIVERY_MIGRATIONS, *components)
    finally:
        await pool.close()


async def seed_gateway(dsn: str, cipher: TokenCipher, merchants: list[MerchantSeed], scopes: list[str],
                       sessions: int, now: datetime) -> list[str]:
    """The gateway's rows; returns the cookie values of `sessions` signed-in merchants. Every grant was last
    refreshed 8 days ago (a keep-alive is due once next_keepalive_at is), its access token is expired, and
    nothing falls due before the bench says so; subscriptions were read within the last 20 hours."""
    await migrate(dsn, RATE_LIMIT_MIGRATIONS, GATEWAY_MIGRATIONS)
    later, dice = now + timedelta(days=1), random.Random(18)
    grants, connections, links = [], [], []
    for m in merchants:
        for g in m.grants:
            user = g.user
            grants.append((g.grant_id, user["sub"], scopes, cipher.seal("bench-expired", f"grant:{g.grant_id}:access"),
                           cipher.seal(user["refresh_token"], f"grant:{g.grant_id}:refresh"),
                           now - timedelta(minutes=1), now - timedelta(days=8), 1, "active", now - timedelta(days=30),
                           now - timedelta(days=8), json.dumps({"xero_userid": user["xero_userid"],
                                                                "name": user["name"], "email": user["email"]}),
                           later, later))
            for s in g.stores:
                connections.append((m.merchant_id, s.tenant_id, s.organisation_name, s.connection_id, g.grant_id,
                                    "STANDARD", "broken" if s.broken else "active",
                                    BreakReason.REMOVED_IN_XERO.value if s.broken else None, now, scopes,
                                    uuid.uuid4() if s.broken else None, now - timedelta(hours=2) if s.broken else None,
                                    now - timedelta(hours=20 * dice.random())))
                links.append((s.store_id, m.merchant_id, s.tenant_id, m.user_id, now - timedelta(days=29), s.name))
    cookies = {secrets.token_urlsafe(32): m for m in dice.sample(merchants, min(sessions, len(merchants)))}
    web = [(hashlib.sha256(c.encode()).digest(), m.user_id, m.merchant_id, m.name, "Bench User",
            json.dumps([{"store_id": s.store_id, "name": s.name} for s in m.stores]), "Xero API Client", now, now)
           for c, m in cookies.items()]
    conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION})
    try:
        await conn.copy_records_to_table("grants", records=grants, columns=[
            "grant_id", "xero_sub", "scopes", "access_token", "refresh_token", "access_expires_at", "refreshed_at",
            "version", "status", "created_at", "updated_at", "xero_user", "next_keepalive_at", "next_check_at"])
        await conn.copy_records_to_table("connections", records=connections, columns=[
            "merchant_id", "tenant_id", "organisation_name", "connection_id", "grant_id", "subscription_class",
            "status", "reason", "updated_at", "scopes", "incident_id", "broken_since", "class_checked_at"])
        await conn.copy_records_to_table("store_links", records=links, columns=[
            "store_id", "merchant_id", "tenant_id", "authorised_by", "connected_at", "store_name"])
        await conn.copy_records_to_table("web_sessions", records=web, columns=[
            "session_hash", "user_id", "merchant_id", "merchant_name", "display_name", "stores", "key_label",
            "created_at", "last_seen_at"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return list(cookies)


def registry_rows(m: MerchantSeed, now: datetime) -> dict[str, list[tuple]]:
    """One merchant's rows as the registry's handlers would have written them, through its row mapping."""
    start = now - timedelta(days=30)
    stores = [StoreRecord(m.merchant_id, s.store_id, s.name, StoreState.CONNECTED, s.tenant_id, None, s.grant_id,
                          start + timedelta(hours=1), start + timedelta(hours=1),
                          Incident(uuid.uuid4(), now - timedelta(hours=2), BreakReason.REMOVED_IN_XERO,
                                   now - timedelta(hours=2)) if s.broken else None) for s in m.stores]
    orgs = [Organisation(m.merchant_id, s.tenant_id, s.organisation_name, OrgState.AUTHORISED, g.grant_id,
                         s.connection_id, start + timedelta(hours=1), "STANDARD", None,
                         XeroUser(xero_userid=g.user["xero_userid"], name=g.user["name"], email=g.user["email"]))
            for g in m.grants for s in g.stores]
    grants = [Grant(m.merchant_id, g.grant_id, uuid.UUID(g.user["auth_event_id"]), g.stores[0].store_id, m.user_id,
                    start + timedelta(minutes=30)) for g in m.grants]
    links = tuple(StoreLink(store_id=s.store_id, store_name=s.name, tenant_id=s.tenant_id,
                            organisation_name=s.organisation_name) for s in m.stores)
    completion = Completion(uuid.uuid4(), start + timedelta(hours=2), m.user_id, links) if m.completed else None
    finalisation = (Finalisation(uuid.uuid4(), start + timedelta(days=1), "helpdesk-bench") if m.finalised
                    else None)
    merchant = Merchant(m.merchant_id, m.name, "pro_plus", f"key-{m.merchant_id}", start, start + timedelta(hours=2),
                        uuid.uuid4(), completion, finalisation)
    lines = [TimelineEntry(m.merchant_id, start, f"Cloud POS API key 'Xero API Client' validated; "
                           f"{len(m.stores)} store(s) eligible", m.user_id, uuid.uuid4())]
    lines += [TimelineEntry(m.merchant_id, start + timedelta(minutes=30), f"Store '{g.stores[0].name}' authorised Xero "
                            f"access (grant {g.grant_id})", m.user_id, uuid.uuid4(), store_id=g.stores[0].store_id)
              for g in m.grants]
    lines += [TimelineEntry(m.merchant_id, start + timedelta(hours=1), f"Store '{s.name}' connected to organisation "
                            f"'{s.organisation_name}'", m.user_id, uuid.uuid4(), store_id=s.store_id,
                            tenant_id=s.tenant_id) for s in m.stores]
    return {"merchants": [rows.merchant_values(merchant)], "stores": [rows.store_values(s) for s in stores],
            "organisations": [rows.organisation_values(o) for o in orgs],
            "grants": [rows.grant_values(g) for g in grants],
            "timeline": [rows.timeline_values(n, line) for n, line in enumerate(lines, start=1)]}


async def seed_registry(dsn: str, merchants: list[MerchantSeed], now: datetime) -> None:
    await migrate(dsn, REGISTRY_MIGRATIONS)
    tables: dict[str, list[tuple]] = {"merchants": [], "stores": [], "organisations": [], "grants": [],
                                      "timeline": []}
    for m in merchants:
        for table, found in registry_rows(m, now).items():
            tables[table] += found
    columns = {"merchants": rows.MERCHANT_COLUMNS, "stores": rows.STORE_COLUMNS, "organisations": rows.ORG_COLUMNS,
               "grants": rows.GRANT_COLUMNS, "timeline": rows.TIMELINE_COLUMNS}
    conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION})
    try:
        for table, records in tables.items():   # merchants first: the others refer to them
            await conn.copy_records_to_table(table, records=records,
                                             columns=[c.strip() for c in columns[table].split(",")])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
