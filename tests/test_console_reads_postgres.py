"""The helpdesk console's queues and search on real PostgreSQL: what each lists, in which order, page by page, with
counts that match; the user's text taken literally; the fakes giving the same answers on the same data; and, at
the 10,000 merchants `make bench` seeds (bench.lifecycle_seed), the search's indexes in use and each query's
p95 printed (a figure to read, not asserted: timings depend on the machine)."""

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from uuid import UUID

import asyncpg
import pytest

from bench.lifecycle_seed import MerchantSeed, lay_out, seed_registry
from connection_registry.adapters import postgres, rows
from connection_registry.adapters.postgres import PgRegistryReads
from connection_registry.domain import (Completion, Graph, Incident, Merchant, Organisation, OrgState, StoreRecord,
                                        StoreState)
from local_infra import temporary_database
from services.connection_registry.tests.fakes import FakeReads, FakeUnitOfWork
from shared.contracts import BreakReason
from shared.delivery import DELIVERY_MIGRATIONS, Migrations, apply_migrations

pytestmark = [pytest.mark.postgres]

T = datetime(2026, 3, 1, 9, tzinfo=UTC)
DAY = timedelta(days=1)
TENANT = UUID("3f2a9c1e-7b4d-4e21-9a0c-5d6e7f809a1b")
PAGE = 50
REGISTRY_SQL = files("connection_registry") / "migrations"


def _graph(mid: str, name: str, stores: list[tuple], orgs: list[tuple[UUID, str]] = (), completed: bool = False,
           broken_since: datetime | None = None) -> Graph:
    """stores: (store_id, name, state, connected_at, tenant_id); a broken one is the first store."""
    completion = Completion(uuid.uuid4(), T - 2 * DAY, "u-1", ()) if completed else None
    merchant = Merchant(mid, name, "pro_plus", f"key-{mid}", T - 60 * DAY, T - 60 * DAY, uuid.uuid4(), completion)
    records = {}
    for n, (sid, store_name, state, connected_at, tenant) in enumerate(stores):
        incident = (Incident(uuid.uuid4(), broken_since, BreakReason.REMOVED_IN_XERO, broken_since)
                    if broken_since and n == 0 else None)
        records[sid] = StoreRecord(mid, sid, store_name, state, tenant, None, "g-1" if tenant else None,
                                   connected_at, connected_at or T - 60 * DAY, incident)
    organisations = {t: Organisation(mid, t, org_name, OrgState.AUTHORISED, "g-1", uuid.uuid4(), T - 30 * DAY)
                     for t, org_name in orgs}
    return Graph(mid, merchant, records, organisations)


def _tenant(n: int) -> UUID:
    return UUID(f"{n:08x}-0000-4000-8000-{n:012x}")


C, AUTH, GONE = StoreState.CONNECTED, StoreState.AUTHORISED, StoreState.DISCONNECTED
HAND_MADE = [
    _graph("hd-0042", "Harbour Cycles", [("s1", "Ponsonby", C, T - 20 * DAY, TENANT)],
           [(TENANT, "Harbour Cycles Limited")]),
    _graph("HD-00421", "harbour bakery", [("s1", "Queen Street", C, T - 5 * DAY, _tenant(2)),
                                          ("s2", "Airport", C, T - 12 * DAY, _tenant(3))],
           [(_tenant(2), "Patel Holdings Limited"), (_tenant(3), "Harbour Bakery Airport Ltd")]),
    _graph("m-100pct", "100% Organics", [("s1", "Main St", C, T - 30 * DAY, _tenant(4))],
           [(_tenant(4), "100% Organics Ltd")], completed=True),
    _graph("m-1000", "1000 Organics", [("s1", "Main St", C, T - 9 * DAY, _tenant(5))], [(_tenant(5), "Thousand Ltd")]),
    _graph("m-0999", "Nine Nine Nine", [("s1", "Dock", C, T - 9 * DAY, _tenant(6))], [(_tenant(6), "Nines Ltd")]),
    _graph("m-abc_1", "a_b Hardware", [("s1", "Karori", AUTH, None, None)]),
    _graph("m-abcx1", "axb Hardware", [("s1", "Karori", GONE, T - 40 * DAY, _tenant(7))], [(_tenant(7), "Axb Ltd")]),
    _graph("m-twin-1", "Twin Peaks Deli", [("s1", "Back\\Office", C, T - DAY, _tenant(8))], [(_tenant(8), "TP Ltd")]),
    _graph("m-twin-0", "Twin Peaks Deli", [("s1", "Front", C, T - 8 * DAY, _tenant(9))], [(_tenant(9), "TP2 Ltd")],
           completed=True, broken_since=T - 2 * DAY),
    _graph("m-brk", "Zed Books", [("s1", "Mall", C, T - 50 * DAY, _tenant(10))], [(_tenant(10), "Zed Ltd")],
           completed=True, broken_since=T - 3 * DAY),
    _graph("m-sea", "Seaview Gifts", [("s1", "Harbour View", C, T - 15 * DAY, _tenant(11))],
           [(_tenant(11), "Seaview Gifts Ltd")], completed=True),
]


