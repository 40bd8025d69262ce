"""The Vault sandbox speaks the part of Vault's Transit API the platform uses, with Vault's answers and error
shapes; and `shared.personal_data.vault.VaultTransitKeys` (the production adapter) works against it."""

from __future__ import annotations

import base64

import httpx
import pytest

from sandboxes.vault import VaultSandboxSettings, build_app
from shared.personal_data.vault import VaultTransitKeys, personal_data_settings_from_env
from shared.settings import PersonalDataSettings

from .conftest import TOKEN


async def test_an_exportable_key_exports_its_encryption_and_hmac_keys(vault):
    created = await vault.post("/keys/merchant-a", json={"type": "aes256-gcm96", "exportable": True})
    assert created.status_code == 200 and created.json()["data"]["latest_version"] == 1

    encryption = (await vault.get("/export/encryption-key/merchant-a")).json()["data"]
    hmac_key = (await vault.get("/export/hmac-key/merchant-a")).json()["data"]

    assert encryption["name"] == "merchant-a" and encryption["type"] == "aes256-gcm96"
    assert len(base64.b64decode(encryption["keys"]["1"])) == 32
    assert len(base64.b64decode(hmac_key["keys"]["1"])) == 32
    assert encryption["keys"] != hmac_key["keys"]


async def test_creating_an_existing_key_changes_nothing(vault):
    await vault.post("/keys/k", json={"exportable": True})
    before = (await vault.get("/export/encryption-key/k")).json()["data"]["keys"]
    again = await vault.post("/keys/k", json={"exportable": True})

    assert again.status_code == 200
    assert (await vault.get("/export/encryption-key/k")).json()["data"]["keys"] == before


async def test_rotation_adds_a_version_and_export_can_name_one(vault):
    await vault.post("/keys/k", json={"exportable": True})
    await vault.post("/keys/k/rotate")

    assert set((await vault.get("/export/encryption-key/k")).json()["data"]["keys"]) == {"1", "2"}
    assert set((await vault.get("/export/encryption-key/k/2")).json()["data"]["keys"]) == {"2"}
    assert (await vault.get("/export/encryption-key/k/9")).status_code == 400


async def test_a_key_not_made_exportable_is_never_exported(vault):
    await vault.post("/keys/k")
    refused = await vault.get("/export/encryption-key/k")

    assert refused.status_code == 400
    assert refused.json() == {"errors": ["private key material is not exportable"]}


async def test_deleting_needs_deletion_allowed_first_then_the_key_is_gone(vault):
    await vault.post("/keys/k", json={"exportable": True})
    refused = await vault.delete("/keys/k")
    assert refused.status_code == 400 and refused.json() == {"errors": ["deletion is not allowed for this key"]}

    assert (await vault.post("/keys/k/config", json={"deletion_allowed": True})).status_code == 200
    assert (await vault.delete("/keys/k")).status_code == 204

    assert (await vault.get("/keys/k")).status_code == 404
    gone = await vault.get("/export/encryption-key/k")
    assert gone.status_code == 404 and gone.json() == {"errors": []}


async def test_a_missing_key_is_named_on_update(vault):
    missing = await vault.post("/keys/nothing/config", json={"deletion_allowed": True})

    assert missing.status_code == 400
    assert missing.json() == {"errors": ["no existing key named nothing could be found"]}


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_every_transit_call_needs_the_token(vault_url, token):
    headers = {"X-Vault-Token": token} if token else {}
    async with httpx.AsyncClient(base_url=f"{vault_url}/v1/transit", headers=headers) as client:
        for method, path in [("POST", "/keys/k"), ("GET", "/export/encryption-key/k"), ("DELETE", "/keys/k")]:
            refused = await client.request(method, path)
            assert refused.status_code == 403 and refused.json() == {"errors": ["permission denied"]}


async def test_bad_input_is_refused_in_vaults_shape(vault):
    assert (await vault.post("/keys/k", json={"type": "rsa-9"})).json() == {"errors": ["unknown key type: rsa-9"]}
    assert (await vault.post("/keys/k", content=b"{not json")).status_code == 400
    assert (await vault.get("/export/signing-key/k")).json() == {"errors": ["invalid export type: signing-key"]}


# --- the production adapter against the sandbox --------------------------------------------------------------

