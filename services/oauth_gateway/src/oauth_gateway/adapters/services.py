"""HTTP clients of Cloud POS (sign-in) and of our own key_validator and connection_registry.

Errors come back as `ServiceRefusal(status, code, message)` with the service's merchant-readable message,
or `ServiceUnavailable`; the API key and the password are never logged or put into an exception.
"""

from typing import Any

import httpx

from ..domain.model import StoreRef
from ..ports import KeyValidation, ServiceRefusal, ServiceUnavailable, SignedIn
from ..settings import CloudPosSettings


class _Client:
    def __init__(self, http: httpx.AsyncClient, base_url: str, token: str | None = None) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})

    async def _send(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        try:
            response = await self._http.request(method, self._base + path, json=body, headers=self._headers)
        except httpx.TransportError as error:
            raise ServiceUnavailable(f"{method} {self._base}{path}: {type(error).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429 and not _json(response):
            raise ServiceUnavailable(f"{method} {self._base}{path}: {response.status_code}")
        return response


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _refusal(response: httpx.Response, default: str) -> ServiceRefusal:
    body = _json(response)
    return ServiceRefusal(response.status_code, str(body.get("code") or body.get("error") or "refused"),
                          str(body.get("message") or default))


class CloudPosClient(_Client):
    def __init__(self, http: httpx.AsyncClient, settings: CloudPosSettings) -> None:
        super().__init__(http, settings.base_url)
        self._paths = settings.paths

    async def sign_in(self, username: str, password: str) -> SignedIn:
        response = await self._send("POST", self._paths.sign_in, {"username": username, "password": password})
        if response.status_code != 200:
            raise _refusal(response, "Cloud POS did not accept those details.")
        body = response.json()
        return SignedIn(body["user_id"], body["merchant_id"], body["merchant_name"],
                        body.get("display_name") or body.get("email") or body["user_id"])


class KeyValidatorClient(_Client):
    async def validate(self, merchant_id: str, user_id: str, api_key: str, client_address: str) -> KeyValidation:
        response = await self._send("POST", "/v1/validations", {
            "merchant_id": merchant_id, "user_id": user_id, "api_key": api_key, "client_address": client_address})
        if response.status_code != 200:
            raise _refusal(response, "The Cloud POS API Key could not be validated.")
        body = response.json()
        return KeyValidation(body["merchant_id"], body.get("key_label") or "Cloud POS API Key",
                             tuple(StoreRef(s["store_id"], s["name"]) for s in body.get("stores", [])))


class RegistryClient(_Client):
    async def summary(self, merchant_id: str) -> dict[str, Any] | None:
        response = await self._send("GET", f"/v1/merchants/{merchant_id}/summary")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _refusal(response, "The summary of your connected stores is not available.")
        return response.json()

    async def complete(self, merchant_id: str, completed_by: str) -> int:
        response = await self._send("POST", f"/v1/merchants/{merchant_id}/completion",
                                    {"completed_by": completed_by})
        if response.status_code not in (200, 202):
            raise _refusal(response, "We could not record that you have finished.")
        return response.status_code