async def _write(conn: asyncpg.Connection, graphs: list[Graph]) -> None:
    for table, columns, key, values, items in (
            ("merchants", rows.MERCHANT_COLUMNS, "merchant_id", rows.merchant_values, [g.merchant for g in graphs]),
            ("stores", rows.STORE_COLUMNS, "merchant_id, store_id", rows.store_values,
             [s for g in graphs for s in g.stores.values()]),
            ("organisations", rows.ORG_COLUMNS, "merchant_id, tenant_id", rows.organisation_values,
             [o for g in graphs for o in g.organisations.values()])):
        await conn.executemany(rows.upsert(table, columns, key), [values(item) for item in items])
    await conn.execute("ANALYZE")


def _fake(graphs: list[Graph]) -> FakeReads:
    uow = FakeUnitOfWork()
    for g in graphs:
        uow.committed.merchants[g.merchant_id] = g.merchant
        uow.committed.stores |= {(g.merchant_id, s.store_id): s for s in g.stores.values()}
        uow.committed.organisations |= {(g.merchant_id, o.tenant_id): o for o in g.organisations.values()}
        uow.committed.grants |= {(g.merchant_id, k): v for k, v in g.grants.items()}
    return FakeReads(uow)


def _ids(graphs: list[Graph]) -> list[str]:
    return [g.merchant_id for g in graphs]


@pytest.fixture(scope="module")
async def hand_made(pg_dsn):
    async with temporary_database(pg_dsn, prefix="console_reads") as dsn:
        await seed_registry(dsn, [], T)          # the schema, through the registry's own migrations
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await _write(conn, HAND_MADE)
            yield PgRegistryReads(lambda: pool), _fake(HAND_MADE)
        finally:
            await pool.close()


SEARCHES = {
    "harbour": ["HD-00421", "hd-0042", "m-sea"],            # names any case, a store's name; by lower-cased name
    "  HARBOUR ": ["HD-00421", "hd-0042", "m-sea"],         # trimmed, case-insensitive
    "patel": ["HD-00421"],                                  # an organisation's name
    "bakery airport": ["HD-00421"],
    "cycles ponsonby": [],                                  # no match across two names
    "100%": ["m-100pct"],                                   # % is a character, not "anything" (1000 Organics)
    "%": ["m-100pct"],
    "a_b hardware": ["m-abc_1"],                            # _ is a character, not "any one" (axb Hardware)
    "a_b": ["m-abc_1"],
    "_": ["m-abc_1"],
    "back\\office": ["m-twin-1"],                           # a backslash is a character too
    "twin peaks": ["m-twin-0", "m-twin-1"],                 # same name: merchant id decides
    "hd-0042": ["HD-00421", "hd-0042"],                     # merchant id prefix, any case
    "HD-00421": ["HD-00421"],                               # exact merchant id
    "M-ABC": ["m-abc_1", "m-abcx1"],
    "m-abc_1": ["m-abc_1"],
    "d-0042": [],                                           # ids match from their start only
    "hd": ["HD-00421", "hd-0042"],                          # short text: the same rules
    str(TENANT): ["hd-0042"],                               # a whole tenant id ...
    str(TENANT).upper(): ["hd-0042"],
    TENANT.hex: ["hd-0042"],                                # ... as uuid.UUID reads it
    str(TENANT)[:8]: ["hd-0042"],                           # the first 8 characters of its text form
    str(TENANT)[:13]: ["hd-0042"],
    str(TENANT)[:7]: [],                                    # too short for an id prefix
    str(TENANT)[1:13]: [],                                  # ids match from their start only
    "3f2a9c1e7b": [],                                       # not a prefix of the text form (dash missing)
    "": [],
    "   ": [],
    "harbour\x00": [],                                      # nothing holds a NUL (PostgreSQL's text cannot)
}