def _settings(url: str, token: str = TOKEN) -> PersonalDataSettings:
    return PersonalDataSettings(vault_url=url, vault_token=token)


async def test_the_adapter_creates_once_finds_and_destroys_a_merchants_key(vault_url):
    keys = VaultTransitKeys(_settings(vault_url))
    try:
        assert await keys.find("m-1") is None
        created = await keys.find_or_create("m-1")
        assert await keys.find_or_create("m-1") == created == await keys.find("m-1")
        assert await keys.find_or_create("m-2") != created

        await keys.destroy("m-1")
        await keys.destroy("m-1")   # erasing twice is not an error

        assert await keys.find("m-1") is None
        assert await keys.find("m-2") is not None
    finally:
        await keys.aclose()


async def test_the_key_store_learns_no_merchant_id(vault_url, vault):
    keys = VaultTransitKeys(_settings(vault_url))
    await keys.find_or_create("merchant-with-a-name")
    await keys.aclose()

    name = keys.key_name("merchant-with-a-name")
    assert name.startswith("merchant-") and "with-a-name" not in name
    assert (await vault.get(f"/keys/{name}")).json()["data"]["exportable"] is True


async def test_a_refusing_or_absent_key_store_is_not_now_never_plain(vault_url):
    """KeyStoreUnavailable is an OSError: the relay keeps its rows, a consumer retries (is_infrastructure)."""
    from shared.delivery.errors import is_infrastructure
    from shared.personal_data import KeyStoreUnavailable

    for settings in (_settings(vault_url, "wrong-token"), _settings("http://127.0.0.1:9")):
        keys = VaultTransitKeys(settings)
        with pytest.raises(KeyStoreUnavailable) as raised:
            await keys.find_or_create("m-1")
        await keys.aclose()
        assert is_infrastructure(raised.value)
        assert "wrong-token" not in str(raised.value)


def test_a_command_line_tool_reads_the_settings_from_its_environment():
    env = {"X_PERSONAL_DATA__VAULT_URL": "http://127.0.0.1:8750", "X_PERSONAL_DATA__VAULT_TOKEN": "t",
           "X_PERSONAL_DATA__CACHE_SECONDS": "5"}

    settings = personal_data_settings_from_env("X_PERSONAL_DATA__", env)

    assert settings is not None and settings.cache_seconds == 5 and settings.vault_token.get_secret_value() == "t"
    assert personal_data_settings_from_env("X_PERSONAL_DATA__", {}) is None


async def test_with_a_state_file_keys_survive_a_restart_and_deletions_too(serve_app, tmp_path):
    state = tmp_path / "transit.json"
    settings = VaultSandboxSettings(root_token=TOKEN, state_file=state)
    first = serve_app(build_app(settings))
    async with httpx.AsyncClient(base_url=f"{first}/v1/transit", headers={"X-Vault-Token": TOKEN}) as client:
        for name in ("kept", "gone"):
            await client.post(f"/keys/{name}", json={"exportable": True})
        key = (await client.get("/export/encryption-key/kept")).json()["data"]["keys"]
        await client.post("/keys/gone/config", json={"deletion_allowed": True})
        await client.delete("/keys/gone")

    again = serve_app(build_app(settings))
    async with httpx.AsyncClient(base_url=f"{again}/v1/transit", headers={"X-Vault-Token": TOKEN}) as client:
        assert (await client.get("/export/encryption-key/kept")).json()["data"]["keys"] == key
        assert (await client.get("/keys/gone")).status_code == 404
    assert state.stat().st_mode & 0o077 == 0


async def test_after_a_rotation_old_values_still_open_and_pseudonyms_do_not_change(vault_url, vault):
    from shared.personal_data import open_sealed, pseudonym, seal

    keys = VaultTransitKeys(_settings(vault_url))
    try:
        before = await keys.find_or_create("m-1")
        sealed = seal(before, "m-1", "authorised_by.name", "Steve Tester", 200)
        await vault.post(f"/keys/{keys.key_name('m-1')}/rotate")
        after = await keys.find("m-1")
    finally:
        await keys.aclose()

    assert after is not None and after.encryption != before.encryption
    assert open_sealed(after, "m-1", "authorised_by.name", sealed) == "Steve Tester"
    assert pseudonym(after, "u-1") == pseudonym(before, "u-1")
