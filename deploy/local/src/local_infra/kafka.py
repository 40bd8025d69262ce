"""A real Apache Kafka 4.x broker (KRaft, broker+controller in one JVM) run as a plain local process.

The jars come from Maven Central through deploy/local/kafka/pom.xml (there is no Kafka package in
Debian and no Docker here), so tests exercise real Kafka semantics: idempotence, groups, restarts.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.admin import AIOKafkaAdminClient

from local_infra._proc import die_with_parent, free_ports, log_tail, port_open, run_sync, track, untrack

KAFKA_DIR = Path(__file__).resolve().parents[2] / "kafka"  # deploy/local/kafka (editable/workspace install)
REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_JVM_OPTS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # C1 only: noticeably faster start on 2 cores
    "-Djava.awt.headless=true",
)


def default_cache_dir() -> Path:
    """`<repo>/.cache` (git-ignored), or $LOCAL_INFRA_CACHE_DIR."""
    return Path(os.environ.get("LOCAL_INFRA_CACHE_DIR") or REPO_ROOT / ".cache")


def _say(message: str) -> None:
    print(f"[local-infra] {message}", file=sys.stderr, flush=True)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Inter-process lock so parallel test runs do not run Maven into the same folder."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_kafka_libs(cache_dir: Path | None = None) -> Path:
    """Folder with the broker's runtime jars, fetched by Maven once per pom version.

    The folder name is a hash of the pom, so editing the pom (e.g. a Kafka bump) fetches again;
    `.complete` marks a finished copy, so an interrupted fetch is redone, not trusted.
    """
    pom = KAFKA_DIR / "pom.xml"
    if not pom.is_file():
        raise RuntimeError(f"{pom} not found: install local-infra editable (uv workspace) from the repo")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    libs = (cache_dir or default_cache_dir()) / "kafka-libs" / digest
    if (libs / ".complete").exists():
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(libs.parent / f"{digest}.lock"):
        if (libs / ".complete").exists():
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("Maven (`mvn`) is needed once to fetch the Kafka jars: apt-get install -y maven")
        shutil.rmtree(libs, ignore_errors=True)
        _say("fetching Kafka jars from Maven Central (first run only)...")
        started = time.monotonic()
        cmd = [mvn, "-q", "-B", "-f", str(pom), "package", f"-Dkafka.libs.dir={libs}"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-4000:]
            raise RuntimeError(f"{' '.join(cmd)} failed with exit code {done.returncode}:\n{output}")
        jars = len(list(libs.glob("*.jar")))
        (libs / ".complete").write_text(f"{jars} jars\n")
        _say(f"fetched {jars} Kafka jars in {time.monotonic() - started:.1f}s into {libs}")
    return libs


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise RuntimeError("Java 17+ is needed for the local Kafka broker: apt-get install -y openjdk-17-jre-headless")
    return java


class KafkaBroker:
    """One-node KRaft Kafka on 127.0.0.1 with test-friendly settings.

    `kill()` + `restart()` simulate a crash: data dir and ports survive until `stop()`.
    """

    def __init__(
        self,
        *,
        num_partitions: int = 1,
        startup_timeout: float = 90.0,
        jvm_opts: Sequence[str] = DEFAULT_JVM_OPTS,
        extra_properties: dict[str, str] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.num_partitions = num_partitions
        self.startup_timeout = startup_timeout
        self.jvm_opts = tuple(jvm_opts)
        self.extra_properties = dict(extra_properties or {})
        self.cache_dir = cache_dir
        self.workdir: Path | None = None
        self.port = 0
        self.controller_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._libs: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        if not self.port:
            raise RuntimeError("broker not started")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "broker not started"
        return self.workdir / "kafka.log"

    def start(self) -> Self:
        """Fetch jars if needed, format storage on first start, launch and wait for a metadata answer."""
        if self._proc is not None:
            return self
        try:
            if self.workdir is None:
                self._libs = ensure_kafka_libs(self.cache_dir)
                self.workdir = Path(tempfile.mkdtemp(prefix="local-kafka-"))
                self.port, self.controller_port = free_ports(2)
                self._write_config()
                self._format()
            self._launch()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        track(self)
        return self

    def stop(self) -> None:
        """Controlled shutdown (SIGTERM, up to 30 s, then SIGKILL), then delete all data."""
        self._end_process(signal.SIGTERM, grace=30.0)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.port = self.controller_port = 0
        untrack(self)

    def kill(self) -> None:
        """SIGKILL the broker's process group, like a crash; data is kept for `restart()`."""
        self._end_process(signal.SIGKILL, grace=10.0)

    def restart(self) -> None:
        """Stop (gracefully, if still running) and start again on the same ports and data."""
        if self.workdir is None:
            raise RuntimeError("broker was never started (or already stopped)")
        self._end_process(signal.SIGTERM, grace=30.0)
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # internals ---------------------------------------------------------------------------------

    def _write_config(self) -> None:
        assert self.workdir is not None
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": str(self.num_partitions),
            "default.replication.factor": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",  # default 50 makes the first group join slow
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),  # small heap friendly
            # after kill -9 the new incarnation waits out the old broker session (default 9 s)
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "500",
        } | self.extra_properties
        text = "".join(f"{key}={value}\n" for key, value in props.items())
        (self.workdir / "server.properties").write_text(text)

    def _java_cmd(self, main_class: str, *args: str) -> list[str]:
        assert self._libs is not None and self.workdir is not None
        return [
            _java(),
            *self.jvm_opts,
            f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
            "-cp",
            f"{self._libs}/*",
            main_class,
            *args,
        ]

    def _format(self) -> None:
        assert self.workdir is not None
        cmd = self._java_cmd(
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--ignore-formatted",
            "--cluster-id",
            _cluster_id(),
            "--config",
            str(self.workdir / "server.properties"),
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"Kafka storage format failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _launch(self) -> None:
        assert self.workdir is not None
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._java_cmd("kafka.Kafka", str(self.workdir / "server.properties")),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # own process group: stop/kill reach every thread and child
                preexec_fn=die_with_parent,
            )

    def _wait_ready(self) -> None:
        """Ready means a real Metadata request lists our broker, not merely an open port."""
        assert self._proc is not None
        started = time.monotonic()
        last_error: BaseException | None = None
        while time.monotonic() - started < self.startup_timeout:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"Kafka exited with code {self._proc.returncode} during start; log tail:\n{log_tail(self.log_path)}"
                )
            if port_open(self.port):
                try:
                    if run_sync(_cluster_has_broker(self.bootstrap_servers)):
                        return
                except Exception as error:  # noqa: BLE001 - retried until the deadline
                    last_error = error
            time.sleep(0.2)
        raise TimeoutError(
            f"Kafka on {self.bootstrap_servers} not ready after {self.startup_timeout:.0f}s "
            f"(last error: {last_error!r}); log tail:\n{log_tail(self.log_path)}"
        )

    def _end_process(self, first: signal.Signals, grace: float) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig in (first, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        proc.wait()
        try:  # stragglers left in the group (there should be none)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _cluster_id() -> str:
    """A random cluster id as Kafka makes them (base64url of a UUID), never starting with '-': the storage
    tool's argument parser would read such an id as an option (as Kafka's own Uuid.randomUuid avoids)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()).startswith("-"):
        pass
    return cluster_id


async def _cluster_has_broker(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    finally:
        await admin.close()
