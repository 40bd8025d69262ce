"""Cloud POS's `GET /api/v1/stores/{store_id}/sales?date=` (the path from settings) over httpx. Its answer is
untrusted input: validated before use, and anything unexpected is "Cloud POS unavailable", never a wrong invoice."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ..domain import DaySales, VatTotal
from ..ports import CloudPosUnavailable
from ..settings import CloudPosSettings
from .http import bearer_client

log = logging.getLogger(__name__)
Money = Annotated[Decimal, Field(allow_inf_nan=False, ge=-10_000_000, le=10_000_000)]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _RateTotal(_Answer):
    vat_rate: Annotated[Decimal, Field(ge=0, le=100)]
    net: Money
    tax: Money
    gross: Money


class _Summary(_Answer):
    sales_count: int = Field(ge=0)
    by_vat_rate: tuple[_RateTotal, ...] = Field(max_length=20)


class _Day(_Answer):
    store_id: str
    date: date
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    summary: _Summary


class HttpCloudPosSales:
    """One pooled client per process, opened by the app's lifespan (`connected()`) and closed with it."""

    def __init__(self, settings: CloudPosSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        s = self._settings
        async with bearer_client(s.base_url, s.platform_token, s.timeout_seconds, self._transport) as self._client:
            yield
        self._client = None

    async def day_of_sales(self, store_id: str, day: date) -> DaySales | None:
        if self._client is None:
            raise CloudPosUnavailable("the Cloud POS client is not started")
        what, paths = f"GET sales of {store_id} on {day}", self._settings.paths
        try:
            response = await self._client.get(paths.fill(paths.store_sales, store_id=store_id),
                                              params={"date": day.isoformat()})
        except httpx.HTTPError as error:
            raise CloudPosUnavailable(f"{what}: {type(error).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            log.error("Cloud POS refused our platform token (HTTP %s): check DAILY_SALES_CLOUDPOS__PLATFORM_TOKEN",
                      response.status_code)
        if response.status_code != 200:
            raise CloudPosUnavailable(f"{what}: HTTP {response.status_code}")
        try:
            found = _Day.model_validate_json(response.content)
        except ValidationError as error:
            raise CloudPosUnavailable(f"{what}: unexpected answer ({error.error_count()} invalid field(s))") from None
        if found.store_id != store_id or found.date != day:
            raise CloudPosUnavailable(f"{what}: answered about another store or day")
        totals = tuple(VatTotal(t.vat_rate, t.net, t.tax) for t in found.summary.by_vat_rate)
        return DaySales(store_id, day, found.currency, found.summary.sales_count, totals)
