"""The real Cloud POS sandbox (sandboxes.cloudpos) served by uvicorn on a free loopback port, with the
support and control calls the tests need (add a merchant, issue and revoke keys, inject outages).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import uuid4

import httpx

from sandboxes.cloudpos import CloudPosSandboxSettings, build_app
from tests.support.http import served

TOKENS = {"platform": "kv-test-platform-token", "support": "kv-test-support-token",
          "control": "kv-test-control-token"}


@dataclass
class Sandbox:
    url: str

    @property
    def platform_token(self) -> str:
        return TOKENS["platform"]

    def add_merchant(self, licence: str = "pro_plus", stores: int = 2) -> str:
        """A merchant no other test (or earlier run on the same Kafka) uses."""
        merchant_id = f"m-{uuid4().hex[:10]}"
        body = {"merchant_id": merchant_id, "name": f"Test Cycles {merchant_id[-4:]}", "licence": licence,
                "stores": [{"store_id": f"{merchant_id}-s{i}", "name": f"Test Store {i}"}
                           for i in range(1, stores + 1)]}
        self._request("control", "POST", "/_sandbox/merchants", json=body).raise_for_status()
        return merchant_id

    def issue_key(self, merchant_id: str, service: str = "xero", label: str = "Xero API Client") -> tuple[str, str]:
        """(key_id, plain key), as support issues it in the Back Office."""
        response = self._request("support", "POST", f"/support/v1/merchants/{merchant_id}/api-keys",
                                 json={"label": label, "service": service})
        response.raise_for_status()
        return response.json()["key_id"], response.json()["api_key"]

    def revoke(self, key_id: str) -> None:
        self._request("support", "POST", f"/support/v1/api-keys/{key_id}/revoke").raise_for_status()

    def fail_next(self, count: int, status: int = 503) -> None:
        self._request("control", "POST", "/_sandbox/faults", json={"count": count, "status": status}).raise_for_status()

    def calls(self, path: str) -> int:
        """How many requests reached `path` (the sandbox logs method, path and status only)."""
        return sum(1 for c in self._request("control", "GET", "/_sandbox/calls").json()["calls"] if c["path"] == path)

    def _request(self, role: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = ({"x-sandbox-control-token": TOKENS["control"]} if role == "control"
                   else {"Authorization": f"Bearer {TOKENS[role]}"})
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as client:
            return client.request(method, path, **kwargs)  # type: ignore[arg-type]


@contextmanager
def serving() -> Iterator[Sandbox]:
    app = build_app(CloudPosSandboxSettings(**{f"{role}_token": token for role, token in TOKENS.items()}))
    with served(app, lifespan="off") as url:
        yield Sandbox(url)
