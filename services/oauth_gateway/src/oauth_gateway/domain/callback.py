"""Checks on the redirect back from Xero, before any flow is looked up or any token requested."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallbackParams:
    state: str
    code: str | None
    error: str | None


class BadCallback(ValueError):
    """The redirect is malformed or forged; no token request may follow."""


def parse_callback(params: Sequence[tuple[str, str]], expected_issuer: str) -> CallbackParams:
    """Exactly one state; a code XOR an error; an `iss` (RFC 9207), when present, must be Xero's."""
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)
    for name in ("state", "code", "error", "iss"):
        if len(values.get(name, [])) > 1:
            raise BadCallback(f"duplicated {name}")
    state = (values.get("state") or [""])[0]
    code = (values.get("code") or [None])[0]
    error = (values.get("error") or [None])[0]
    if not state or len(state) > 200:
        raise BadCallback("missing state")
    if (code is None) == (error is None):
        raise BadCallback("need exactly one of code and error")
    if code is not None and not 1 <= len(code) <= 2000:
        raise BadCallback("bad code")
    issuer = (values.get("iss") or [None])[0]
    if issuer is not None and issuer.rstrip("/") != expected_issuer.rstrip("/"):
        raise BadCallback("issuer mismatch")
    return CallbackParams(state, code, error)
