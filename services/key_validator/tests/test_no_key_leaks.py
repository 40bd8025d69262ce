"""Secrets never leak: after a run through every outcome (success, each refusal, throttling, an outage),
no log line at DEBUG from any logger, no stored row of any table and no Kafka record holds a raw key,
the fingerprint pepper or a bearer token."""

import logging
import secrets

import pytest

from shared.contracts import topics

from tests.support.kafka import eventually, read_topic

from .fakes import FakeClock
from .live import API_TOKEN, FINGERPRINT_SECRET, key_validator

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_no_secret_in_any_log_line_stored_row_or_event(sandbox, caplog, pg_dsn, kafka_bootstrap, unique_name):
    caplog.set_level(logging.DEBUG)  # the root logger: every library's debug output too
    steve, basil, eve = sandbox.add_merchant(), sandbox.add_merchant(licence="pro"), sandbox.add_merchant()
    _, xero = sandbox.issue_key(steve)
    revoked_id, revoked = sandbox.issue_key(steve)
    sandbox.revoke(revoked_id)
    _, brm = sandbox.issue_key(steve, "bike_rental_manager", "Bike Rental Manager API Client")
    _, basils = sandbox.issue_key(basil)
    guesses = ["cpk_" + secrets.token_urlsafe(30) for _ in range(7)]
    runs = [(xero, steve, 200), (revoked, steve, 403), (brm, steve, 403), (basils, steve, 403),
            (basils, basil, 403), (guesses[0], steve, 401)] + [(g, eve, None) for g in guesses[1:]]

    async with key_validator(sandbox, FakeClock(), pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                             group=unique_name("kv-leaks")) as kv:
        answers = [await kv.validate(key, merchant) for key, merchant, _ in runs]
        sandbox.fail_next(1, 503)
        answers.append(await kv.validate(xero, steve))
        answers.append(await kv.validate(f"  {xero[:-3]}\x00{xero[-3:]}  ", steve))  # malformed: 400
        await eventually(lambda: _drained(kv.runtime.pool), what="the outbox relay to publish")
        rows = await _every_stored_value(kv.runtime.pool)
        events = await read_topic(kafka_bootstrap, topics.KEY_VALIDATED, key=steve.encode())

    codes = [a.json().get("code", "validated") for a in answers]
    assert codes == ["validated", "key_revoked", "key_for_other_service", "key_of_other_merchant",
                     "licence_not_pro_plus", "unknown_key", *["unknown_key"] * 5, "too_many_attempts",
                     "cloudpos_unavailable", "invalid_format"]
    logs = "\n".join([caplog.text, *(_everything_about(r) for r in caplog.records)])
    assert "outcome=validated" in logs and "outcome=too_many_attempts" in logs  # the run was logged
    assert len([r for r in rows if r.startswith("validation_attempts:")]) == 13  # ... and audited
    stored = "\n".join(rows)
    published = "\n".join(r.value.decode() + str(r.headers) for r in events)
    responses = "\n".join(a.text + str(a.headers) for a in answers)

    for secret in [xero, revoked, brm, basils, *guesses, FINGERPRINT_SECRET, API_TOKEN, sandbox.platform_token]:
        for where, text in (("logs", logs), ("database", stored), ("Kafka", published), ("responses", responses)):
            leaked = secret in text or secret.encode().hex() in text  # computed first: pytest must not print it
            assert not leaked, f"a secret leaked into the {where}"


async def _drained(pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE published_at IS NULL") == 0


async def _every_stored_value(pool) -> list[str]:
    """Every row of every table in the service's database, as text (bytea decoded, not hex-escaped)."""
    tables = await pool.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    assert {"validation_attempts", "rate_limit_hits", "delivery_outbox"} <= {t["table_name"] for t in tables}
    rows = []
    for table in tables:
        for row in await pool.fetch(f'SELECT * FROM "{table["table_name"]}"'):
            values = [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row.values()]
            rows.append(f"{table['table_name']}: {' | '.join(values)}")
    return rows


def _everything_about(record: logging.LogRecord) -> str:
    """A record's message, raw arguments and exception: what any handler or formatter could print."""
    parts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return " ".join(parts)
