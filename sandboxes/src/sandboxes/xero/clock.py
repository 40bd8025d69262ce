"""A controllable clock: every expiry and rate-limit window in the sandbox reads time from here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class Clock:
    """Real UTC time plus an offset that tests move with /_sandbox/clock/advance or /set."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        self._offset = when - datetime.now(timezone.utc)
        return self.now()

    def reset(self) -> None:
        self._offset = timedelta(0)


def xero_datetime(when: datetime) -> str:
    """Connections API format: no zone designator, 7 fractional digits (e.g. 2019-12-07T18:46:19.5165400)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def ms_date(when: datetime) -> str:
    """Accounting API JSON date: /Date(1552404447003)/."""
    return f"/Date({int(when.timestamp() * 1000)})/"
