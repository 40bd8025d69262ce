"""`python -m oauth_gateway check-keys`: can the configured token keys open every token in the database?

Run it on a restored database before putting it in service (docs/backup-restore.md): a dump without its keys
is useless, and Xero is never called, so the drill rotates nothing. Reads `OAUTH_GATEWAY_DATABASE__URL`,
`OAUTH_GATEWAY_TOKEN_KEYS` and `OAUTH_GATEWAY_ACTIVE_TOKEN_KEY_ID` (the gateway's own variables; nothing else
is needed). Prints counts and grant ids, never a token; exit status 1 when any token does not open.
"""

import asyncio
import sys

import asyncpg
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings

from ..adapters.crypto import TokenCipher
from ..adapters.key_check import unopenable_grants


class KeyCheckSettings(BaseSettings):
    """The three gateway variables the check needs, so a drill host needs no Xero or Kafka configuration."""

    model_config = SettingsConfigDict(env_prefix="OAUTH_GATEWAY_", env_nested_delimiter="__", extra="ignore",
                                      hide_input_in_errors=True)

    database: DatabaseSettings
    token_keys: dict[str, SecretStr]
    active_token_key_id: str


async def check(settings: KeyCheckSettings) -> tuple[int, list[str]]:
    cipher = TokenCipher.from_base64({k: v.get_secret_value() for k, v in settings.token_keys.items()},
                                     settings.active_token_key_id)
    connection = await asyncpg.connect(settings.database.url)
    try:
        return await unopenable_grants(connection, cipher)
    finally:
        await connection.close()


def main(settings: KeyCheckSettings | None = None) -> int:
    settings = settings or KeyCheckSettings()  # type: ignore[call-arg] - filled from the environment
    total, failed = asyncio.run(check(settings))
    keys = ", ".join(sorted(settings.token_keys))
    if failed:
        print(f"{len(failed)} of {total} grants have tokens that key ids [{keys}] cannot open: "
              f"{', '.join(failed[:20])}{' ...' if len(failed) > 20 else ''}", file=sys.stderr)
        return 1
    print(f"all {total} grants' tokens open with key ids [{keys}]")
    return 0
