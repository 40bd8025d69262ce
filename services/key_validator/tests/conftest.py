"""Fixtures: the use case on fakes, and a real Cloud POS sandbox served over real HTTP."""

from collections.abc import Iterator
from datetime import timedelta
from functools import partial

import pytest

from key_validator.domain import fingerprint
from key_validator.handlers import AttemptLimits, KeyValidatorHandlers
from shared.ratelimit import Limit

from .fakes import FINGERPRINT_SECRET, FakeClock, FakeCloudPos, FakeUnitOfWork, demo_cloudpos
from .sandbox import Sandbox, serving

LIMITS = AttemptLimits(per_merchant=Limit(5, timedelta(minutes=15)),
                       per_client_address=Limit(20, timedelta(minutes=15)))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cloudpos() -> FakeCloudPos:
    return demo_cloudpos()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def handlers(uow, cloudpos, clock) -> KeyValidatorHandlers:
    return KeyValidatorHandlers(uow, cloudpos, clock, partial(fingerprint, secret=FINGERPRINT_SECRET), LIMITS)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh Cloud POS sandbox (demo data loaded) on a free loopback port, stopped after the test."""
    with serving() as sandbox:
        yield sandbox