@pytest.mark.parametrize("text", list(SEARCHES))
async def test_search_finds_by_name_store_organisation_and_ids_literally(hand_made, text):
    pg, fake = hand_made
    assert _ids(await pg.search(text, PAGE)) == SEARCHES[text]
    assert await pg.search_count(text) == len(SEARCHES[text])
    assert _ids(await fake.search(text, PAGE)) == SEARCHES[text]
    assert await fake.search_count(text) == len(SEARCHES[text])


@pytest.mark.parametrize("text", ["o", "ltd", "e", "h"])
async def test_search_pages_cover_the_whole_list_once_in_order(hand_made, text):
    pg, fake = hand_made
    whole = await pg.search(text, 1000)
    pages = [g for offset in range(0, len(whole) + 3, 3) for g in await pg.search(text, 3, offset)]
    assert len(whole) > 3 and pages == whole and await pg.search_count(text) == len(whole)
    assert _ids(await fake.search(text, 1000)) == _ids(whole) and await fake.search_count(text) == len(whole)
    names = [(g.merchant.name.lower(), g.merchant_id) for g in whole]
    assert names == sorted(names)
    for graph in whole:
        assert graph == await pg.graph(graph.merchant_id) == await fake.graph(graph.merchant_id)


UNFINISHED = {
    T - 7 * DAY: ["hd-0042", "HD-00421", "m-0999", "m-1000"],   # earliest connection first, then merchant id
    T - 9 * DAY: ["hd-0042", "HD-00421", "m-0999", "m-1000"],   # connected at the limit: in
    T - 10 * DAY: ["hd-0042", "HD-00421"],                      # HD-00421 by its store connected 12 days ago
    T: ["hd-0042", "HD-00421", "m-0999", "m-1000", "m-twin-1"],
    T - 21 * DAY: [],
}


@pytest.mark.parametrize("before", list(UNFINISHED))
async def test_unfinished_lists_connected_but_never_finished_oldest_connection_first(hand_made, before):
    """Left out: finished ones (m-100pct, m-sea, ...), a store only authorised (m-abc_1) or disconnected
    (m-abcx1)."""
    pg, fake = hand_made
    expected = UNFINISHED[before]
    for reads in (pg, fake):
        assert _ids(await reads.unfinished(before, PAGE)) == expected
        assert await reads.unfinished_count(before) == len(expected)
        assert _ids(await reads.unfinished(before, 2, 1)) == expected[1:3]


async def test_needing_attention_pages_longest_broken_first(hand_made):
    pg, fake = hand_made
    for reads in (pg, fake):
        assert _ids(await reads.needing_attention(PAGE)) == ["m-brk", "m-twin-0"]
        assert _ids(await reads.needing_attention(1, 1)) == ["m-twin-0"]
        assert await reads.attention_count() == 2


async def test_search_follows_what_the_writers_change_and_finds_rows_older_than_its_table(pg_dsn, tmp_path):
    """merchant_search is kept by triggers: renames (through the writers' whole-row upserts) and new rows show at
    once; the migration that creates it fills it from the merchants already there."""
    older = tmp_path / "migrations"
    older.mkdir()
    for script in sorted(REGISTRY_SQL.iterdir(), key=lambda f: f.name):
        if script.name.endswith(".sql") and script.name < "0005":
            (older / script.name).write_text(script.read_text())
    async with temporary_database(pg_dsn, prefix="console_triggers") as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            await apply_migrations(pool, DELIVERY_MIGRATIONS, Migrations("connection_registry", older))
            async with pool.acquire() as conn:
                await _write(conn, HAND_MADE[:3])
            await apply_migrations(pool, DELIVERY_MIGRATIONS, Migrations("connection_registry", REGISTRY_SQL))
            reads, fake = PgRegistryReads(lambda: pool), _fake(HAND_MADE[:3])
            assert _ids(await reads.search("harbour", PAGE)) == ["HD-00421", "hd-0042"]

            hd, bakery = HAND_MADE[0], HAND_MADE[1]
            renamed = [replace(hd, merchant=replace(hd.merchant, name="Kauri Cycles"),
                               stores={"s1": replace(hd.stores["s1"], name="Devonport")}),
                       replace(bakery, organisations={**bakery.organisations, _tenant(12): Organisation(
                           "HD-00421", _tenant(12), "Ngata Whanau Trust", OrgState.AUTHORISED, "g-2", None, T)})]
            async with pool.acquire() as conn:
                await _write(conn, renamed)
            for text, expected in (("kauri", ["hd-0042"]), ("ponsonby", []), ("devonport", ["hd-0042"]),
                                   ("whanau", ["HD-00421"]), ("harbour cycles", ["hd-0042"]),   # its organisation
                                   ("HD", ["HD-00421", "hd-0042"])):
                assert _ids(await reads.search(text, PAGE)) == expected, text
                assert await reads.search_count(text) == len(expected), text
            assert [g.merchant.name for g in await reads.search("hd", PAGE)] == ["harbour bakery", "Kauri Cycles"]
            assert _ids(await fake.search("ponsonby", PAGE)) == ["hd-0042"]       # the fake was not told
        finally:
            await pool.close()


