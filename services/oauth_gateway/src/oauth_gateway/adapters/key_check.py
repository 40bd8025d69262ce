"""Which stored tokens a key set cannot open: the restore drill's check (docs/backup-restore.md). Opens every
grant's tokens in memory and keeps nothing; only grant ids leave."""

import asyncpg

from .crypto import TokenCipher, UndecryptableToken


async def unopenable_grants(conn: asyncpg.Connection | asyncpg.Pool, cipher: TokenCipher) -> tuple[int, list[str]]:
    """(grants holding tokens, ids of those whose tokens do not open with `cipher`'s keys)."""
    rows = await conn.fetch("SELECT grant_id, access_token, refresh_token FROM grants WHERE refresh_token IS NOT NULL"
                            " ORDER BY grant_id")
    failed = []
    for row in rows:
        try:
            cipher.open(row["access_token"], f"grant:{row['grant_id']}:access")
            cipher.open(row["refresh_token"], f"grant:{row['grant_id']}:refresh")
        except UndecryptableToken:
            failed.append(row["grant_id"])
    return len(rows), failed
