"""Xero's Accounting JSON on the wire: how values are read (Json.NET rules) and written (.NET dates, decimals).

Reading fails the way Xero's deserialiser does, before any business validation: a PostDataInvalidException
(ErrorNumber 14) naming the JSON path, e.g. `Could not convert string to decimal: abc. Path 'Invoices[0]...'`.
Pure functions, no HTTP.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?Z?$")


class PostDataInvalid(Exception):
    """A value Xero could not even deserialise: the whole request is refused, nothing is validated or saved."""


def read_json(raw: bytes) -> object:
    """Decimals stay exact (money must not pass through binary floats)."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        raise PostDataInvalid("No data was received in the request body.")
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        near = text[exc.pos:exc.pos + 1] or "end of input"
        raise PostDataInvalid(f"Unexpected character encountered while parsing value: {near}. Path '', "
                              f"line {exc.lineno}, position {exc.colno}.") from None


def to_decimal(value: object, path: str) -> Decimal | None:
    """Numbers or numeric strings, as Json.NET accepts for a decimal; anything else is a conversion error."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise PostDataInvalid(f"Error converting value {json.dumps(value, default=str)} to type "
                              f"'System.Decimal'. Path '{path}'.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise PostDataInvalid(f"Could not convert string to decimal: {value}. Path '{path}'.")
    return number


def to_text(value: object, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise PostDataInvalid(f"Unexpected character encountered while parsing value: "
                              f"{'{' if isinstance(value, dict) else '['}. Path '{path}'.")
    return str(value)


def to_date(value: object, path: str) -> date | None:
    """`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` or the .NET form `/Date(ms+zzzz)/`."""
    text = to_text(value, path)
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if match := _MS_DATE.match(text):
        return datetime.fromtimestamp(int(match.group(1)) / 1000, timezone.utc).date()
    if match := _ISO_DATE.match(text):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    raise PostDataInvalid(f"Could not convert string to DateTime: {text}. Path '{path}'.")


def to_enum(value: object, allowed: tuple[str, ...], type_name: str, path: str) -> str | None:
    """Case-insensitive, as Json.NET's enum converter; the canonical spelling is kept."""
    text = to_text(value, path)
    if text is None:
        return None
    for name in allowed:
        if name.lower() == text.strip().lower():
            return name
    raise PostDataInvalid(f"Error converting value \"{text}\" to type "
                          f"'Xero.API.Library.DataContracts.{type_name}'. Path '{path}'.")


def to_object(value: object, path: str) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    raise PostDataInvalid(f"Error converting value {json.dumps(value, default=str)} to type "
                          f"'Xero.API.Library.DataContracts.{path.rsplit('.', 1)[-1]}'. Path '{path}'.")


def elements_of(body: object, collection: str) -> list[dict]:
    """`{"Invoices": [...]}`, `{"Invoices": {...}}` or one bare object, as Xero accepts all three."""
    if isinstance(body, dict) and collection in body:
        items = body[collection]
        items = [items] if isinstance(items, dict) else items
    else:
        items = [body]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PostDataInvalid(f"Unexpected character encountered while parsing value. Path '{collection}'.")
    return items


def round_money(amount: Decimal, places: Decimal = CENT) -> Decimal:
    """Half away from zero, as Xero rounds line amounts and tax."""
    return amount.quantize(places, rounding=ROUND_HALF_UP)


def ms_date(day: date | datetime) -> str:
    """Accounting JSON date `/Date(1539993600000+0000)/` (midnight UTC for a calendar date)."""
    when = day if isinstance(day, datetime) else datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return f"/Date({int(when.timestamp() * 1000)}+0000)/"


def date_string(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def number(amount: Decimal | None) -> float | None:
    """JSON number out; amounts are already rounded, so the float prints the same digits."""
    return None if amount is None else float(amount)
