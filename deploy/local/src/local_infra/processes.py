"""Run a service as its own OS process (`python -m <module>`), as Kubernetes would, so a test can SIGKILL it
and bench.idle can read its CPU and memory."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from local_infra._proc import free_ports


@dataclass
class ServiceProcess:
    module: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    internal_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        """The internal listener: /health/live, /health/ready, /metrics (never on the public port)."""
        return f"http://127.0.0.1:{self.internal_port}"

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples matching `labels`, read from the process's own /metrics."""
        text = httpx.get(f"{self.internal_url}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no offset is committed, the consumer never says goodbye."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def service_process(module: str, env: dict[str, str], workdir: Path, *, ready_timeout: float = 60,
                    port: int | None = None) -> Iterator[ServiceProcess]:
    """Start `python -m module` with `env` (its settings) on `port` (default: a free one, chosen here) and a free
    internal port; wait for /health/ready there. A fixed port is for a service others must know the address of
    before it starts (the staff identity provider's registered redirect URI of the registry)."""
    (port, internal) = (port, free_ports(1)[0]) if port else free_ports(2)
    prefix = module.upper()
    log = workdir / f"{module}-{port}.log"
    full_env = {**os.environ, **env, f"{prefix}_HTTP__HOST": "127.0.0.1", f"{prefix}_HTTP__PORT": str(port),
                f"{prefix}_HTTP__INTERNAL_PORT": str(internal)}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", module], env=full_env, stdout=out, stderr=subprocess.STDOUT)
    service = ServiceProcess(module, port, process, log, internal)
    try:
        deadline = time.monotonic() + ready_timeout
        while not _ready(service.internal_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield service
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _ready(url: str) -> bool:
    try:
        response = httpx.get(f"{url}/health/ready", timeout=2)
        # "ok", not just 200: a service also answers 200 ("degraded") while its consumers still connect to Kafka
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False
