"""JSON log lines with the merchant, store and event being worked on, and never a secret.

`configure_logging()` is called once per process (by `shared.runtime.serve`). The delivery middleware
binds the ids of the record it handles (`bind_ids`), so every line logged while handling it carries them.
Redaction runs on the final text, so a secret slipped into an f-string or an exception is masked too.
"""

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from .tracing import current_trace_id

_IDS: ContextVar[dict[str, str]] = ContextVar("log_ids", default={})  # noqa: B039 - never mutated in place

_FIELD = r"[\w-]*(?:token|secret|password|passwd|api_?key|authorization|verifier|cookie)[\w-]*"
# OAuth's one-time values. In a query string (`?code=`, `&state=`, `&session_state=`: a callback URL, an access-log
# line; percent-encoded too, as in a login page's ReturnUrl) always. Elsewhere (a form body, `key=value` text,
# JSON) the same names also carry our own short snake_case words ("code": "not_found", "state": "connected"),
# which stay readable: only a long opaque value is masked.
_OAUTH = r"(?:code|state|session_state)"
_WORD = r"[a-z]+(?:_[a-z]+)*"
_OAUTH_QUERY = r"((?:[?&]|%3[Ff]|%26)" + _OAUTH + r"(?:=|%3[Dd]))(?!\[REDACTED)(?:(?!%26)[^&\s\"'#\\])+"
_OAUTH_PARAM = r"(?<![\w.?&-])(" + _OAUTH + r"=)(?!" + _WORD + r"(?:[\s&\"',;)\\]|$))(?!\[REDACTED)" \
               r"[^&\s\"'#,;)\\]{8,}"
_OAUTH_JSON = r"(\\?[\"']" + _OAUTH + r"\\?[\"']\s*:\s*\\?[\"'])(?!" + _WORD + r"\\?[\"'])(?!\[REDACTED)" \
              r"[^\"'\\\s]{8,}"
_PATTERNS = [
    (re.compile(r"\beyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4}"), "[REDACTED]"),  # JWTs (ID/access tokens), JWE
    (re.compile(_OAUTH_QUERY), r"\1[REDACTED]"),                                # ?code=...&state=...
    (re.compile(_OAUTH_PARAM), r"\1[REDACTED]"),                                # code=<opaque> in a form
    (re.compile(_OAUTH_JSON), r"\1[REDACTED]"),                                 # "code": "<opaque value>"
    (re.compile(r"\bcpk_[A-Za-z0-9_\-]+"), "[REDACTED]"),                       # Cloud POS API keys
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_\-]+"), "[REDACTED]"),                  # webhook signing secrets
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=\-]+"), "Bearer [REDACTED]"),  # bearer tokens
    (re.compile(r"(?i)(\b(?:postgres(?:ql)?|amqp|redis)://[^:/\s@]+:)[^@\s]+@"), r"\1[REDACTED]@"),
    (re.compile(r"(?i)(\\?[\"']?\b" + _FIELD + r"\\?[\"']?\s*[=:]\s*\\?[\"']?)(?!\[REDACTED)[^\s\"'\\,&}]+"),
     r"\1[REDACTED]"),                                                          # token=..., "secret": "..."
]


def redact(text: str) -> str:
    """Mask anything that looks like a secret; keeps the field name so the line stays readable."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def bind_ids(**ids: str | None) -> object:
    """Attach ids (merchant_id, store_id, event_id, ...) to later log lines; returns a token for `unbind`."""
    return _IDS.set({**_IDS.get(), **{k: v for k, v in ids.items() if v}})


def unbind(token: object) -> None:
    _IDS.reset(token)  # type: ignore[arg-type]


def current_ids() -> dict[str, str]:
    return dict(_IDS.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound ids, and a redacted traceback."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if self._service:
            line["service"] = self._service
        line.update(_IDS.get())
        if trace_id := current_trace_id():
            line["trace_id"] = trace_id
        for name in ("merchant_id", "store_id", "event_id", "topic", "group_id", "message_id"):
            if hasattr(record, name):
                line[name] = str(getattr(record, name))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str))


def configure_logging(service: str | None = None, level: int | str = logging.INFO) -> None:
    """Route every logger (uvicorn's too) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "faststream"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