def _users(count: int, orgs: int, prefix: str) -> list[dict]:
    """What the Xero sandbox's /_sandbox/seed returns per user (the fields the registry's rows use)."""
    return [{"sub": uuid.uuid4().hex, "xero_userid": str(uuid.uuid4()), "email": f"{prefix}-{i}@xero-seed.test",
             "name": f"{prefix} {i}", "auth_event_id": str(uuid.uuid4()),
             "tenant_ids": [str(uuid.uuid4()) for _ in range(orgs)],
             "connection_ids": [str(uuid.uuid4()) for _ in range(orgs)]} for i in range(count)]


def _seeds(count: int) -> list[MerchantSeed]:
    return lay_out(_users(count, 2, "BenchA"), _users(count, 1, "BenchB"))


async def _graphs_of_all(conn: asyncpg.Connection) -> list[Graph]:
    return await rows.load_graphs(conn, "SELECT merchant_id, row_number() OVER (ORDER BY merchant_id) AS ord"
                                        " FROM merchants")


async def test_the_fakes_answer_as_postgresql_on_the_benchs_merchants(pg_dsn):
    """400 merchants laid out as `make bench` lays out 10,000 (the fake's graphs are PostgreSQL's own)."""
    seeds, now = _seeds(400), datetime.now(UTC)
    async with temporary_database(pg_dsn, prefix="console_fakes") as dsn:
        await seed_registry(dsn, seeds, now)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            pg = PgRegistryReads(lambda: pool)
            async with pool.acquire() as conn:
                fake = _fake(await _graphs_of_all(conn))
            org = seeds[123].stores[2]
            texts = ["cycles", "Harbour", "ponsonby", "patel", "limited", "bench-m001", "BENCH-M0012", "o", "& b",
                     "o'brien", str(org.tenant_id), str(org.tenant_id)[:9], "nothing like it"]
            for text in texts:
                count = await pg.search_count(text)
                assert count == await fake.search_count(text), text
                for offset in (0, 20):
                    assert _ids(await pg.search(text, 20, offset)) == _ids(await fake.search(text, 20, offset)), text
            assert _ids(await pg.search(str(org.tenant_id), PAGE)) == [seeds[123].merchant_id]
            for before in (now - 7 * DAY, now - DAY, now):
                assert await pg.unfinished_count(before) == await fake.unfinished_count(before) > 0
                for offset in (0, 30):
                    assert _ids(await pg.unfinished(before, 30, offset)) == _ids(await fake.unfinished(before, 30,
                                                                                                      offset))
            assert _ids(await pg.needing_attention(PAGE)) == _ids(await fake.needing_attention(PAGE))
        finally:
            await pool.close()


async def _p95(call: Callable[[], Awaitable[object]], runs: int = 50) -> tuple[float, float]:
    for _ in range(5):
        await call()                               # warm: prepared statements, PostgreSQL's plan cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    ordered = sorted(times)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


async def _plan(conn: asyncpg.Connection, sql: str, args: tuple, generic: bool) -> str:
    """The plan PostgreSQL runs the statement with; `generic`: the one its plan cache may settle on after five
    runs of a prepared statement (no argument values known)."""
    def literal(value: object) -> str:
        return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"

    await conn.execute(f"SET plan_cache_mode = {'force_generic_plan' if generic else 'force_custom_plan'}")
    await conn.execute(f"PREPARE planned AS {sql}")
    try:
        found = await conn.fetch(f"EXPLAIN EXECUTE planned({', '.join(map(literal, args))})")
        return "\n".join(r[0] for r in found)
    finally:
        await conn.execute("DEALLOCATE planned")
        await conn.execute("RESET plan_cache_mode")


