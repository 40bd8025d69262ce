"""The subset of Vault's Transit secrets engine (API v1) the platform calls, with Vault's answers and errors.

Endpoints (under `/v1/<mount>`, `X-Vault-Token` required, else 403 `{"errors": ["permission denied"]}`):
- `POST keys/:name` create (`type`: aes256-gcm96 default, aes128-gcm96; `exportable`); creating an existing key
  changes nothing (as Vault);
- `GET keys/:name` read; `POST keys/:name/config` (`deletion_allowed`); `POST keys/:name/rotate`;
- `GET export/(encryption-key|hmac-key)[/:version]/:name` (only an exportable key; base64 key per version);
- `DELETE keys/:name` (only once `deletion_allowed`; 204).
Errors have Vault's shape `{"errors": [...]}`: 404 with no errors for a missing key on a read, 400 naming
the problem otherwise. `GET /v1/sys/health` needs no token. Keys live in memory (a restart forgets them, as a
dev-mode Vault does) unless `state_file` is set.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandboxes.vault.settings import VaultSandboxSettings

KEY_SIZES = {"aes256-gcm96": 32, "aes128-gcm96": 16}
EXPORT_TYPES = ("encryption-key", "hmac-key")


class VaultError(Exception):
    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(status, errors)
        self.status, self.errors = status, list(errors)


@dataclass
class TransitKey:
    type: str
    exportable: bool
    versions: dict[int, tuple[bytes, bytes, int]] = field(default_factory=dict)  # version -> (key, hmac, created)
    deletion_allowed: bool = False

    def rotate(self) -> None:
        version = max(self.versions, default=0) + 1
        self.versions[version] = (os.urandom(KEY_SIZES[self.type]), os.urandom(32), int(time.time()))

    def describe(self, name: str) -> dict[str, Any]:
        latest = max(self.versions)
        return {"name": name, "type": self.type, "exportable": self.exportable,
                "deletion_allowed": self.deletion_allowed, "derived": False, "latest_version": latest,
                "min_decryption_version": 1, "min_encryption_version": 0, "supports_encryption": True,
                "supports_decryption": True, "supports_derivation": True, "supports_signing": False,
                "keys": {str(v): created for v, (_, _, created) in self.versions.items()}}


def build_app(settings: VaultSandboxSettings) -> FastAPI:
    app = FastAPI(title="Vault sandbox (Transit)", docs_url=None, redoc_url=None, openapi_url=None)
    keys = _load(settings.state_file)
    app.state.keys = keys

    @app.middleware("http")
    async def persist(request: Request, call_next):  # noqa: ANN001, ANN202 - Starlette's middleware signature
        response = await call_next(request)
        if settings.state_file is not None and request.method in ("POST", "DELETE") and response.status_code < 300:
            _save(settings.state_file, keys)
        return response

    @app.exception_handler(VaultError)
    async def vault_error(_: Request, error: VaultError) -> JSONResponse:
        return JSONResponse({"errors": error.errors}, status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def not_routed(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"errors": [] if error.status_code == 404 else [str(error.detail)]},
                            status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"errors": ["failed to parse request"]}, status_code=400)

    @app.get("/v1/sys/health")
    async def health() -> dict[str, Any]:
        return {"initialized": True, "sealed": False, "standby": False, "version": "sandbox"}

    app.include_router(_transit_router(settings, keys), prefix=f"/v1/{settings.mount}")
    return app


def _transit_router(settings: VaultSandboxSettings, keys: dict[str, TransitKey]) -> APIRouter:
    def authorised(request: Request) -> None:
        given = request.headers.get("x-vault-token", "")
        if not secrets.compare_digest(given.encode(), settings.root_token.get_secret_value().encode()):
            raise VaultError(403, "permission denied")

    router = APIRouter(dependencies=[Depends(authorised)])

    def existing(name: str) -> TransitKey:
        if name not in keys:
            raise VaultError(400, f"no existing key named {name} could be found")
        return keys[name]

    @router.post("/keys/{name}")
    async def create(name: str, request: Request) -> JSONResponse:
        body = await _json(request)
        kind = str(body.get("type", "aes256-gcm96"))
        if kind not in KEY_SIZES:
            raise VaultError(400, f"unknown key type: {kind}")
        if name not in keys:
            keys[name] = TransitKey(kind, exportable=_flag(body.get("exportable", False)))
            keys[name].rotate()
        return _answer(keys[name].describe(name))

    @router.get("/keys/{name}")
    async def read(name: str) -> JSONResponse:
        if name not in keys:
            raise VaultError(404)
        return _answer(keys[name].describe(name))

    @router.post("/keys/{name}/config")
    async def config(name: str, request: Request) -> JSONResponse:
        key, body = existing(name), await _json(request)
        if "deletion_allowed" in body:
            key.deletion_allowed = _flag(body["deletion_allowed"])
        if "exportable" in body:
            if key.exportable and not _flag(body["exportable"]):
                raise VaultError(400, "exportable key cannot be made non-exportable")
            key.exportable = key.exportable or _flag(body["exportable"])
        return _answer(key.describe(name))

    @router.post("/keys/{name}/rotate")
    async def rotate(name: str) -> JSONResponse:
        key = existing(name)
        key.rotate()
        return _answer(key.describe(name))

    @router.delete("/keys/{name}", status_code=204)
    async def delete(name: str) -> Response:
        if not existing(name).deletion_allowed:
            raise VaultError(400, "deletion is not allowed for this key")
        del keys[name]
        return Response(status_code=204)

    @router.get("/export/{kind}/{name}")
    async def export(kind: str, name: str) -> JSONResponse:
        return _export(keys, kind, name, None)

    @router.get("/export/{kind}/{name}/{version}")
    async def export_version(kind: str, name: str, version: str) -> JSONResponse:
        return _export(keys, kind, name, version)

    return router


def _export(keys: dict[str, TransitKey], kind: str, name: str, version: str | None) -> JSONResponse:
    if kind not in EXPORT_TYPES:
        raise VaultError(400, f"invalid export type: {kind}")
    if name not in keys:
        raise VaultError(404)
    key = keys[name]
    if not key.exportable:
        raise VaultError(400, "private key material is not exportable")
    wanted = key.versions
    if version is not None:
        number = max(key.versions) if version == "latest" else int(version) if version.isdigit() else 0
        if number not in key.versions:
            raise VaultError(400, "version not found")
        wanted = {number: key.versions[number]}
    index = 0 if kind == "encryption-key" else 1
    exported = {str(v): base64.b64encode(material[index]).decode() for v, material in wanted.items()}
    return _answer({"name": name, "type": key.type, "keys": exported})


def _load(path: Path | None) -> dict[str, TransitKey]:
    if path is None or not path.exists():
        return {}
    keys = {}
    for name, k in json.loads(path.read_text()).items():
        versions = {int(v): (base64.b64decode(m[0]), base64.b64decode(m[1]), m[2]) for v, m in k["versions"].items()}
        keys[name] = TransitKey(k["type"], k["exportable"], versions, k["deletion_allowed"])
    return keys


def _save(path: Path, keys: dict[str, TransitKey]) -> None:
    """Written whole to a temporary file, then renamed: a crash never leaves half a key store."""
    stored = {name: {"type": k.type, "exportable": k.exportable, "deletion_allowed": k.deletion_allowed,
                     "versions": {str(v): [base64.b64encode(m[0]).decode(), base64.b64encode(m[1]).decode(), m[2]]
                                  for v, m in k.versions.items()}} for name, k in keys.items()}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(stored))
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def _answer(data: dict[str, Any]) -> JSONResponse:
    """Vault's response envelope."""
    return JSONResponse({"request_id": secrets.token_hex(16), "lease_id": "", "renewable": False,
                         "lease_duration": 0, "data": data, "wrap_info": None, "warnings": None, "auth": None})


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError as error:
        raise VaultError(400, f"failed to parse JSON input: {error}") from None
    if not isinstance(body, dict):
        raise VaultError(400, "failed to parse JSON input: not an object")
    return body


def _flag(value: object) -> bool:
    """Vault reads booleans leniently (true, "true", 1)."""
    return value in (True, 1) or (isinstance(value, str) and value.lower() in ("true", "1"))
