"""The notifier's bearer-token /v1 API over httpx: what was sent to whom, the parked queue, re-drive.

The console shows these next to the registry's own pages, so a slow or broken notifier must never hold a page up
or break it: every call has a short timeout, and anything but a readable answer (network error, timeout, 5xx,
our token refused, an unexpected body) is `NotifierUnavailable`; the page then says what it could not show.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, TypeAdapter, ValidationError

from ..ports import NoticeLine, NoticeSummary, NotifierUnavailable, ParkedPage

log = logging.getLogger(__name__)
MAX_MERCHANTS = 100                    # the notifier's limit per /v1/merchants/notices call
MAX_PAGE = 1000                        # and per /v1/deliveries page


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Count(_Read):
    count: int


class _Redriven(_Read):
    redriven: bool


# Straight into the port's dataclasses: pydantic checks each field and ignores keys it does not know.
_SUMMARIES = TypeAdapter(list[NoticeSummary])
_DELIVERIES = TypeAdapter(list[NoticeLine])


class NotifierClient:
    """`http` is shared and owned by the caller (the app's lifespan closes it); `timeout` bounds every call."""

    def __init__(self, base_url: str, api_token: SecretStr | str, http: httpx.AsyncClient, *,
                 timeout: float = 2.0) -> None:
        token = api_token.get_secret_value() if isinstance(api_token, SecretStr) else api_token
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._http = http
        self._timeout = httpx.Timeout(timeout)

    async def summaries(self, merchant_ids: Sequence[str]) -> dict[str, NoticeSummary]:
        ids = list(dict.fromkeys(merchant_ids))
        found: dict[str, NoticeSummary] = {}
        for start in range(0, len(ids), MAX_MERCHANTS):
            body = await self._get("/v1/merchants/notices", {"merchant_id": ids[start:start + MAX_MERCHANTS]})
            for s in _read(_SUMMARIES, body):
                found[s.merchant_id] = s
        return found

    async def sent_to(self, merchant_id: str, limit: int) -> list[NoticeLine]:
        body = await self._get("/v1/deliveries", {"status": "all", "merchant_id": merchant_id, "order": "newest",
                                                  "limit": _page(limit)})
        return _read(_DELIVERIES, body)[:limit]

    async def parked(self, limit: int, offset: int) -> ParkedPage:
        """One page, oldest parked first, and how many are parked in all (two calls, made together)."""
        lines, total = await asyncio.gather(
            self._get("/v1/deliveries", {"status": "parked", "order": "oldest", "limit": _page(limit),
                                         "offset": max(offset, 0)}),
            self._get("/v1/deliveries/count", {"status": "parked"}))
        return ParkedPage(_read(_DELIVERIES, lines)[:limit], _read(_Count, total).count)

    async def redrive(self, delivery_id: UUID) -> bool:
        """False when the delivery was not parked, or the notifier knows no such delivery: nothing was resent."""
        response = await self._send("POST", f"/v1/deliveries/{quote(str(delivery_id), safe='')}/redrive",
                                    expected=(200, 404))
        body = _body(response)
        if response.status_code == 404:
            if isinstance(body, dict) and body.get("code") == "delivery_not_found":
                return False
            raise NotifierUnavailable("POST redrive: HTTP 404 without delivery_not_found (a wrong base URL?)")
        return _read(_Redriven, body).redriven

    async def _get(self, path: str, params: dict[str, Any]) -> Any:  # noqa: ANN401 - JSON, read by the caller
        return _body(await self._send("GET", path, params))

    async def _send(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                    expected: tuple[int, ...] = (200,)) -> httpx.Response:
        try:
            response = await self._http.request(method, self._base + path, params=params, headers=self._headers,
                                                timeout=self._timeout)
        except httpx.HTTPError as error:
            raise NotifierUnavailable(f"{method} {path}: {type(error).__name__}") from None
        if response.status_code == 401:
            log.error("the notifier refused our token: check CONNECTION_REGISTRY_NOTIFIER__API_TOKEN")
        if response.status_code not in expected:
            raise NotifierUnavailable(f"{method} {path}: HTTP {response.status_code}")
        return response


def _body(response: httpx.Response) -> Any:  # noqa: ANN401 - JSON
    try:
        return response.json()
    except ValueError:
        raise NotifierUnavailable(f"{response.request.method} {response.request.url.path}: not JSON") from None


def _read(model: Any, body: Any) -> Any:  # noqa: ANN401 - a TypeAdapter or a model, and what it reads
    try:
        return model.validate_python(body) if isinstance(model, TypeAdapter) else model.model_validate(body)
    except ValidationError as error:
        raise NotifierUnavailable(f"unexpected answer ({error.error_count()} invalid field(s))") from None


def _page(limit: int) -> int:
    return min(max(limit, 1), MAX_PAGE)

