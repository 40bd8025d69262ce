"""`make run` as a newcomer meets it: everything comes up and answers, and Ctrl-C leaves nothing behind."""

import json
import re
import signal
import time
import urllib.request

import pytest

from local_infra._proc import descendants, pid_alive, port_open

pytestmark = pytest.mark.e2e


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_every_part_answers_and_the_banner_says_where_to_go(stack):
    output = stack.output
    ports = stack.ports
    for port in (ports.gateway_internal, ports.key_validator_internal, ports.registry_internal,
                 ports.notifier_internal):
        deadline = time.monotonic() + 60     # "degraded" (200) while its consumers still join their groups
        while (answer := _get(f"http://127.0.0.1:{port}/health/ready"))[0] == 200 and time.monotonic() < deadline \
                and set(json.loads(answer[1])["checks"].values()) != {"ok"}:
            time.sleep(1)
        status, body = answer
        assert status == 200, (port, body)
        assert set(json.loads(body)["checks"].values()) == {"ok"}, (port, body)
    assert _get(f"http://127.0.0.1:{ports.daily_sales_internal}/health/live")[0] == 200   # its consumers may still join
    for port in (ports.gateway, ports.key_validator, ports.registry, ports.notifier):
        assert _get(f"http://127.0.0.1:{port}/health/ready")[0] == 404, "health is on the internal port only"
        assert _get(f"http://127.0.0.1:{port}/metrics")[0] == 404, "metrics are on the internal port only"
    for port, path in ((ports.xero, "/.well-known/openid-configuration"), (ports.cloudpos, "/"),
                       (ports.helpdesk, "/")):
        assert _get(f"http://127.0.0.1:{port}{path}")[0] == 200
    assert f"http://127.0.0.1:{ports.gateway}/" in output
    assert "steve@cloudpos-demo.test" in output


def test_ctrl_c_stops_everything_and_leaves_no_process(stack):
    """Runs after the browser journey (test files run in name order): it ends the session's stack."""
    process = stack.process
    family = [process.pid, *descendants(process.pid)]
    assert len(family) >= 1 + 7  # the stack, three sandboxes, four services (plus Kafka and PostgreSQL)

    output = stack.output
    infrastructure = [int(m) for m in re.findall(r"(?:Kafka|PostgreSQL) ready at 127\.0\.0\.1:(\d+)", output)]
    assert len(infrastructure) == 2, output

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    time.sleep(0.5)
    assert [pid for pid in family if pid_alive(pid)] == []
    assert [port for port in infrastructure if port_open(port)] == []
