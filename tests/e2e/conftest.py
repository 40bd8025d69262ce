"""The whole product as separate processes, started the way `make run` starts it (one stack per session)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_infra.launch import RunningStack, StackDidNotStart, running_stack
from local_infra.stack import generate_secrets

ROOT = Path(__file__).resolve().parents[2]
# Away from the documented ports, so a developer's own `make run` does not collide (E2E_PORT_OFFSET: a second run).
OFFSET = int(os.environ.get("E2E_PORT_OFFSET", "3000"))
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    try:
        with running_stack(OFFSET, generate_secrets()) as running:
            yield running
    except StackDidNotStart as error:
        pytest.fail(str(error))
