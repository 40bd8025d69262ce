"""Small process/port helpers shared by the Kafka and PostgreSQL launchers (Linux /proc based)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import socket
import time
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all sockets held open together so none repeats)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Cheap TCP check, used before a real protocol probe to keep client logs quiet."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie (an unreaped zombie holds no ports or files)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def descendants(pid: int) -> list[int]:
    """All live descendants of pid, found through the ppid field of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return [p for p in found if pid_alive(p)]


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait until none of pids is alive; False on timeout."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = {p for p in pending if pid_alive(p)}
        if not pending:
            break
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def log_tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log file for error messages ('' if it does not exist yet)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when the caller's thread has a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_live: set[_Stoppable] = set()


def track(server: _Stoppable) -> None:
    """Remember a started server so an interpreter exit without stop() still ends it."""
    _live.add(server)


def untrack(server: _Stoppable) -> None:
    _live.discard(server)


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):  # best effort at exit
            server.stop()


def die_with_parent() -> None:
    """`preexec_fn` for children in their own session: the kernel sends SIGTERM when the launcher dies,
    even by SIGKILL, so a crashed `make run` or test session leaves no orphan behind (Linux only).

    The kernel ties this to the creating THREAD: start such children from a long-lived thread.
    PostgreSQL is not covered (pg_ctl detaches it); the launchers' atexit hook stops it instead."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
