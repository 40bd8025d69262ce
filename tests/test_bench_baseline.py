"""B2, the batched bare baseline, writes what B1 writes (so their drain figures compare like for like), and the
drain table holds S to issue #22's goals on the medians while counting the repetitions that missed.

The first test needs PostgreSQL only (no Kafka, no process): the records are built as the topic would hold them.
"""

import asyncpg
import pytest

from bench import baseline
from bench.drain import summarise, table
from bench.harness import Results
from shared.contracts import examples
from shared.delivery import CloudEvent, to_kafka
from local_infra.postgres import temporary_database

TABLES = {"merchants": "SELECT merchant_id, name, licence, key_id FROM merchants ORDER BY 1",
          "stores": "SELECT merchant_id, store_id, name FROM stores ORDER BY 1, 2",
          "inbox": "SELECT event_id FROM delivery_inbox ORDER BY 1",
          "outbox": "SELECT record_key, value FROM delivery_outbox ORDER BY 1, 2"}


def _records() -> list:
    """A partition's batch: three merchants, one validated twice (renamed, one store fewer), one event twice."""
    first = examples.key_validated("m-1")
    renamed = first.model_copy(update={"merchant_name": "Steve's Bikes", "stores": first.stores[:2]})
    events = [CloudEvent(data=e, source="bench-test") for e in
              (first, examples.key_validated("m-2"), renamed, examples.key_validated("m-3", stores=1))]
    return [to_kafka(e) for e in [*events[:2], events[1], *events[2:]]]  # m-2's record delivered twice


async def _tables(dsn: str) -> dict[str, list]:
    conn = await asyncpg.connect(dsn)
    try:
        return {name: [tuple(row) for row in await conn.fetch(sql)] for name, sql in TABLES.items()}
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_b2_batch_writes_what_b1_writes_one_event_at_a_time(pg_dsn: str) -> None:
    records = _records()
    async with temporary_database(pg_dsn, "bench_b1") as b1_dsn, temporary_database(pg_dsn, "bench_b2") as b2_dsn:
        for dsn in (b1_dsn, b2_dsn):
            await baseline.create_schema(dsn)
        b1 = await asyncpg.connect(b1_dsn)
        b2 = await asyncpg.connect(b2_dsn)
        try:
            for record in records:
                await baseline._apply(b1, baseline.effect_b1(record))  # noqa: SLF001 - B1's own path
            effects = [baseline.effect_b1(record) for record in records]
            assert await baseline.apply_batch(b2, effects) == 4  # five records, one of them a duplicate
            assert await baseline.apply_batch(b2, effects) == 0  # the batch redelivered: all claimed already
        finally:
            await b1.close()
            await b2.close()
        written, expected = await _tables(b2_dsn), await _tables(b1_dsn)
    assert written == expected
    assert ("m-1", "Steve's Bikes", "pro_plus", "k-1") in written["merchants"]  # the later event wins
    assert len(written["inbox"]) == len(written["outbox"]) == 4
    assert len(written["stores"]) == 3 + 3 + 1  # m-1's third store stays: an upsert never deletes


def _canned(s_throughput: list[float]) -> Results:
    results = Results()
    for variant, throughput, cpu, p99 in (("B0", [1200, 1300, 1250], [0.5, 0.5, 0.5], [20, 22, 21]),
                                          ("B1", [1000, 1100, 1050], [0.6, 0.6, 0.6], [20, 24, 22]),
                                          ("B2", [3000, 3100, 3050], [0.2, 0.2, 0.2], [15, 15, 15]),
                                          ("S", s_throughput, [0.4, 0.7, 0.5], [28, 40, 35])):
        for metric, values in (("throughput", throughput), ("cpu_per_1k", cpu), ("p99_ms", p99)):
            for value in values:
                results.add(metric, variant, float(value))
    return results


def test_drain_rows_hold_s_to_b1_and_b2_on_medians_and_count_missed_runs() -> None:
    rows = {row["metric"]: row for row in summarise(_canned([2500, 2300, 2600]))}
    drain, cpu, p99 = rows["throughput"], rows["cpu_per_1k"], rows["p99_ms"]
    assert drain["goal"] == "S >= 1.0 x B1 and >= 0.8 x B2" and drain["met"] and drain["missed_runs"] == "1/3"
    assert drain["S_over_B1"] == pytest.approx(2500 / 1050) and drain["S_over_B2"] == pytest.approx(2500 / 3050)
    assert cpu["met"] and cpu["missed_runs"] == "1/3"      # 0.5 <= 0.6 on the medians; 0.7 missed once
    assert not p99["met"] and p99["missed_runs"] == "2/3"  # 35 > 1.3 x 22 + 3; run 1: 28 <= 1.3 x 20 + 3
    printed = table({"rows": list(rows.values()), "events": 5000, "partitions": 4, "repetitions": 3, "cpus": 2})
    assert "B2 median [range]" in printed and "S/B2" in printed and "| NO (2/3)" in printed

    slow = {row["metric"]: row for row in summarise(_canned([2000, 2400, 2600]))}["throughput"]
    assert not slow["met"] and slow["missed_runs"] == "2/3"  # well above B1, but 2400 < 0.8 x 3050
