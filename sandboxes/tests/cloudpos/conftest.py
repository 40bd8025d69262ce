"""A Cloud POS sandbox per test, served over real HTTP, with a clock the test can move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandboxes.cloudpos import CloudPosSandboxSettings, build_app

TOKENS = {"platform": "platform-test-token", "support": "support-test-token", "control": "control-test-token"}


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
    return CloudPosSandboxSettings(**{f"{name}_token": token for name, token in TOKENS.items()})


@pytest.fixture
def cloudpos_url(serve_app, settings, clock) -> str:
    """A freshly started sandbox holding the demo data."""
    return serve_app(build_app(settings, clock=clock))


def _client(base_url: str, headers: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def cloudpos(cloudpos_url) -> Iterator[httpx.Client]:
    """Anonymous client, as the set-up page's browser-facing backend signs in."""
    yield from _client(cloudpos_url, {})


@pytest.fixture
def platform(cloudpos_url) -> Iterator[httpx.Client]:
    """Client of our services, with the platform bearer token."""
    yield from _client(cloudpos_url, {"Authorization": f"Bearer {TOKENS['platform']}"})


@pytest.fixture
def support(cloudpos_url) -> Iterator[httpx.Client]:
    """The support team's Back Office tooling."""
    yield from _client(cloudpos_url, {"Authorization": f"Bearer {TOKENS['support']}"})


@pytest.fixture
def control(cloudpos_url) -> Iterator[httpx.Client]:
    """The test harness, with the sandbox control header."""
    yield from _client(cloudpos_url, {"x-sandbox-control-token": TOKENS["control"]})
