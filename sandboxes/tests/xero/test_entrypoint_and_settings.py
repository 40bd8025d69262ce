"""`python -m sandboxes.xero` really serves; settings insist on secrets and parse env lists."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from pydantic import ValidationError

from sandboxes.xero import XeroSandboxSettings


def test_settings_require_secrets(monkeypatch):
    for name in list(os.environ):
        if name.startswith("XERO_SANDBOX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XERO_SANDBOX_CLIENT_ID", "ABC")
    monkeypatch.setenv("XERO_SANDBOX_REDIRECT_URIS", "http://localhost:1/cb")
    with pytest.raises(ValidationError) as raised:
        XeroSandboxSettings()
    missing = {e["loc"][0] for e in raised.value.errors()}
    assert missing == {"client_secret", "control_token"}


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("XERO_SANDBOX_CLIENT_ID", "ABC")
    monkeypatch.setenv("XERO_SANDBOX_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("XERO_SANDBOX_CONTROL_TOKEN", "ctl")
    monkeypatch.setenv("XERO_SANDBOX_REDIRECT_URIS", "http://localhost:1/cb, http://localhost:2/cb")
    settings = XeroSandboxSettings()
    assert settings.redirect_uris == ["http://localhost:1/cb", "http://localhost:2/cb"]
    assert settings.app_name == "Citrus-Lime Cloud POS"
    assert "s3cret" not in repr(settings)
    monkeypatch.setenv("XERO_SANDBOX_REDIRECT_URIS", '["http://localhost:3/cb"]')
    assert XeroSandboxSettings().redirect_uris == ["http://localhost:3/cb"]


def test_module_entrypoint_serves_discovery():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "XERO_SANDBOX_CLIENT_ID": "ABC", "XERO_SANDBOX_CLIENT_SECRET": "s3cret",
           "XERO_SANDBOX_CONTROL_TOKEN": "ctl", "XERO_SANDBOX_REDIRECT_URIS": "http://localhost:1/cb",
           "XERO_SANDBOX_ISSUER": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.xero", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, doc = time.monotonic() + 20, None
        while doc is None:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "sandbox did not start"
            try:
                doc = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert doc["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert "s3cret" not in output and "ctl" not in output.split()
