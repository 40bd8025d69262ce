"""The benchmark harness keeps working: its smoke mode runs B0, B1 and S once on a few hundred events, and
one service's idle cost next to B0 over a short window.

No timing assertions: only that the tables and the JSON figures are well formed and positive. The scaling
and journey phases are too slow for `make test`; their summaries and tables are checked on canned figures.
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

    assert "idle process" in done.stdout
    idle = {row["process"]: row for row in report["idle_services"]["rows"]}
    assert set(idle) == {"notifier", "B0"}
    for row in idle.values():
        assert row["idle_cpu_pct"]["median"] >= 0 and row["rss_mb"]["median"] > 0
    assert idle["notifier"]["met"] in (True, False) and idle["B0"]["met"] is None


def test_scaling_and_journey_sections_summarise_and_print() -> None:
    from bench import journey
    from bench.harness import Config, Results
    from bench.phases import summarise, table

    results = Results()
    for variant, one, two in (("B1", [800.0, 900.0], [1500.0, 1600.0]), ("S", [600.0, 610.0], [650.0, 700.0])):
        for a, b in zip(one, two, strict=True):
            results.add("scale_throughput", f"{variant} x1", a)
            results.add("scale_throughput", f"{variant} x2", b)
            results.add("scale_cpu_per_1k", f"{variant} x1", 0.8)
            results.add("scale_cpu_per_1k", f"{variant} x2", 0.9)
    report = summarise(results, Config(phases=("scaling", "journey")), 0)
    rows = {row["variant"]: row for row in report["scaling"]["rows"]}
    assert rows["B1"]["ratio_2_over_1"] == pytest.approx(1550 / 850) and rows["B1"]["met"]
    assert rows["S"]["ratio_2_over_1"] == pytest.approx(675 / 605) and not rows["S"]["met"]
    report["journey"] = {"repetitions": 2, "rows": [
        {"step": key, "label": label, "values": {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [1.0, 3.0]}}
        for key, label in journey.STEPS]}
    printed = table(report)
    assert "CPUs, shared by the consumers, Kafka, PostgreSQL" in printed
    assert "finish click -> email at the SMTP sink" in printed
