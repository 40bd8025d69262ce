"""`make run` as a child process, for the e2e tests and the journey benchmark: start
`python -m local_infra.stack --port-offset N` with the secrets handed in (LOCAL_STACK_SECRETS), wait for
its banner, and stop it with Ctrl-C (SIGINT) the way a person would."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .stack import Ports

ROOT = Path(__file__).resolve().parents[4]
BANNER = "Press Ctrl-C to stop everything"


class StackDidNotStart(RuntimeError):
    """The banner did not come; the message carries what the stack printed."""


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    output: str
    ports: Ports
    secrets: dict[str, str]

    @property
    def kafka(self) -> str:
        found = re.search(r"Kafka ready at (\S+)", self.output)
        assert found, self.output
        return found.group(1)

    def url(self, port: int, path: str = "/") -> str:
        return f"http://127.0.0.1:{port}{path}"


@contextmanager
def running_stack(offset: int, secrets: dict[str, str], timeout: float = 300,
                  environment: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """The stack on ports shifted by `offset` with its own Kafka and PostgreSQL (never the caller's);
    `environment` adds settings every process of it sees (e.g. a benchmark lifting Xero's limits)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env |= environment or {}
    env["LOCAL_STACK_SECRETS"] = json.dumps(secrets)
    process = subprocess.Popen([sys.executable, "-m", "local_infra.stack", "--port-offset", str(offset)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if not line and process.poll() is not None:
                break
            lines.append(line)
            if BANNER in line:
                break
        if process.poll() is not None or not lines or BANNER not in lines[-1]:
            raise StackDidNotStart("make run did not come up:\n" + "".join(lines[-80:]))
        yield RunningStack(process, "".join(lines), Ports(offset=offset), secrets)
    finally:
        if process.poll() is None:  # still up (a test may have stopped it already)
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
