"""Idempotent consumers: an event id is claimed in the same transaction as the event's effect."""

from uuid import UUID

import asyncpg


async def claim_event(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> bool:
    """True the first time `consumer` sees `event_id` (inside the caller's transaction), False after."""
    return await conn.fetchval(
        "INSERT INTO delivery_inbox (consumer, event_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true", consumer, event_id) is True
