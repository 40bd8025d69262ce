"""Shared fixtures: run an ASGI app as a real uvicorn server on a free loopback port.

Sandboxes are tested over real HTTP (not an in-process transport) because services talk to
them that way; a bug in headers, status codes or body framing must show up here.
"""

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.support.http import served


@pytest.fixture
def serve_app() -> Iterator[Callable[..., str]]:
    """Factory: `base_url = serve_app(app)`; every server started is stopped after the test."""
    with ExitStack() as stack:
        yield lambda app, log_level="warning": stack.enter_context(served(app, log_level=log_level))
