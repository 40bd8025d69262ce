"""The Vault sandbox as a real uvicorn server on a free loopback port (`serve_app`), and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandboxes.vault import VaultSandboxSettings, build_app

TOKEN = "vault-sandbox-test-token-8d1e"


@pytest.fixture
def vault_url(serve_app) -> str:
    return serve_app(build_app(VaultSandboxSettings(root_token=TOKEN)))


@pytest.fixture
async def vault(vault_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{vault_url}/v1/transit", headers={"X-Vault-Token": TOKEN},
                                 timeout=10) as client:
        yield client
