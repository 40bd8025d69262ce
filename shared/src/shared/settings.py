"""Settings sections every service's own settings class nests (one class per service, env-driven)."""

import re
from string import Formatter
from typing import ClassVar, Self
from urllib.parse import quote

from pydantic import BaseModel, Field, model_validator


class KafkaSettings(BaseModel):
    bootstrap_servers: str = Field(min_length=3, description="host:port[,host:port]")
    consumer_group: str | None = Field(
        default=None, description="defaults to the service's name; a replay or a test may use its own")
    connect_wait_seconds: float = Field(
        default=5.0, ge=0, description="how long start-up waits for the broker before serving without it (the "
                                       "producer, relay and consumers then connect in the background)")


class DatabaseSettings(BaseModel):
    """The service's database and the limits every session of its pool runs under.

    The limits are PostgreSQL session settings (sent when each pool connection opens; 0 turns one off). They
    exist so that an instance which stops answering (SIGSTOP, a frozen VM or container, a debugger) cannot
    hold its row and advisory locks forever: PostgreSQL ends its session once it has sat inside a
    transaction for `idle_in_transaction_timeout_seconds`, which rolls the transaction back and frees its
    locks (and its uncommitted inbox claims), so another instance can take its work over. The defaults keep
    clear of the longest legitimate wait inside a transaction (the gateway's token refresh holds the grant
    row through up to three Xero calls of `xero.timeout_seconds`, 10 s each) and nest: a lock waiter gives
    up only after a frozen holder would have been cut off, a statement only after that.
    """

    url: str = Field(pattern=r"^postgres(ql)?://", description="the service's own PostgreSQL database")
    pool_min_size: int = 2
    pool_max_size: int = 10
    idle_in_transaction_timeout_seconds: float = Field(
        default=60, ge=0, description="end a session idle inside a transaction this long (idle_in_transaction"
                                      "_session_timeout): a frozen instance's locks are freed")
    lock_timeout_seconds: float = Field(
        default=90, ge=0, description="give up waiting for a lock after this long (lock_timeout); a consumer "
                                      "retries the record with backoff")
    statement_timeout_seconds: float = Field(
        default=120, ge=0, description="cancel a statement, lock waits included, after this long "
                                       "(statement_timeout); migrations are exempt")

    def server_settings(self, *, migrating: bool = False) -> dict[str, str]:
        """PostgreSQL session settings for the pool; `migrating`: without the lock and statement limits (a
        migration may wait for another instance's, or run long DDL), still freed if its instance freezes."""
        limits = {"idle_in_transaction_session_timeout": self.idle_in_transaction_timeout_seconds}
        if not migrating:
            limits |= {"lock_timeout": self.lock_timeout_seconds, "statement_timeout": self.statement_timeout_seconds}
        return {name: str(round(seconds * 1000)) for name, seconds in limits.items()}


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)


class CloudPosPaths(BaseModel):
    """Where each Cloud POS platform endpoint this product calls lives under the platform's base URL: the
    contract is docs/cloudpos-api.md. The defaults are today's paths; the platform team can move one (a /v2, a
    gateway prefix) by configuration alone, e.g. `KEY_VALIDATOR_CLOUDPOS__PATHS__MERCHANT=/v2/merchants/{merchant_id}`.
    Each client reads only the paths it calls (named below)."""

    sign_in: str = Field(default="/api/v1/sessions", description="oauth_gateway: a merchant signs in")
    key_introspection: str = Field(default="/api/v1/api-keys/introspect", description="key_validator")
    merchant: str = Field(default="/api/v1/merchants/{merchant_id}",
                          description="key_validator (name, licence), notifier (contact email)")
    merchant_stores: str = Field(default="/api/v1/merchants/{merchant_id}/stores", description="key_validator")
    store_sales: str = Field(default="/api/v1/stores/{store_id}/sales", description="examples/daily_sales")

    _PLACEHOLDERS: ClassVar[dict[str, frozenset[str]]] = {
        "sign_in": frozenset(), "key_introspection": frozenset(), "merchant": frozenset({"merchant_id"}),
        "merchant_stores": frozenset({"merchant_id"}), "store_sales": frozenset({"store_id"})}
    _PATH: ClassVar[re.Pattern[str]] = re.compile(r"^/[^\s?#]*$")

    @model_validator(mode="after")
    def _paths_fit_their_ids(self) -> Self:
        """A path that lost or gained a placeholder would call the wrong thing for every id: refused at start."""
        for name, wanted in self._PLACEHOLDERS.items():
            path = getattr(self, name)
            if not self._PATH.match(path):
                raise ValueError(f"{name}: a path starting with / (no query, no spaces), not {path!r}")
            try:
                fields = [(field, spec, conversion) for _, field, spec, conversion in Formatter().parse(path)
                          if field is not None]
            except ValueError:
                raise ValueError(f"{name}: unbalanced braces in {path!r}") from None
            if {field for field, _, _ in fields} != wanted or any(spec or conversion for _, spec, conversion in fields):
                expected = ", ".join(f"{{{p}}}" for p in sorted(wanted)) or "no placeholder"
                raise ValueError(f"{name}: {path!r} must contain exactly {expected}")
        return self

    @staticmethod
    def fill(path: str, **ids: str) -> str:
        """`path` with its placeholders replaced by the ids, percent-encoded: an id is always one path segment."""
        return path.format_map({name: quote(value, safe="") for name, value in ids.items()})
