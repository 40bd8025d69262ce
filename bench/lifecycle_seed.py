"""The data of `bench.lifecycle`: N merchants with three stores each, served by two Xero grants each (one Xero
user authorised two organisations, another one), made consistent across the three places that hold them:

- the Xero sandbox (`/_sandbox/seed`): the users, their organisations and connections, one refresh token each;
- the gateway's database: grants with those refresh tokens sealed by the gateway's own TokenCipher (the same
  per-grant contexts PgGrants uses), connections, store links and signed-in web sessions;
- the registry's database: merchants, stores, organisations, grants and a short timeline, written through
  the registry's own row mapping (connection_registry.adapters.rows), so the rows are what its handlers write;
  half a year of the helpdesk console's staff sessions and audit (seed_staff);
- the notifier's database (seed_notifier): what it sent about them, built from its own payload models: the
  helpdesk's "ready to finalise" notices (1 webhook in 30 parked), each broken connection's notices, merchant
  email and reminders (pending while it lasts), a past incident for 1 finalised merchant in 20, and a "finish
  your setup" email for 1 unfinished merchant in 3 (1 in 20 of those parked: no such mailbox).

About 1 % of the merchants have their third store broken (the app was removed for that organisation inside
Xero: gone from the sandbox too), which the helpdesk's "needs attention" page lists; 20 % have completed the
setup and wait for the helpdesk, 60 % are finalised, and 20 % connected their stores but never said "I have
finished" (the "started but not finished" queue), between 6 hours and 30 days ago; the others started 2 to
180 days ago. Names are drawn (fixed seed) from lists of words as real ones would be: merchants like "Harbour
Cycles", stores named after their street or suburb, organisations "... Limited" or the owner's holding
company, with repeats across merchants as in life, so the helpdesk's search has realistic hit counts. The
organisation names the registry and the gateway hold are these (the ones seen at connect time); the sandbox
keeps its generated ones, which nothing reads again. Rows go in with COPY; the schemas come from each
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
from notifier.domain.delivery import Payload
from notifier.domain.incidents import BrokenStore, MerchantNotice
from notifier.domain.notifications import Kind, Notification
from notifier.domain.setup_reminders import SetupReminder
from notifier.main import MIGRATIONS as NOTIFIER_MIGRATIONS
from oauth_gateway.adapters.crypto import TokenCipher
from oauth_gateway.main import MIGRATIONS as GATEWAY_MIGRATIONS
from sandboxes.staff_idp import AGENT_ROLE, LEAD_ROLE, STAFF
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
    started: timedelta = timedelta(days=30)   # how long before `now` the merchant began (stores connect 1 h later)

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
    merchants = lay_out(two, one)
    for store in (s for m in merchants for s in m.stores if s.broken):
        (await xero.post(f"/_sandbox/tenants/{store.tenant_id}/remove-app")).raise_for_status()
    return merchants


_FIRST = ("Harbour", "Greenleaf", "Kauri", "Southern", "Northside", "Bluebell", "Copper", "Riverside", "Totara",
          "Summit", "Old Mill", "Lighthouse", "Fernwood", "Golden Bay", "Pohutukawa", "Maple", "Ironbark",
          "Seaview", "Twin Peaks", "Wild Thyme", "Red Fox", "Silver Fern", "Main Street", "Corner", "Urban",
          "Village", "Coastal", "Highland", "Little", "Big Sky", "Sunrise", "Moonlight", "Rata", "Kowhai",
          "Orchard", "Stonebridge", "Parkside", "Waterfront", "Hilltop", "Tui", "Pacific", "Ember", "Salt & Pepper",
          "Odd Socks", "Bits & Bobs", "Two Birds", "Good Earth", "Blackwood", "Cedar", "Jasper")
_TRADE = ("Cycles", "Bakery", "Hardware", "Books", "Florist", "Coffee", "Pharmacy", "Outdoors", "Surf Shop",
          "Butchery", "Deli", "Wines", "Pet Supplies", "Gifts", "Toys", "Garden Centre", "Shoes", "Fashion",
          "Homewares", "Music", "Records", "Cafe", "Organics", "Tackle", "Paints", "Furniture", "Optometrists",
          "Stationery", "Sports", "Liquor", "Kitchenware", "Jewellers", "Bridal", "Hobbies", "Eatery")
_PLACES = ("Ponsonby", "Queen Street", "Newmarket", "Takapuna", "Riccarton", "Cuba Street", "Lambton Quay",
           "Petone", "Tauranga", "Mount Maunganui", "Hamilton East", "Frankton", "Dunedin Central", "Nelson",
           "Napier", "Hastings", "Whanganui", "New Plymouth", "Rotorua", "Taupo", "Queenstown", "Wanaka",
           "Timaru", "Invercargill", "Palmerston North", "Masterton", "Kerikeri", "Whangarei", "Albany",
           "Botany", "Sylvia Park", "Henderson", "Devonport", "Karori", "Johnsonville", "Papanui", "Sumner",
           "Merivale", "Blenheim", "Gisborne", "High Street", "Main Road", "Airport", "Warehouse", "Online")
_OWNERS = ("Patel", "Nguyen", "Smith", "Williams", "Ngata", "Wilson", "Chen", "Brown", "Taylor", "O'Brien",
           "Singh", "Walker", "Te Whata", "Kumar", "Anderson", "Thompson", "Li", "Martin", "Harris", "Tupou",
           "MacDonald", "Kaur", "Young", "Robinson", "Fitzgerald")


def lay_out(two: list[dict], one: list[dict]) -> list[MerchantSeed]:
    """The merchants, from the sandbox's records of users with two organisations and with one (pure: the tests
    build the same merchants from made-up records, without a sandbox)."""
    merchants, dice = [], random.Random(19)
    for i, (a, b) in enumerate(zip(two, one, strict=True)):
        mid, name = f"bench-m{i:05d}", f"{dice.choice(_FIRST)} {dice.choice(_TRADE)}"
        places = dice.sample(_PLACES, 3)
        owner = dice.choice(_OWNERS)
        org_names = [f"{name} Limited", f"{name} {places[1]} Ltd",
                     dice.choice((f"{owner} Holdings Limited", f"{owner} Family Trust", f"{name} (Wholesale) Ltd"))]
        grants = []
        for user, first in ((a, 1), (b, 3)):
            gid = f"g-{uuid.uuid4().hex}"
            stores = tuple(StoreSeed(f"{mid}-s{first + n}", f"{name} {places[first + n - 1]}", uuid.UUID(t),
                                     org_names[first + n - 1], uuid.UUID(c), gid,
                                     broken=first + n == 3 and i % BROKEN_EVERY == BROKEN_EVERY // 3)
                           for n, (t, c) in enumerate(zip(user["tenant_ids"], user["connection_ids"], strict=True)))
            grants.append(GrantSeed(gid, user, stores))
        completed = i % 10 < 8
        started = (timedelta(hours=dice.uniform(2 * 24, 180 * 24)) if completed
                   else timedelta(hours=dice.uniform(6, 30 * 24)))
        merchants.append(MerchantSeed(mid, name, f"{mid}-u1", tuple(grants), completed=completed,
                                      finalised=2 <= i % 10 < 8, started=started))
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
                           now - timedelta(minutes=1), now - timedelta(days=8), 1, "active", now - m.started,
                           now - timedelta(days=8), json.dumps({"xero_userid": user["xero_userid"],
                                                                "name": user["name"], "email": user["email"]}),
                           later, later))
            for s in g.stores:
                connections.append((m.merchant_id, s.tenant_id, s.organisation_name, s.connection_id, g.grant_id,
                                    "STANDARD", "broken" if s.broken else "active",
                                    BreakReason.REMOVED_IN_XERO.value if s.broken else None, now, scopes,
                                    uuid.uuid4() if s.broken else None, now - timedelta(hours=2) if s.broken else None,
                                    now - timedelta(hours=20 * dice.random())))
                links.append((s.store_id, m.merchant_id, s.tenant_id, m.user_id, now - m.started + timedelta(hours=1),
                              s.name))
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
    start = now - m.started
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
        await conn.execute("VACUUM ANALYZE")  # as autovacuum would have: index-only scans
    finally:
        await conn.close()


# -- what the console reads besides the registry's graph: the notifier's deliveries, the staff's sessions and audit --
DELIVERY_COLUMNS = ["delivery_id", "event_id", "channel", "kind", "merchant_id", "notification", "status", "attempts",
                    "cycle_attempts", "redrives", "next_attempt_at", "last_error", "created_at", "delivered_at",
                    "parked_at", "incident_id", "cancelled_at"]
PARKED_WEBHOOK_EVERY = 30   # one "ready to finalise" webhook in 30 parked: an outage of the helpdesk's receiver
PAST_INCIDENT_EVERY = 20    # one finalised merchant in 20 had a connection broken, then restored, weeks ago
REMINDED_EVERY = 3          # one unfinished merchant in 3 (connected over 3 days ago) was sent a setup reminder
REMINDER_DAYS = (1, 3, 7)   # the notifier's reminders after a break (its ReminderSchedule's default)


def _delivery(payload: Payload, channel: str, created: datetime, status: str = "delivered", *, attempts: int = 1,
              done: datetime | None = None, due: datetime | None = None, error: str | None = None) -> tuple:
    """One helpdesk_deliveries row as the notifier's dispatcher leaves it; `done` is when it was delivered,
    parked or cancelled (default: 3 s after it was recorded)."""
    done = done or created + timedelta(seconds=3)
    return (uuid.uuid4(), payload.event_id, channel, payload.kind.value, payload.merchant_id,
            payload.model_dump_json(), status, attempts, attempts, 0, due, error, created,
            done if status == "delivered" else None, done if status == "parked" else None,
            getattr(payload, "incident_id", None), done if status == "cancelled" else None)


def _links(stores: tuple[StoreSeed, ...] | list[StoreSeed]) -> tuple[StoreLink, ...]:
    return tuple(StoreLink(store_id=s.store_id, store_name=s.name, tenant_id=s.tenant_id,
                           organisation_name=s.organisation_name) for s in stores)


def _ready(m: MerchantSeed, at: datetime, webhook_parked: bool) -> list[tuple]:
    """The helpdesk told (email and webhook) that the merchant is ready to be finalised."""
    notice = Notification(kind=Kind.READY_TO_FINALISE, event_id=uuid.uuid4(), occurred_at=at,
                          merchant_id=m.merchant_id, merchant_name=m.name, links=_links(m.stores), action_needed=True,
                          next_steps=f"Finalise the Xero integration for {m.name} (merchant {m.merchant_id}).")
    webhook = (_delivery(notice, "webhook", at, "parked", attempts=8, done=at + timedelta(hours=27),
                         error="HTTP 503 from the webhook receiver") if webhook_parked
               else _delivery(notice, "webhook", at))
    return [_delivery(notice, "email", at), webhook]


def _incident(m: MerchantSeed, store: StoreSeed, since: datetime, restored: datetime | None) -> list[tuple]:
    """A broken connection: the helpdesk's notices, the merchant's email and reminders (delivered when due before
    the restore, cancelled by it, still pending while it lasts), the helpdesk's notices of the restore."""
    incident, links = uuid.uuid4(), _links([store])
    reconnect = f"https://xero.cloudpos.test/reconnect/{store.store_id}"
    broken = Notification(kind=Kind.CONNECTION_BROKEN, event_id=uuid.uuid4(), occurred_at=since,
                          merchant_id=m.merchant_id, links=links, action_needed=True, incident_id=incident,
                          since=since, next_steps="Ask the merchant to reconnect the store.")
    first = MerchantNotice(kind=Kind.MERCHANT_BROKEN, event_id=broken.event_id, occurred_at=since,
                           merchant_id=m.merchant_id, incident_id=incident, tenant_id=store.tenant_id,
                           organisation_name=store.organisation_name, reason=BreakReason.REMOVED_IN_XERO, since=since,
                           stores=(BrokenStore(store_id=store.store_id, store_name=store.name,
                                               reconnect_url=reconnect),),
                           reminders_total=len(REMINDER_DAYS), stop_until=since + timedelta(days=37))
    rows = [_delivery(broken, channel, since) for channel in ("email", "webhook")]
    rows.append(_delivery(first, "merchant_email", since + timedelta(seconds=30)))
    for n, days in enumerate(REMINDER_DAYS, start=1):
        due, reminder = since + timedelta(days=days), first.model_copy(update={"kind": Kind.MERCHANT_REMINDER,
                                                                              "reminder": n})
        if restored is None:
            rows.append(_delivery(reminder, "merchant_email", since, "pending", attempts=0, due=due))
        elif due < restored:
            rows.append(_delivery(reminder, "merchant_email", due))
        else:
            rows.append(_delivery(reminder, "merchant_email", since, "cancelled", attempts=0, done=restored,
                                  error="cancelled: the connection was restored"))
    if restored is not None:
        back = broken.model_copy(update={"kind": Kind.CONNECTION_RESTORED, "event_id": uuid.uuid4(),
                                         "occurred_at": restored, "action_needed": False})
        rows += [_delivery(back, channel, restored) for channel in ("email", "webhook")]
    return rows


