"""A private PostgreSQL cluster from Debian's `postgresql` binaries, on a free 127.0.0.1 port.

initdb/pg_ctl refuse to run as root, so as root they run as the `postgres` user via runuser,
in a temp dir that user owns. Settings trade durability for speed: this is test data.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from local_infra._proc import descendants, free_ports, log_tail, pid_alive, run_sync, track, untrack, wait_gone

PG_USER = "postgres"
DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    # "on" costs nothing measurable with fsync=off (a write(), no flush) and keeps acknowledged commits
    # across kill(): with "off" the last ~0.6 s of commits sit in shared memory and die with the server
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "max_connections": "300",
}


def find_pg_bin_dir() -> Path:
    """$PG_BIN_DIR, else the highest /usr/lib/postgresql/<version>/bin that has pg_ctl."""
    if override := os.environ.get("PG_BIN_DIR"):
        return Path(override)
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")]
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "run `apt-get install -y postgresql` (or set DATABASE_URL / PG_BIN_DIR)"
        )
    return max(candidates, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0])


class PostgresServer:
    """Throwaway PostgreSQL server; `kill()` + `restart()` simulate a crash keeping the data."""

    def __init__(
        self, *, settings: dict[str, str] | None = None, startup_timeout: float = 60.0, bin_dir: Path | None = None
    ) -> None:
        self.settings = DEFAULT_SETTINGS | (settings or {})
        self.startup_timeout = startup_timeout
        self.bin_dir = bin_dir
        self.workdir: Path | None = None
        self.port = 0
        self._running = False

    @property
    def dsn(self) -> str:
        if not self.port:
            raise RuntimeError("server not started")
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None, "server not started"
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "server not started"
        return self.workdir / "postgres.log"

    @property
    def pid(self) -> int | None:
        """Postmaster pid from postmaster.pid, if it is alive."""
        if self.workdir is None:
            return None
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self) -> Self:
        """initdb on first start, then pg_ctl start -w and a real `SELECT 1`."""
        if self._running:
            return self
        try:
            if self.workdir is None:
                self.bin_dir = self.bin_dir or find_pg_bin_dir()
                self.workdir = self._make_workdir()
                (self.port,) = free_ports(1)
                self._run(
                    "initdb", "-D", str(self.data_dir), "-U", PG_USER,
                    "--auth=trust", "--no-sync", "-E", "UTF8", "--no-locale",
                )  # fmt: skip
            options = f"-h 127.0.0.1 -p {self.port} -k {self.workdir} " + " ".join(
                f"-c {key}={value}" for key, value in self.settings.items()
            )
            self._run(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
                "-t", str(int(self.startup_timeout)), "-o", options, "start",
            )  # fmt: skip
            self._running = True
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        track(self)
        return self

    def stop(self) -> None:
        """pg_ctl -m fast stop (SIGKILL if that fails), then delete the cluster; nothing stays running."""
        self._shutdown()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.port = 0
        untrack(self)

    def kill(self) -> None:
        """SIGKILL postmaster and every backend, like a crash; data is kept for `restart()`."""
        pid = self.pid
        if pid is not None:
            self._sigkill([pid, *descendants(pid)])
        self._running = False

    def restart(self) -> None:
        """Stop (fast, if running) and start again on the same port and data."""
        if self.workdir is None:
            raise RuntimeError("server was never started (or already stopped)")
        self._shutdown()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # internals ---------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        pid = self.pid
        if pid is None:
            self._running = False
            return
        victims = [pid, *descendants(pid)]
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")
        except RuntimeError:
            pass
        if not wait_gone(victims, timeout=5):
            self._sigkill(victims)
        self._running = False

    def _sigkill(self, victims: list[int]) -> None:
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        if not wait_gone(victims, timeout=10):
            raise RuntimeError(f"PostgreSQL processes {victims} survived SIGKILL")
        # an unreaped zombie postmaster still passes kill(pid, 0), which would block the next start
        assert self.workdir is not None
        for lock in (self.data_dir / "postmaster.pid", self.workdir / f".s.PGSQL.{self.port}.lock"):
            lock.unlink(missing_ok=True)

    def _make_workdir(self) -> Path:
        """Temp dir the server user owns; mode 0755 so runuser'd tools can traverse it."""
        workdir = Path(tempfile.mkdtemp(prefix="local-pg-"))
        workdir.chmod(0o755)
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(PG_USER)
            except KeyError:
                shutil.rmtree(workdir)
                raise RuntimeError(f"no `{PG_USER}` user: run `apt-get install -y postgresql`") from None
            os.chown(workdir, user.pw_uid, user.pw_gid)
        return workdir

    def _run(self, tool: str, *args: str) -> None:
        assert self.bin_dir is not None and self.workdir is not None
        prefix = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
        cmd = [*prefix, str(self.bin_dir / tool), *args]
        done = subprocess.run(
            cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
            timeout=self.startup_timeout + 30,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}\nserver log tail:\n"
                f"{log_tail(self.log_path)}"
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                run_sync(_select_one(self.dsn))
                return
            except (OSError, asyncpg.PostgresError) as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL on {self.dsn} not answering: {error!r}") from error
                time.sleep(0.1)


async def _select_one(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def with_database(dsn: str, database: str) -> str:
    """The same server DSN pointed at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@asynccontextmanager
async def temporary_database(admin_dsn: str, prefix: str = "test") -> AsyncIterator[str]:
    """Create a uniquely named database, yield its DSN, then drop it even if clients still connect."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", prefix):
        raise ValueError(f"database prefix must be a plain lower-case identifier, got {prefix!r}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin_dsn, name)
    finally:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
