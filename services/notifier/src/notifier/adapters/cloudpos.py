"""The Cloud POS platform API over httpx, asked for a merchant's contact email just before each merchant email.

Its answers are untrusted input: anything unexpected is "Cloud POS unavailable" (the email is retried later),
never a crash. An address that could not be one recipient (several, or with line breaks) counts as none.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from shared.tracing import inject_httpx

from ..domain.addresses import one_recipient
from ..ports import CloudPosUnavailable
from ..settings import CloudPosSettings

log = logging.getLogger(__name__)


class _Merchant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    merchant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    contact_email: Annotated[str, StringConstraints(max_length=320)] | None = None


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
            base_url=self._settings.base_url, transport=self._transport, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(self._settings.timeout_seconds), headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
            event_hooks={"request": [inject_httpx]})
        try:
            yield
        finally:
            client, self._client = self._client, None
            await client.aclose()

    async def contact_email(self, merchant_id: str) -> str | None:
        """None when Cloud POS holds no usable address, or knows no such merchant (404)."""
        if self._client is None:
            raise CloudPosUnavailable("the Cloud POS client is not started")
        what, paths = "GET merchant", self._settings.paths
        try:
            response = await self._client.get(paths.fill(paths.merchant, merchant_id=merchant_id))
        except httpx.HTTPError as error:
            raise CloudPosUnavailable(f"{what}: {type(error).__name__}") from None
        if response.status_code == 404:
            log.warning("Cloud POS knows no merchant %s: their merchant email cannot be sent", merchant_id)
            return None
        if response.status_code in (401, 403):
            log.error("Cloud POS refused our platform token (HTTP %s): check NOTIFIER_CLOUDPOS__PLATFORM_TOKEN",
                      response.status_code)
        if response.status_code != 200:
            raise CloudPosUnavailable(f"{what}: HTTP {response.status_code}")
        try:
            found = _Merchant.model_validate_json(response.content)
        except ValidationError as error:
            raise CloudPosUnavailable(f"{what}: unexpected answer ({error.error_count()} invalid field(s))") from None
        if found.merchant_id != merchant_id:
            raise CloudPosUnavailable(f"{what}: answered about another merchant")
        return one_recipient(found.contact_email)