def notifier_rows(m: MerchantSeed, now: datetime, dice: random.Random) -> list[tuple]:
    """One merchant's deliveries, consistent with its registry rows (completion 2 h after the start, the
    broken store's break 2 h ago)."""
    start, rows = now - m.started, []
    if m.completed:
        rows += _ready(m, start + timedelta(hours=2), dice.random() < 1 / PARKED_WEBHOOK_EVERY)
    broken = [s for s in m.stores if s.broken]
    if broken:
        rows += _incident(m, broken[0], now - timedelta(hours=2), None)
    elif m.finalised and m.started > timedelta(days=10) and dice.random() < 1 / PAST_INCIDENT_EVERY:
        since = now - timedelta(seconds=dice.uniform(8 * 86400, m.started.total_seconds() - 86400))
        rows += _incident(m, m.stores[-1], since, since + timedelta(hours=dice.uniform(2 * 24, 5 * 24)))
    if not m.completed and m.started > timedelta(days=4) and dice.random() < 1 / REMINDED_EVERY:
        at = start + timedelta(days=3, hours=dice.uniform(1, 20))
        reminder = SetupReminder(event_id=uuid.uuid4(), occurred_at=at, merchant_id=m.merchant_id,
                                 merchant_name=m.name, links=_links(m.stores),
                                 connected_since=start + timedelta(hours=1), requested_by=STAFF[0].email)
        rows.append(_delivery(reminder, "merchant_email", at, "parked", error="550 5.1.1 mailbox unavailable")
                    if dice.random() < 0.05 else _delivery(reminder, "merchant_email", at))
    return rows


