"""A Cloud POS sandbox per test, served over real HTTP, with a clock the test can move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandboxes.cloudpos import CloudPosSandboxSettings, build_app

PLATFORM = {"Authorization": "Bearer platform-test-token"}
SUPPORT = {"Authorization": "Bearer support-test-token"}
CONTROL = {"x-sandbox-control-token": "control-test-token"}


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> CloudPosSandboxSettings:
    return CloudPosSandboxSettings(
        platform_token="platform-test-token", support_token="support-test-token",
        control_token="control-test-token",
    )


@pytest.fixture
def cloudpos(serve_app, settings, clock) -> Iterator[httpx.Client]:
    """An httpx client bound to a freshly started sandbox holding the demo data."""
    with httpx.Client(base_url=serve_app(build_app(settings, clock=clock)), timeout=10) as client:
        yield client
