"""A small subset of Xero's `where` filter, enough for look-ups a poster makes before writing.

Supported: clauses joined by `AND` (or `&&`), each `Field OP value` with OP one of == != > >= < <=, value a
"string", guid("..."), true/false or a number; `Field.ToLower()==` and `Field.Contains("..")`, `StartsWith`,
`EndsWith`. Fields may be dotted (`Contact.ContactID`). Anything else (OR, DateTime(...), other methods) is
refused with Xero's QueryParseException rather than silently matching everything. A field the record does
not carry reads as null (Xero leaves empty optional fields out of its JSON).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_CLAUSE = re.compile(
    r'^(?P<field>[A-Za-z][A-Za-z0-9.]*?)(?P<lower>\.ToLower\(\))?\s*'
    r'(?:(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>"(?:[^"\\]|\\.)*"|guid\("[^"]*"\)|true|false|-?\d+(?:\.\d+)?)'
    r'|\.(?P<method>Contains|StartsWith|EndsWith)\((?P<arg>"(?:[^"\\]|\\.)*")\))$')
_SPLIT = re.compile(r'\s+AND\s+|\s*&&\s*', re.IGNORECASE)


class QueryParseError(Exception):
    """Xero answers 400 with ErrorNumber 16, Type QueryParseException."""


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: object
    lower: bool = False

    def test(self, record: dict) -> bool:
        actual = _lookup(record, self.field)
        if self.lower and isinstance(actual, str):
            actual = actual.lower()
        if self.op in ("Contains", "StartsWith", "EndsWith"):
            text = "" if actual is None else str(actual)
            return {"Contains": self.value in text, "StartsWith": text.startswith(self.value),
                    "EndsWith": text.endswith(self.value)}[self.op]
        return _compare(actual, self.op, self.value)


def parse_where(text: str | None) -> list[Clause]:
    if not text or not text.strip():
        return []
    clauses = []
    for part in _SPLIT.split(_unwrap(text)):
        match = _CLAUSE.match(_unwrap(part))
        if match is None:
            raise QueryParseError(f"Unsupported where expression: {part.strip()}")
        if match.group("method"):
            clauses.append(Clause(match["field"], match["method"], _string(match["arg"]), bool(match["lower"])))
        else:
            clauses.append(Clause(match["field"], match["op"], _literal(match["value"]), bool(match["lower"])))
    return clauses


def matches(record: dict, clauses: list[Clause]) -> bool:
    return all(clause.test(record) for clause in clauses)


def _unwrap(text: str) -> str:
    """Drop parentheses around the whole text only: `(A AND B)` -> `A AND B`, never `guid("...")`'s own."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _closes_at_end(text):
        text = text[1:-1].strip()
    return text


def _closes_at_end(text: str) -> bool:
    depth, quoted = 0, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
            if depth == 0:
                return i == len(text) - 1
    return False


def _string(token: str) -> str:
    return token[1:-1].replace('\\"', '"')


def _literal(token: str) -> object:
    if token.startswith('"'):
        return _string(token)
    if token.startswith("guid("):
        return token[6:-2].lower()
    if token in ("true", "false"):
        return token == "true"
    return Decimal(token)


def _lookup(record: dict, dotted: str) -> object:
    current: object = record
    for part in dotted.split("."):
        if not isinstance(current, dict):
            return None
        key = next((k for k in current if k.lower() == part.lower()), None)
        current = None if key is None else current[key]
    return current


def _compare(actual: object, op: str, expected: object) -> bool:
    if isinstance(expected, Decimal):
        try:
            actual = Decimal(str(actual))
        except (InvalidOperation, ValueError):
            return False
    elif isinstance(expected, str) and isinstance(actual, str) and _is_guid(expected):
        actual = actual.lower()
    if op == "==":
        return actual == expected
    if op == "!=":
        return actual != expected
    if actual is None or isinstance(actual, bool) or not isinstance(actual, type(expected)):
        return False
    return {">": actual > expected, ">=": actual >= expected, "<": actual < expected,
            "<=": actual <= expected}[op]


def _is_guid(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))
