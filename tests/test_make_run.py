"""`make run` as a newcomer meets it: everything comes up and answers, and Ctrl-C leaves nothing behind."""

import json
import re
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from local_infra._proc import descendants, pid_alive, port_open

ROOT = Path(__file__).resolve().parent.parent
OFFSET = 3000  # away from the documented ports, so a developer's own `make run` does not collide
pytestmark = pytest.mark.e2e


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}


@pytest.fixture(scope="module")
def stack():
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    process = subprocess.Popen([sys.executable, "-m", "local_infra.stack", "--port-offset", str(OFFSET)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if "Press Ctrl-C to stop everything" in line:
            break
    else:
        process.kill()
    if process.poll() is not None:
        pytest.fail("make run did not come up:\n" + "".join(lines))
    yield process, "".join(lines)
    if process.poll() is None:
        process.kill()


def test_every_part_answers_and_the_banner_says_where_to_go(stack):
    _, output = stack
    for port in (8100, 8101, 8103, 8104):
        status, body = _get(f"http://127.0.0.1:{port + OFFSET}/health/ready")
        assert status == 200, (port, body)
        assert set(body["checks"].values()) == {"ok"}
    for port, path in ((8710, "/.well-known/openid-configuration"), (8720, "/"), (8730, "/")):
        assert _get(f"http://127.0.0.1:{port + OFFSET}{path}")[0] == 200
    assert f"http://127.0.0.1:{8100 + OFFSET}/" in output
    assert "steve@cloudpos-demo.test" in output


def test_ctrl_c_stops_everything_and_leaves_no_process(stack):
    process, _ = stack
    family = [process.pid, *descendants(process.pid)]
    assert len(family) >= 1 + 7  # the stack, three sandboxes, four services (plus Kafka and PostgreSQL)

    _, output = stack
    infrastructure = [int(m) for m in re.findall(r"(?:Kafka|PostgreSQL) ready at 127\.0\.0\.1:(\d+)", output)]
    assert len(infrastructure) == 2, output

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    time.sleep(0.5)
    assert [pid for pid in family if pid_alive(pid)] == []
    assert [port for port in infrastructure if port_open(port)] == []
