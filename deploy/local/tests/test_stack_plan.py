"""`make run`'s plan for the helpdesk console's sign-in: the staff identity sandbox, the registry pointed at it with
the same client, the banner's demo staff, and the port checks, without starting Kafka or PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from local_infra.stack import Ports, Process, banner, generate_secrets, main, plan
from sandboxes.staff_idp import ALICE_EMAIL, BOB_EMAIL, DEMO_PASSWORD, LENA_EMAIL, SAM_EMAIL, StaffIdpSandboxSettings
from shared.oidc import OidcClient, ProviderRefused

DSNS = {name: f"postgresql://u@127.0.0.1:5432/{name}" for name in (
    "key_validator", "oauth_gateway", "connection_registry", "notifier", "daily_sales")}


def planned(offset: int = 0, secret: dict[str, str] | None = None) -> dict[str, Process]:
    processes = plan(Ports(offset=offset), "127.0.0.1:9092", DSNS, secret or generate_secrets(), Path("."))
    return {p.name: p for p in processes}


def registry_env(processes: dict[str, Process]) -> dict[str, str]:
    prefix = "CONNECTION_REGISTRY_"
    return {k.removeprefix(prefix): v for k, v in processes["connection_registry"].env.items()}


@pytest.mark.parametrize("offset", [0, 3000])
def test_the_registry_signs_staff_in_at_the_planned_identity_sandbox(offset):
    secret = generate_secrets()
    processes = planned(offset, secret)
    idp, registry = processes["staff_idp"], registry_env(processes)
    issuer = f"http://127.0.0.1:{8740 + offset}"
    assert idp.argv[1:] == ["-m", "sandboxes.staff_idp", "--host", "127.0.0.1", "--port", str(8740 + offset)]
    assert idp.ready_url == f"{issuer}/.well-known/openid-configuration"
    assert list(processes).index("staff_idp") < list(processes).index("connection_registry")
    assert idp.env["STAFF_IDP_SANDBOX_ISSUER"] == registry["STAFF_IDENTITY__ISSUER"] == issuer
    assert idp.env["STAFF_IDP_SANDBOX_CLIENT_ID"] == registry["STAFF_IDENTITY__CLIENT_ID"] == "helpdesk-console"
    assert (idp.env["STAFF_IDP_SANDBOX_CLIENT_SECRET"] == registry["STAFF_IDENTITY__CLIENT_SECRET"]
            == secret["staff_idp_client_secret"])
    registry_url = f"http://127.0.0.1:{8103 + offset}"
    assert registry["STAFF_IDENTITY__REDIRECT_URI"] == f"{registry_url}/helpdesk/callback"
    assert json.loads(idp.env["STAFF_IDP_SANDBOX_REDIRECT_URIS"]) == [registry["STAFF_IDENTITY__REDIRECT_URI"]]
    assert registry["STAFF_IDENTITY__POST_LOGOUT_REDIRECT_URI"] == f"{registry_url}/helpdesk/signed-out"
    assert json.loads(idp.env["STAFF_IDP_SANDBOX_POST_LOGOUT_REDIRECT_URIS"]) == [
        registry["STAFF_IDENTITY__POST_LOGOUT_REDIRECT_URI"]]
    assert registry["NOTIFIER__BASE_URL"] == f"http://127.0.0.1:{8104 + offset}"
    assert registry["NOTIFIER__API_TOKEN"] == processes["notifier"].env["NOTIFIER_API_TOKEN"]
    assert (registry["CONSOLE__SECURE_COOKIE"], registry["CONSOLE__UNFINISHED_AFTER_DAYS"]) == ("false", "0")


def test_the_shared_helpdesk_token_is_gone():
    assert "helpdesk_page" not in generate_secrets()
    for process in planned().values():
        assert not [name for name in process.env if "HELPDESK_TOKEN" in name or "HELPDESK_SECURE" in name]


def test_both_ends_read_their_planned_environment(monkeypatch):
    from connection_registry.settings import RegistrySettings

    processes = planned()
    for process in (processes["staff_idp"], processes["connection_registry"]):
        for name, value in process.env.items():
            monkeypatch.setenv(name, value)
    idp = StaffIdpSandboxSettings()
    assert idp.redirect_uris == ["http://127.0.0.1:8103/helpdesk/callback"]
    registry = RegistrySettings()
    assert registry.staff_identity.issuer == idp.issuer
    assert registry.staff_identity.client_secret.get_secret_value() == idp.client_secret.get_secret_value()
    assert registry.console.secure_cookie is False and registry.console.unfinished_after_days == 0


def test_the_banner_shows_the_console_and_the_demo_staff_sign_ins():
    secret = generate_secrets()
    text = banner(Ports(offset=10), secret)
    assert "Helpdesk console:         http://127.0.0.1:8113/helpdesk/" in text
    for email in (ALICE_EMAIL, BOB_EMAIL, LENA_EMAIL):
        assert f"{email} / {DEMO_PASSWORD}" in text
    assert SAM_EMAIL not in text
    assert "http://127.0.0.1:8750/" in text  # the staff identity sandbox
    assert secret["staff_idp_client_secret"] not in text and secret["notifier_api"] not in text


def _free_offset() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1] - Ports().staff_idp


async def test_the_planned_sandbox_process_accepts_the_registry_as_its_client():
    """Runs the staff_idp process exactly as planned and plays the registry's part with its planned settings."""
    processes = planned(_free_offset())
    idp, registry = processes["staff_idp"], registry_env(processes)
    child = subprocess.Popen(idp.argv, env={**os.environ, **idp.env}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 20
            while True:
                assert child.poll() is None and time.monotonic() < deadline, "the staff identity sandbox did not start"
                try:
                    if (await http.get(idp.ready_url)).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            rp = OidcClient(registry["STAFF_IDENTITY__ISSUER"], registry["STAFF_IDENTITY__CLIENT_ID"],
                            registry["STAFF_IDENTITY__CLIENT_SECRET"], http)
            callback = registry["STAFF_IDENTITY__REDIRECT_URI"]
            url = await rp.authorize_url(callback, ["openid", "profile", "email"], state="s", nonce="n",
                                         code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
            answer = await http.get(url)
            assert answer.status_code == 302 and answer.headers["location"].startswith("/login?txn=")
            with pytest.raises(ProviderRefused) as refused:  # invalid_grant, not invalid_client: the secret matches
                await rp.exchange_code("no-such-code", "v" * 43, callback)
            assert refused.value.error == "invalid_grant"
    finally:
        child.terminate()
        child.communicate(timeout=10)


def test_make_run_refuses_when_the_staff_identity_port_is_taken(capsys):
    offset = _free_offset()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", Ports(offset=offset).staff_idp))
        taken.listen()
        assert main(["--port-offset", str(offset)]) == 2
    assert str(Ports(offset=offset).staff_idp) in capsys.readouterr().err


@pytest.mark.parametrize("offset", [0, 5000])
def test_each_service_waits_for_readiness_on_its_internal_port_and_the_banner_names_them(offset):
    """Issue #21: /health/* and /metrics live on each service's internal listener (8200 + n), not its public port."""
    processes = planned(offset)
    internal = {"oauth_gateway": 8200, "key_validator": 8201, "connection_registry": 8203, "notifier": 8204,
                "daily_sales": 8205}
    for service, port in internal.items():
        process = processes[service]
        assert process.env[f"{service.upper()}_HTTP__INTERNAL_PORT"] == str(port + offset)
        assert process.ready_url == f"http://127.0.0.1:{port + offset}/health/ready"
    text = banner(Ports(offset=offset), generate_secrets())
    assert f"http://127.0.0.1:{8203 + offset}/metrics" in text
    assert all(f":{port + offset}" in text for port in internal.values())


def test_a_service_reads_both_of_its_planned_ports(monkeypatch):
    from connection_registry.settings import RegistrySettings

    for name, value in planned()["connection_registry"].env.items():
        monkeypatch.setenv(name, value)
    http = RegistrySettings().http
    assert (http.port, http.internal_port) == (8103, 8203)
