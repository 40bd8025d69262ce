"""`make run` plans the Vault sandbox (merchants' personal-data keys) and points every service at it with the same
token, so events' personal fields are sealed end to end (docs/personal-data.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_infra.stack import SERVICES, Ports, generate_secrets, plan
from sandboxes.vault import VaultSandboxSettings

DSNS = {name: f"postgresql://u@127.0.0.1:5432/{name}" for name in (*SERVICES, "daily_sales")}


@pytest.mark.parametrize("offset", [0, 7000])
def test_the_vault_sandbox_starts_before_the_services_and_each_service_reads_it(offset, monkeypatch):
    secret = generate_secrets()
    processes = {p.name: p for p in plan(Ports(offset=offset), "127.0.0.1:9092", DSNS, secret, Path("."))}
    vault = processes["vault sandbox"]
    url = f"http://127.0.0.1:{8750 + offset}"

    assert vault.argv[1:] == ["-m", "sandboxes.vault", "--host", "127.0.0.1", "--port", str(8750 + offset)]
    assert vault.ready_url == f"{url}/v1/sys/health"
    for name, value in vault.env.items():
        monkeypatch.setenv(name, value)
    token = VaultSandboxSettings().root_token.get_secret_value()
    assert token == secret["vault_token"]
    for service in SERVICES:
        assert list(processes).index("vault sandbox") < list(processes).index(service)
        env = processes[service].env
        prefix = f"{service.upper()}_PERSONAL_DATA__"
        assert (env[f"{prefix}VAULT_URL"], env[f"{prefix}VAULT_TOKEN"]) == (url, token)
