"""The Cloud POS platform API over httpx. Its answers are untrusted input: validated before use, and
anything unexpected is "Cloud POS unavailable", never a crash or a wrong decision."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared.contracts import Store
from shared.tracing import inject_httpx

from ..domain import ApiKey, KeyFacts, MerchantFacts
from ..ports import CloudPosUnavailable
from ..settings import CloudPosSettings

log = logging.getLogger(__name__)
_Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
_Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Introspection(_Answer):
    active: bool
    key_id: _Identifier | None = None
    label: _Text | None = None
    service: _Text | None = None
    merchant_id: _Identifier | None = None
    revoked_at: datetime | None = None

    @model_validator(mode="after")
    def _known_keys_are_described(self) -> Self:
        if self.key_id is not None and None in (self.label, self.service, self.merchant_id):
            raise ValueError("a known key must come with its label, service and merchant")
        return self


class _Merchant(_Answer):
    merchant_id: _Identifier
    name: _Text
    licence: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class _Store(_Answer):
    """Not the event's Store (which refuses unknown fields): the platform may add fields to its answers."""

    store_id: _Identifier
    name: _Text


class _Stores(_Answer):
    stores: tuple[_Store, ...] = Field(max_length=500)


_Model = TypeVar("_Model", bound=_Answer)


class HttpCloudPos:
    """One pooled client per process, opened by the app's lifespan (`connected()`) and closed with it."""

    def __init__(self, settings: CloudPosSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        token = self._settings.platform_token.get_secret_value()
        self._client = httpx.AsyncClient(
            base_url=self._settings.base_url, transport=self._transport, follow_redirects=False,
            timeout=httpx.Timeout(self._settings.timeout_seconds), headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            event_hooks={"request": [inject_httpx]})  # Cloud POS is the platform's own: one trace with it
        try:
            yield
        finally:
            client, self._client = self._client, None
            await client.aclose()

    async def introspect(self, key: ApiKey) -> KeyFacts:
        found = await self._call(_Introspection, "POST", self._settings.paths.key_introspection,
                                 json={"api_key": key.reveal()})
        return KeyFacts(found.active, found.key_id, found.label, found.service, found.merchant_id, found.revoked_at)

    async def merchant(self, merchant_id: str) -> MerchantFacts:
        paths = self._settings.paths
        found = await self._call(_Merchant, "GET", paths.fill(paths.merchant, merchant_id=merchant_id))
        if found.merchant_id != merchant_id:
            raise CloudPosUnavailable("GET merchant: answered about another merchant")
        return MerchantFacts(found.merchant_id, found.name, found.licence)

    async def stores(self, merchant_id: str) -> tuple[Store, ...]:
        paths = self._settings.paths
        found = await self._call(_Stores, "GET", paths.fill(paths.merchant_stores, merchant_id=merchant_id))
        return tuple(Store(store_id=s.store_id, name=s.name) for s in found.stores)

    async def _call(self, model: type[_Model], method: str, path: str, **kwargs: object) -> _Model:
        """The answer as `model`; CloudPosUnavailable (naming the call, never its body) otherwise."""
        if self._client is None:
            raise CloudPosUnavailable("the Cloud POS client is not started")
        what = f"{method} {path}"
        try:
            response = await self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            raise CloudPosUnavailable(f"{what}: {type(error).__name__}") from None
        if response.status_code in (401, 403):
            log.error("Cloud POS refused our platform token (HTTP %s): check KEY_VALIDATOR_CLOUDPOS__PLATFORM_TOKEN",
                      response.status_code)
        if response.status_code != 200:
            raise CloudPosUnavailable(f"{what}: HTTP {response.status_code}")
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise CloudPosUnavailable(f"{what}: unexpected answer ({error.error_count()} invalid field(s))") from None
