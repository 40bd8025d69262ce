"""Merchants' keys in HashiCorp Vault's Transit secrets engine (sandboxes/vault under `make run`).

One exportable `aes256-gcm96` Transit key per merchant, named from a hash of the merchant id (the key store
learns no id). Its encryption key seals, its HMAC key makes pseudonyms; both are exported once per cache
period and used locally, so events never cost a Vault call each. Destroying is Vault's two steps: allow
deletion, then delete. The token needs, on `<mount>/keys/merchant-*` create/read/update/delete and on
`<mount>/export/*/merchant-*` read (docs/personal-data.md has the policy).
"""

import asyncio
import base64
import hashlib
import os
from collections.abc import Mapping
from typing import Any

import httpx

from ..settings import PersonalDataSettings
from . import KeyStoreUnavailable, MerchantKey, PersonalData


class VaultTransitKeys:
    """`MerchantKeys` on Vault's Transit engine, over HTTP (`X-Vault-Token`)."""

    def __init__(self, settings: PersonalDataSettings, http: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._http = http
        self._own_http = http is None

    def key_name(self, merchant_id: str) -> str:
        return "merchant-" + hashlib.sha256(merchant_id.encode()).hexdigest()[:40]

    async def find(self, merchant_id: str) -> MerchantKey | None:
        name = self.key_name(merchant_id)
        encryption, hmac_key = await asyncio.gather(self._export("encryption-key", name),
                                                    self._export("hmac-key", name))
        if encryption is None or hmac_key is None:
            return None
        latest = max(encryption)
        return MerchantKey(encryption[latest], hmac_key[min(hmac_key)],
                           older=tuple(encryption[v] for v in sorted(encryption, reverse=True) if v != latest))

    async def find_or_create(self, merchant_id: str) -> MerchantKey:
        """Creating is idempotent at Vault (a second create of the same name changes nothing), so two instances
        racing on a merchant's first event end up with the same key."""
        if (found := await self.find(merchant_id)) is not None:
            return found
        await self._call("POST", f"keys/{self.key_name(merchant_id)}", {"type": "aes256-gcm96", "exportable": True})
        if (created := await self.find(merchant_id)) is None:
            raise KeyStoreUnavailable("Vault created the merchant's key but does not export it")
        return created

    async def destroy(self, merchant_id: str) -> None:
        """Allow deletion, then delete; a key already gone is fine (erasing twice is not an error)."""
        name = self.key_name(merchant_id)
        status, body = await self._call("POST", f"keys/{name}/config", {"deletion_allowed": True}, missing_ok=True)
        if status in (400, 404) and _no_such_key(body):
            return
        await self._call("DELETE", f"keys/{name}")

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _export(self, kind: str, name: str) -> dict[int, bytes] | None:
        """Every version of the key, by version number (None: no such key)."""
        status, body = await self._call("GET", f"export/{kind}/{name}", missing_ok=True)
        if status in (400, 404):
            return None
        keys = body.get("data", {}).get("keys", {})
        if not keys:
            raise KeyStoreUnavailable(f"Vault exported no {kind} for {name}")
        return {int(version): base64.b64decode(material) for version, material in keys.items()}

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                    missing_ok: bool = False) -> tuple[int, dict[str, Any]]:
        """One Transit call; any answer but success (or a missing key, when `missing_ok`) is "not now"."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._settings.timeout_seconds)
        url = f"{self._settings.vault_url.rstrip('/')}/v1/{self._settings.mount}/{path}"
        headers = {"X-Vault-Token": self._settings.vault_token.get_secret_value()}
        try:
            response = await self._http.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise KeyStoreUnavailable(f"Vault did not answer {method} {path}: {type(error).__name__}") from error
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if response.is_success or (missing_ok and response.status_code in (400, 404) and _no_such_key(payload)):
            return response.status_code, payload
        raise KeyStoreUnavailable(f"Vault answered {response.status_code} to {method} {path}: "
                                  f"{payload.get('errors', [])!r}")


def _no_such_key(payload: dict[str, Any]) -> bool:
    """Vault says a key is missing with 404 and no errors (a read), or 400 naming it (an update)."""
    errors = payload.get("errors", [])
    return not errors or any("no existing key" in str(e) or "not found" in str(e) for e in errors)


def personal_data_from(settings: PersonalDataSettings | None) -> PersonalData | None:
    """The service's sealer, or None when personal data protection is not configured (events stay plain)."""
    if settings is None:
        return None
    return PersonalData(VaultTransitKeys(settings), cache_seconds=settings.cache_seconds)


def personal_data_settings_from_env(prefix: str, environ: Mapping[str, str] | None = None
                                    ) -> PersonalDataSettings | None:
    """For a command-line tool: `<prefix>VAULT_URL`, `<prefix>VAULT_TOKEN`, ... (None when no VAULT_URL)."""
    environ = os.environ if environ is None else environ
    if not environ.get(f"{prefix}VAULT_URL"):
        return None
    given = {name: environ[f"{prefix}{name.upper()}"] for name in PersonalDataSettings.model_fields
             if f"{prefix}{name.upper()}" in environ}
    return PersonalDataSettings(**given)


async def forget(settings: PersonalDataSettings, merchant_id: str) -> None:
    """Destroy one merchant's key (for `tools.ops erase-merchant` and the MerchantErased handlers)."""
    keys = VaultTransitKeys(settings)
    try:
        await keys.destroy(merchant_id)
    finally:
        await keys.aclose()
