"""The whole product as separate processes, started the way `make run` starts it (one stack per session)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_infra.stack import Ports, generate_secrets

ROOT = Path(__file__).resolve().parents[2]
OFFSET = 3000  # away from the documented ports, so a developer's own `make run` does not collide
ARTIFACTS = ROOT / "artifacts" / "e2e"


@dataclass
class Stack:
    process: subprocess.Popen[str]
    output: str
    ports: Ports
    secrets: dict[str, str]

    @property
    def kafka(self) -> str:
        return re.search(r"Kafka ready at (\S+)", self.output).group(1)

    def url(self, port: int, path: str = "/") -> str:
        return f"http://127.0.0.1:{port}{path}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    secrets = generate_secrets()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["LOCAL_STACK_SECRETS"] = json.dumps(secrets)
    process = subprocess.Popen([sys.executable, "-m", "local_infra.stack", "--port-offset", str(OFFSET)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if "Press Ctrl-C to stop everything" in line:
            break
    if process.poll() is not None or not lines or "Press Ctrl-C" not in lines[-1]:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        pytest.fail("make run did not come up:\n" + "".join(lines))
    yield Stack(process, "".join(lines), Ports(offset=OFFSET), secrets)
    if process.poll() is None:  # a test failed before the Ctrl-C test: stop it the way a person would
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