async def test_at_ten_thousand_merchants_search_uses_its_indexes_and_each_query_p95_is_printed(pg_dsn, capsys):
    seeds, now = _seeds(10_000), datetime.now(UTC)
    async with temporary_database(pg_dsn, prefix="console_10k") as dsn:
        await seed_registry(dsn, seeds, now)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            reads = PgRegistryReads(lambda: pool)
            tenant, before = seeds[4321].stores[0].tenant_id, now - 7 * DAY
            expected = sum(1 for m in seeds if any("cycles" in n.lower() for n in (
                m.name, *(s.name for s in m.stores), *(s.organisation_name for s in m.stores))))
            assert await reads.search_count("Cycles") == expected > 100
            assert _ids(await reads.search(str(tenant)[:8], PAGE)) == [seeds[4321].merchant_id]
            assert await reads.unfinished_count(before) == sum(
                1 for m in seeds if not m.completed and m.started - timedelta(hours=1) >= 7 * DAY) > 0

            plans = {}
            async with pool.acquire() as conn:
                for text in ("harbour cycles", str(tenant)[:8]):
                    sql, args = postgres._search_page(text)
                    for generic in (False, True):
                        plans[text, generic] = await _plan(conn, sql, (*args, PAGE, 0), generic)
                unfinished_plan = await _plan(conn, postgres._UNFINISHED, (before, PAGE, 0), False)
            for (text, _), plan in plans.items():
                assert "Seq Scan" not in plan, plan
                assert "merchant_search_names" in plan, plan    # the id prefix: its trigram index or the primary key
                assert "merchant_search_id" in plan or "merchant_search_pkey" in plan, plan
                assert text == "harbour cycles" or "organisations_by_tenant" in plan, plan
            assert "merchants_unfinished" in unfinished_plan and "stores_connected_since" in unfinished_plan

            figures = {label: await _p95(call) for label, call in _console_queries(reads, str(tenant), before).items()}
        finally:
            await pool.close()
    with capsys.disabled():
        print(f"\nconsole reads at {len(seeds)} merchants, 5 warm-up runs then 50 measured, each (ms):")
        for label, (p50, p95) in figures.items():
            print(f"  {label:<44} p50 {p50:6.2f}  p95 {p95:6.2f}")
        for title, plan in (("search 'harbour cycles', generic plan", plans["harbour cycles", True]),
                            ("unfinished", unfinished_plan)):
            print(f"  {title}:\n    " + plan.replace("\n", "\n    "))


def _console_queries(reads: PgRegistryReads, tenant: str, before: datetime) -> dict[str, Callable]:
    return {
        "search 'harbour cycles' (page of 50)": lambda: reads.search("harbour cycles", PAGE),
        "search 'cycles' (page of 50)": lambda: reads.search("cycles", PAGE),
        "search 'cycles' page 5": lambda: reads.search("cycles", PAGE, 4 * PAGE),
        "search_count 'cycles'": lambda: reads.search_count("cycles"),
        "search 'ponsonby' (a store)": lambda: reads.search("ponsonby", PAGE),
        "search 'patel' (an organisation)": lambda: reads.search("patel", PAGE),
        "search 'ltd' (every merchant)": lambda: reads.search("ltd", PAGE),
        "search_count 'ltd'": lambda: reads.search_count("ltd"),
        "search 'bench' (every merchant id)": lambda: reads.search("bench", PAGE),
        "search 'bench-m0123' (merchant id prefix)": lambda: reads.search("bench-m0123", PAGE),
        "search tenant id prefix": lambda: reads.search(tenant[:8], PAGE),
        "search whole tenant id": lambda: reads.search(tenant, PAGE),
        "search 'o' (1 letter, scanned)": lambda: reads.search("o", PAGE),
        "search_count 'o'": lambda: reads.search_count("o"),
        "search, no match": lambda: reads.search("no such merchant", PAGE),
        "unfinished > 7 days (page of 50)": lambda: reads.unfinished(before, PAGE),
        "unfinished page 5": lambda: reads.unfinished(before, PAGE, 4 * PAGE),
        "unfinished_count": lambda: reads.unfinished_count(before),
        "needing_attention (page of 50)": lambda: reads.needing_attention(PAGE),
        "attention_count": reads.attention_count,
        "awaiting_finalisation (page of 50)": lambda: reads.awaiting_finalisation(PAGE),
    }
