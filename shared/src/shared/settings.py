"""Settings sections every service's own settings class nests (one class per service, env-driven)."""

import re
from pathlib import Path
from string import Formatter
from typing import ClassVar, Literal, Self
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class KafkaSettings(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)  # a refused setting must not echo the SASL password

    bootstrap_servers: str = Field(min_length=3, description="host:port[,host:port]")
    consumer_group: str | None = Field(
        default=None, description="defaults to the service's name; a replay or a test may use its own")
    connect_wait_seconds: float = Field(
        default=5.0, ge=0, description="how long start-up waits for the broker before serving without it (the "
                                       "producer, relay and consumers then connect in the background)")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT only for local runs; production: SASL_SSL (docs/operability.md)")
    sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = Field(default=None, min_length=1, description="the service's KafkaUser")
    sasl_password: SecretStr | None = Field(default=None, min_length=1, description="from the KafkaUser's Secret")
    ssl_ca_file: Path | None = Field(default=None, description="PEM CA the broker's certificate must chain to "
                                                               "(Strimzi's cluster CA); unset: the system's")
    ssl_cert_file: Path | None = Field(default=None, description="PEM client certificate, for mutual TLS")
    ssl_key_file: Path | None = Field(default=None, description="PEM key of ssl_cert_file")

    @model_validator(mode="after")
    def _security_is_whole(self) -> Self:
        """Half a configuration fails at start, not as a silently plaintext or anonymous client: credentials
        without SASL (or TLS files without TLS) would be ignored, SASL without them cannot sign in."""
        sasl = self.sasl_username is not None or self.sasl_password is not None
        tls_files = self.ssl_ca_file or self.ssl_cert_file or self.ssl_key_file
        if self.security_protocol == "SASL_SSL" and (self.sasl_username is None or self.sasl_password is None):
            raise ValueError("security_protocol SASL_SSL needs sasl_username and sasl_password")
        if sasl and self.security_protocol != "SASL_SSL":
            raise ValueError(f"SASL credentials are set but security_protocol is {self.security_protocol}")
        if tls_files and self.security_protocol == "PLAINTEXT":
            raise ValueError("TLS files are set but security_protocol is PLAINTEXT")
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError("ssl_cert_file and ssl_key_file go together (mutual TLS)")
        return self


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
    """A service's listeners: the public one (`port`) and the internal one (`internal_port`: health probes and
    `/metrics`, never exposed). The caps bound what a request body may weigh (`shared.http_limits`); on a
    second listener of the same process (the gateway's platform_http) only host and port are read."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    internal_port: int = Field(default=9100, ge=0, le=65535, description="/health/live, /health/ready, /metrics")
    form_max_bytes: int = Field(default=16 * 1024, ge=1024, description="browser forms (pages, console)")
    api_max_bytes: int = Field(default=1024 * 1024, ge=1024, description="internal JSON APIs")


class PersonalDataSettings(BaseModel):
    """Where merchants' keys for the personal fields of events live (docs/personal-data.md): Vault's Transit
    engine. Unset (a service's `personal_data` is None): events carry personal fields plain (tests only; the
    production overlay sets it)."""

    vault_url: str = Field(pattern=r"^https?://", description="Vault (or sandboxes/vault), e.g. https://vault:8200")
    vault_token: SecretStr = Field(min_length=1, description="a token whose policy allows the merchant-* keys")
    mount: str = Field(default="transit", pattern=r"^[A-Za-z0-9_/-]+$", description="the Transit engine's path")
    cache_seconds: float = Field(
        default=60, ge=0, le=3600, description="how long key material is kept in memory; an erasure made by "
                                               "another instance is effective here within this time")
    timeout_seconds: float = Field(default=5, gt=0)


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


class RetentionSettings(BaseModel):
    """How long each kind of row is kept before `shared.retention` deletes it (or clears its personal fields), in
    small batches, every `every_seconds`. Every service's settings nest one (e.g. `NOTIFIER_RETENTION__AUDIT_DAYS`);
    each prunes the kinds its database holds. docs/retention.md gives the reasons for each default."""

    enabled: bool = Field(default=True, description="false: this instance prunes nothing (tests, a one-off replica)")
    every_seconds: float = Field(default=3600, gt=0, description="how often a pruning round runs")
    batch_size: int = Field(default=500, ge=1, le=10_000, description="rows per statement, each its own short "
                                                                      "transaction: no long locks, no old xmin")
    max_batches: int = Field(default=200, ge=1, description="batches per kind and round; a backlog drains over rounds")
    client_address_days: int = Field(default=30, ge=1, description="client IP addresses (validation attempts)")
    audit_days: int = Field(default=400, ge=1, description="audit rows: gateway audit_log, staff_audit, validation "
                                                           "attempts (a year and a month: one yearly review back)")
    outbox_days: int = Field(default=7, ge=1, description="published outbox rows (never an unpublished one)")
    inbox_days: int = Field(default=60, ge=1, description="inbox claims; events older than the inbox horizon "
                                                          "are then taken as already applied")
    dead_letter_days: int = Field(default=30, ge=1, description="parked notifier deliveries; the DeadLetter.* "
                                                                "topics' retention.ms says the same (checked)")
    finished_work_days: int = Field(default=90, ge=1, description="finished work: done Xero jobs, ended "
                                                                  "completions, delivered or cancelled deliveries")
    max_consumer_lag_days: int = Field(default=7, ge=1, description="the oldest an event may be when first "
                                                                    "delivered (outbox delay + consumer lag)")

    @model_validator(mode="after")
    def _inbox_outlives_redelivery(self) -> Self:
        """Events older than the inbox horizon are taken as applied (their claims may be gone), so an event never
        applied must always be younger: a dead letter replayed on its last day, after the longest tolerated lag."""
        if self.inbox_days < self.dead_letter_days + self.max_consumer_lag_days:
            raise ValueError(f"inbox_days ({self.inbox_days}) must be at least dead_letter_days + "
                             f"max_consumer_lag_days ({self.dead_letter_days + self.max_consumer_lag_days}): "
                             "a redelivered event would otherwise be applied twice (docs/retention.md)")
        if self.finished_work_days < self.inbox_days:
            raise ValueError("finished_work_days cannot be below inbox_days: the rows that make a late event a no-op "
                             "(a restored incident, a done job) must outlive the event's claim")
        if self.client_address_days > self.audit_days:
            raise ValueError("client_address_days cannot exceed audit_days (the rows holding them go first)")
        return self