async def seed_notifier(dsn: str, merchants: list[MerchantSeed], now: datetime) -> int:
    """The notifier's deliveries for the merchants (after its migrations); returns how many rows."""
    await migrate(dsn, NOTIFIER_MIGRATIONS)
    dice = random.Random(21)
    records = [row for m in merchants for row in notifier_rows(m, now, dice)]
    conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION})
    try:
        await conn.copy_records_to_table("helpdesk_deliveries", records=records, columns=DELIVERY_COLUMNS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return len(records)


async def seed_staff(dsn: str, merchants: list[MerchantSeed], now: datetime, issuer: str, days: int = 180) -> None:
    """Half a year of console use in the registry (after seed_registry): each agent signed in and out every day
    (the lead every third), and each finalisation audited as its agent's."""
    agents = [s for s in STAFF if AGENT_ROLE in s.roles]
    lead = next(s for s in STAFF if LEAD_ROLE in s.roles)
    sessions, audit = [], []
    for day in range(days, 0, -1):
        for member in agents + ([lead] if day % 3 == 0 else []):
            began = now - timedelta(days=day, hours=-8)
            ended, sid, role = began + timedelta(hours=8), uuid.uuid4(), "lead" if member is lead else "agent"
            sessions.append((sid, hashlib.sha256(secrets.token_bytes(32)).digest(), member.sub, issuer, member.email,
                             member.name, member.email, role, began, ended, began + timedelta(hours=12), ended,
                             member.email, "signed_out"))
            audit += [(at, sid, member.sub, member.email, role, action, None, None, "done")
                      for at, action in ((began, "sign_in"), (ended, "sign_out"))]
    for n, m in enumerate(x for x in merchants if x.finalised):
        member = agents[n % len(agents)]
        audit.append((now - m.started + timedelta(days=1), None, member.sub, member.email, "agent", "finalise",
                      m.merchant_id, str(uuid.uuid4()), "done"))
    conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION})
    try:
        await conn.copy_records_to_table("staff_sessions", records=sessions, columns=[
            "session_id", "token_hash", "subject", "issuer", "actor", "name", "email", "role", "started_at",
            "last_seen_at", "expires_at", "ended_at", "ended_by", "end_reason"])
        await conn.copy_records_to_table("staff_audit", records=sorted(audit, key=lambda row: row[0]), columns=[
            "at", "session_id", "subject", "actor", "role", "action", "merchant_id", "target", "outcome"])
        await conn.execute("ANALYZE staff_sessions; ANALYZE staff_audit")
    finally:
        await conn.close()
