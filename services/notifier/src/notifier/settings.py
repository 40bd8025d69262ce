"""The service's configuration, from `NOTIFIER_*` environment variables (nested with `__`).

Each helpdesk channel is optional: set `NOTIFIER_EMAIL__*` and/or `NOTIFIER_WEBHOOK__*` to enable it.
"""

import base64
import binascii
from email.utils import parseaddr
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings

from .domain.addresses import check_webhook_url
from .domain.delivery import SVIX_SCHEDULE, Channel, RetryPolicy

Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]


def _address(value: str) -> str:
    address = parseaddr(value)[1]
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ValueError(f"not an email address: {value!r}")
    return value


class EmailSettings(BaseModel):
    """SMTP relay of the helpdesk mailbox; `starttls` (587) or `use_tls` (465) in production."""

    model_config = ConfigDict(hide_input_in_errors=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    from_address: str = Field(description='"Cloud POS Xero <noreply@example.com>" or a bare address')
    to: list[str] = Field(min_length=1, max_length=20)
    starttls: bool = True
    use_tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: Seconds = 15.0

    @field_validator("from_address")
    @classmethod
    def _check_from(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.starttls and self.use_tls:
            raise ValueError("choose starttls or use_tls, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        return self


class WebhookSettings(BaseModel):
    """The helpdesk's webhook, signed the Standard Webhooks way with `secret` (`whsec_<base64>`)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    url: str
    secret: SecretStr
    timeout_seconds: Seconds = 15.0
    allow_insecure_loopback: bool = Field(
        default=False, description="local runs and tests only: allow http:// and loopback addresses")

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        try:
            key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not raw.startswith("whsec_") or not 24 <= len(key) <= 64:
            raise ValueError("the webhook secret must be whsec_ followed by base64 of 24 to 64 bytes")
        return value

    @model_validator(mode="after")
    def _safe_url(self) -> Self:
        check_webhook_url(self.url, allow_insecure_loopback=self.allow_insecure_loopback)
        return self


class RetrySettings(BaseModel):
    """Waits before each retry (each jittered uniformly from 0 to the value); Svix's ~27 h by default."""

    schedule_seconds: tuple[Seconds, ...] = Field(default=SVIX_SCHEDULE, max_length=30)
    max_retry_after_seconds: Seconds = 36000.0

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.schedule_seconds, self.max_retry_after_seconds)


class DispatcherSettings(BaseModel):
    enabled: bool = Field(default=True, description="false: record deliveries but let another process send")
    poll_interval_seconds: Seconds = 1.0
    batch_size: int = Field(default=20, ge=1, le=500)
    lease_seconds: Seconds = 120.0


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", env_nested_delimiter="__",
                                      hide_input_in_errors=True)

    database: DatabaseSettings
    kafka: KafkaSettings
    http: HttpSettings = HttpSettings(port=8104)
    api_token: Annotated[SecretStr, Field(min_length=16, description="Bearer token of /v1/deliveries")]
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None
    retry: RetrySettings = RetrySettings()
    dispatcher: DispatcherSettings = DispatcherSettings()

    @model_validator(mode="after")
    def _lease_outlives_an_attempt(self) -> Self:
        if self.dispatcher.lease_seconds < 2 * self.attempt_timeout:
            raise ValueError("dispatcher.lease_seconds must be at least twice the longest channel timeout")
        return self

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(c for c, s in ((Channel.EMAIL, self.email), (Channel.WEBHOOK, self.webhook)) if s)

    @property
    def attempt_timeout(self) -> float:
        """An attempt is cut off a little after its channel's own timeout (connect + TLS + answer)."""
        timeouts = [s.timeout_seconds for s in (self.email, self.webhook) if s] or [15.0]
        return max(timeouts) + 5.0


def example_settings() -> NotifierSettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return NotifierSettings(database={"url": "postgresql://notifier@postgres:5432/notifier"},
                            kafka={"bootstrap_servers": "kafka:9092"},
                            api_token="example-token-not-secret")
