"""The benchmark harness keeps working: its smoke mode runs B0, B1 and S once on a few hundred events.

No timing assertions: only that the table and the JSON figures are well formed and positive.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_infra.kafka import KafkaBroker

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
def private_kafka():
    """The bench drains the whole KeyValidated topic: on the session's broker it would measure (and leave
    behind) other tests' records, so it gets a broker of its own."""
    with KafkaBroker(num_partitions=4) as broker:
        yield broker.bootstrap_servers


def test_bench_smoke_prints_a_table_of_positive_figures(private_kafka: str, pg_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": private_kafka, "DATABASE_URL": pg_dsn}
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--events", "200", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "drain throughput" in done.stdout and "S/B1" in done.stdout

    report = json.loads(out.read_text())
    rows = {row["metric"]: row for row in report["rows"]}
    assert {"throughput", "cpu_per_1k", "rss_mb", "dup_throughput"} <= set(rows)
    for row in rows.values():
        assert set(row["values"]) == {"B0", "B1", "S"}
        for figures in row["values"].values():
            assert figures["median"] > 0 and figures["min"] <= figures["median"] <= figures["max"]
        assert row["S_over_B1"] > 0
