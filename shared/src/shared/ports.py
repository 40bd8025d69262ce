"""The two ports every service's use cases take, spelled once: a clock and a unit of work.

Pure (no I/O imports), so a service's `ports` module and its tests can use them without pulling in
the database driver. `shared.delivery.unit_of_work` builds the PostgreSQL unit of work.
"""

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol, TypeVar

T_co = TypeVar("T_co", covariant=True)


class Clock(Protocol):
    """Now, as an aware UTC datetime. Tests pass a fake they can move."""

    def __call__(self) -> datetime: ...


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class UnitOfWork(Protocol[T_co]):
    """`async with unit_of_work() as tx:` one transaction; it commits on a clean exit and rolls back on an
    exception. `T_co` is what the use case may do inside it (a small Protocol of the service's ports)."""

    def __call__(self) -> AbstractAsyncContextManager[T_co]: ...
