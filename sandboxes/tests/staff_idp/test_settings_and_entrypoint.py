"""Settings insist on the client secret and read JSON lists; `python -m sandboxes.staff_idp` really serves."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from pydantic import ValidationError

from sandboxes.staff_idp import StaffIdpSandboxSettings


def _clear(monkeypatch) -> None:
    for name in list(os.environ):
        if name.startswith("STAFF_IDP_SANDBOX_"):
            monkeypatch.delenv(name)


def test_settings_require_the_client_secret(monkeypatch):
    _clear(monkeypatch)
    with pytest.raises(ValidationError) as raised:
        StaffIdpSandboxSettings()
    assert {e["loc"][0] for e in raised.value.errors()} == {"client_secret"}


def test_settings_from_env(monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("STAFF_IDP_SANDBOX_CLIENT_SECRET", "s3cret-value")
    monkeypatch.setenv("STAFF_IDP_SANDBOX_ISSUER", "http://127.0.0.1:9740/")
    monkeypatch.setenv("STAFF_IDP_SANDBOX_REDIRECT_URIS", '["http://127.0.0.1:9103/helpdesk/callback"]')
    monkeypatch.setenv("STAFF_IDP_SANDBOX_POST_LOGOUT_REDIRECT_URIS", '["http://127.0.0.1:9103/helpdesk/signed-out"]')
    settings = StaffIdpSandboxSettings()
    assert settings.issuer == "http://127.0.0.1:9740" and settings.client_id == "helpdesk-console"
    assert settings.redirect_uris == ["http://127.0.0.1:9103/helpdesk/callback"]
    assert settings.post_logout_redirect_uris == ["http://127.0.0.1:9103/helpdesk/signed-out"]
    assert "s3cret-value" not in repr(settings)


def test_module_entrypoint_serves_discovery_and_never_prints_the_secret():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "STAFF_IDP_SANDBOX_CLIENT_SECRET": "entrypoint-secret-9b1d",
           "STAFF_IDP_SANDBOX_ISSUER": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.staff_idp", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, document = time.monotonic() + 20, None
        while document is None:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "staff identity sandbox did not start"
            try:
                document = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert document["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert "entrypoint-secret-9b1d" not in output
