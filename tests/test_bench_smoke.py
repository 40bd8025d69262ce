"""The benchmark harness keeps working: its smoke mode runs B0, B1 and S once on a few hundred events.

No timing assertions: only that the table and the JSON figures are well formed and positive.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_bench_smoke_prints_a_table_of_positive_figures(kafka_bootstrap: str, pg_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": pg_dsn}
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
