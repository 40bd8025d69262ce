"""Accounting API answers: the `{"Id", "Status", "ProviderName", "DateTimeUTC", ...}` envelope, as JSON when the
caller asks for it and as Xero's XML otherwise (the API's default)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from sandboxes.xero.clock import ms_date

# Collection name -> element name in Xero's XML (validation Elements are DataContractBase there).
SINGULAR = {"Addresses": "Address", "Elements": "DataContractBase", "Tracking": "TrackingCategory",
            "ValidationErrors": "ValidationError", "TaxComponents": "TaxComponent"}
_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


def envelope(provider: str, now: datetime, collection: str, items: list, **extra) -> dict:
    return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": provider, "DateTimeUTC": ms_date(now),
            **extra, collection: items}


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "").lower()


def answer(request: Request, body: dict, status: int = 200, root: str = "Response",
           headers: dict | None = None) -> Response:
    """Errors use root ApiException in XML, as Xero does."""
    if wants_json(request):
        return JSONResponse(body, status_code=status, headers=headers)
    return Response(to_xml(body, root), status_code=status, media_type="text/xml; charset=utf-8", headers=headers)


def to_xml(body: dict, root: str = "Response") -> str:
    """Empty collections and nulls are left out, as in Xero's XML; .NET dates become ISO timestamps."""
    inner = "".join(_element(key, value) for key, value in body.items())
    return (f'<{root} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema">{inner}</{root}>')


def _element(key: str, value) -> str:
    if value is None or (isinstance(value, (list, dict)) and not value):
        return ""
    if isinstance(value, list):
        name = _singular(key)
        return f"<{key}>" + "".join(_element(name, item) for item in value) + f"</{key}>"
    if isinstance(value, dict):
        return f"<{key}>" + "".join(_element(k, v) for k, v in value.items()) + f"</{key}>"
    return f"<{key}>{_scalar(value)}</{key}>"


def _singular(key: str) -> str:
    return SINGULAR.get(key) or (key[:-1] if key.endswith("s") else key)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and (match := _MS_DATE.match(value)):
        return datetime.fromtimestamp(int(match.group(1)) / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return escape(str(value))
