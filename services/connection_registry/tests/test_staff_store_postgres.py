"""The console's sign-ins, sessions and audit on real PostgreSQL: single-use sign-ins, only a token's hash
stored, idle and absolute ends, ending by a lead, and an audit nobody can rewrite."""

from datetime import UTC, datetime, timedelta
from hashlib import sha256
from uuid import uuid4

import asyncpg
import pytest

from connection_registry.adapters.staff_store import PgStaffStore
from connection_registry.domain.staff import Role, StaffMember, StaffSession
from connection_registry.main import MIGRATIONS
from connection_registry.ports import AuditEntry, PendingSignIn
from local_infra import temporary_database
from shared.delivery import DELIVERY_MIGRATIONS, apply_migrations

pytestmark = [pytest.mark.postgres]
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALICE = StaffMember("http://idp", "u-alice", "alice@helpdesk.test", "Alice Agent", "alice@helpdesk.test", Role.AGENT)


@pytest.fixture
async def store(pg_dsn):
    async with temporary_database(pg_dsn, prefix="staff_store") as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
            yield PgStaffStore(lambda: pool), pool
        finally:
            await pool.close()


async def test_a_sign_in_is_taken_once_and_only_while_fresh(store):
    staff, _ = store
    await staff.begin_sign_in(b"s1", PendingSignIn("n1", "v1", T0))
    await staff.begin_sign_in(b"s2", PendingSignIn("n2", "v2", T0))

    assert await staff.take_sign_in(b"s1", T0 - timedelta(minutes=10)) == PendingSignIn("n1", "v1", T0)
    assert await staff.take_sign_in(b"s1", T0 - timedelta(minutes=10)) is None      # single use
    assert await staff.take_sign_in(b"s2", T0 + timedelta(seconds=1)) is None       # too old
    assert await staff.take_sign_in(b"s2", T0 - timedelta(minutes=10)) is None      # and gone


async def test_sessions_are_found_by_token_hash_seen_and_ended_by_idle_time_lifetime_or_a_lead(store):
    staff, pool = store
    token_hash = sha256(b"browser-token").digest()
    session = StaffSession(uuid4(), ALICE, T0, T0, T0 + timedelta(hours=8))
    await staff.open_session(session, token_hash)

    seen = await staff.session(token_hash, T0 + timedelta(minutes=30), T0 - timedelta(minutes=30))
    idle = await staff.session(token_hash, T0 + timedelta(hours=2), T0 + timedelta(hours=1))
    late = await staff.session(token_hash, T0 + timedelta(hours=8), T0)
    stored = await pool.fetchval("SELECT count(*) FROM staff_sessions WHERE token_hash = $1", b"browser-token")

    assert seen is not None and seen.member == ALICE and seen.last_seen_at == T0 + timedelta(minutes=30)
    assert idle is None and late is None and stored == 0
    assert [s.session_id for s in await staff.open_sessions(T0 + timedelta(hours=1), T0, 10)] == [session.session_id]
    assert await staff.end_session(session.session_id, T0 + timedelta(hours=1), "lena@helpdesk.test", "ended_by_lead")
    assert not await staff.end_session(session.session_id, T0 + timedelta(hours=1), "x", "again")
    assert await staff.session(token_hash, T0 + timedelta(hours=1), T0) is None
    assert await staff.open_sessions(T0 + timedelta(hours=1), T0, 10) == []


async def test_the_audit_is_append_only_and_read_newest_first(store):
    staff, pool = store
    for minute, merchant in ((1, "m-1"), (2, "m-2"), (3, "m-1")):
        await staff.audit(AuditEntry(T0 + timedelta(minutes=minute), ALICE.actor, ALICE.subject, "agent",
                                     "finalise", "done", uuid4(), merchant, None))

    assert [a.at.minute for a in await staff.recent_audit(10)] == [3, 2, 1]
    assert [a.at.minute for a in await staff.recent_audit(10, "m-1")] == [3, 1]
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE staff_audit SET actor = 'someone-else'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("DELETE FROM staff_audit")
