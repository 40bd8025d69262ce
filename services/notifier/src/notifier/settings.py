"""The service's configuration, from `NOTIFIER_*` environment variables (nested with `__`).

Each helpdesk channel is optional: set `NOTIFIER_EMAIL__*` and/or `NOTIFIER_WEBHOOK__*` to enable it. Telling
merchants about broken connections is not: `NOTIFIER_MERCHANT_EMAIL__*` (their SMTP relay),
`NOTIFIER_CLOUDPOS__*` (where their contact email is), `NOTIFIER_PUBLIC_BASE_URL` and
`NOTIFIER_REMINDER_LINK_SECRET` (the stop link) are required; `NOTIFIER_SETUP_PAGE_URL` (the link in the
reminder to finish the setup) should be set.
"""

import base64
import binascii
from datetime import timedelta
from email.utils import parseaddr
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import CloudPosPaths, DatabaseSettings, HttpSettings, KafkaSettings, PersonalDataSettings
from shared.settings import RetentionSettings

from .domain.addresses import check_webhook_url
from .domain.delivery import SVIX_SCHEDULE, Channel, RetryPolicy
from .domain.incidents import ReminderSchedule

Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]


def _address(value: str) -> str:
    address = parseaddr(value)[1]
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ValueError(f"not an email address: {value!r}")
    return value


class SmtpRelay(BaseModel):
    """An SMTP relay and the sender; `starttls` (587) or `use_tls` (465) in production."""

    model_config = ConfigDict(hide_input_in_errors=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    from_address: str = Field(description='"Cloud POS Xero <noreply@example.com>" or a bare address')
    starttls: bool = True
    use_tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: Seconds = 15.0

    @field_validator("from_address")
    @classmethod
    def _check_from(cls, value: str) -> str:
        return _address(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.starttls and self.use_tls:
            raise ValueError("choose starttls or use_tls, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        return self


class EmailSettings(SmtpRelay):
    """SMTP relay of the helpdesk mailbox and its addresses."""

    to: list[str] = Field(min_length=1, max_length=20)

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]


class MerchantEmailSettings(SmtpRelay):
    """How merchants are emailed about a broken connection (to the contact email Cloud POS holds for them)."""

    reply_to: str | None = Field(default=None, description="where a merchant's reply goes, e.g. the helpdesk")

    @field_validator("reply_to")
    @classmethod
    def _check_reply_to(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)


class CloudPosSettings(BaseModel):
    """The Cloud POS platform API, asked for a merchant's contact email (`GET paths.merchant`)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    base_url: str = Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", description="e.g. http://cloudpos:8720")
    platform_token: SecretStr = Field(min_length=1, description="our bearer token on /api/v1")
    timeout_seconds: Seconds = 5.0
    paths: CloudPosPaths = Field(default_factory=CloudPosPaths, description="merchant (docs/cloudpos-api.md)")


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
    concurrency: int = Field(default=32, ge=1, le=256, description="attempts in flight at once")
    channel_concurrency: int = Field(default=16, ge=1, le=256,
                                     description="of those, the most on one channel (a slow destination leaves "
                                                 "room for the others)")


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", env_nested_delimiter="__",
                                      hide_input_in_errors=True)

    database: DatabaseSettings
    retention: RetentionSettings = RetentionSettings()   # shared.retention, docs/retention.md
    kafka: KafkaSettings
    personal_data: PersonalDataSettings | None = None   # keys for events' personal fields (Vault)
    http: HttpSettings = HttpSettings(port=8104)
    api_token: Annotated[SecretStr, Field(min_length=16, description="Bearer token of /v1/deliveries")]
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None
    merchant_email: MerchantEmailSettings
    cloudpos: CloudPosSettings
    public_base_url: str = Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
                                 description="where merchants reach this service (the stop link), e.g. "
                                             "https://notifier.example.com")
    reminder_link_secret: SecretStr = Field(min_length=32, description="HMAC key of the stop-reminders links")
    setup_page_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="the gateway's Xero setup page (where the merchant clicks \"I have finished\"), linked from "
                    "the reminder to finish the setup, e.g. https://xero.cloudpos.example.com/; without it the "
                    "email says how to reach the page")
    reminder_days: tuple[Annotated[float, Field(gt=0, le=90)], ...] = Field(
        default=(1.0, 3.0, 7.0), max_length=10, description="merchant reminders, in days after the break")
    reminder_day_seconds: Annotated[float, Field(gt=0, le=86400)] = Field(
        default=86400.0, description="the length of a reminder day; tests shorten it")
    merchant_email_delay_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=30.0, description="the first merchant email waits this long, so every store of one incident "
                                  "(one ConnectionBroken each) is in it")
    retry: RetrySettings = RetrySettings()
    dispatcher: DispatcherSettings = DispatcherSettings()

    @field_validator("reminder_days")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(later <= earlier for earlier, later in zip(value, value[1:], strict=False)):
            raise ValueError("reminder_days must increase, e.g. [1, 3, 7]")
        return value

    @model_validator(mode="after")
    def _lease_outlives_an_attempt(self) -> Self:
        if self.dispatcher.lease_seconds < 2 * self.attempt_timeout:
            raise ValueError("dispatcher.lease_seconds must be at least twice the longest channel timeout")
        return self

    @property
    def reminders(self) -> ReminderSchedule:
        return ReminderSchedule(self.reminder_days, timedelta(seconds=self.reminder_day_seconds),
                                timedelta(seconds=self.merchant_email_delay_seconds))

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(c for c, s in ((Channel.EMAIL, self.email), (Channel.WEBHOOK, self.webhook)) if s)

    @property
    def attempt_timeout(self) -> float:
        """An attempt is cut off a little after its channel's own timeout (connect + TLS + answer); a merchant
        email asks Cloud POS first."""
        timeouts = [s.timeout_seconds for s in (self.email, self.webhook) if s]
        timeouts.append(self.cloudpos.timeout_seconds + self.merchant_email.timeout_seconds)
        return max(timeouts) + 5.0


def example_settings() -> NotifierSettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return NotifierSettings(database={"url": "postgresql://notifier@postgres:5432/notifier"},
                            kafka={"bootstrap_servers": "kafka:9092"},
                            api_token="example-token-not-secret",
                            merchant_email={"host": "smtp.example.com",
                                            "from_address": "Cloud POS <noreply@example.com>"},
                            cloudpos={"base_url": "http://cloudpos:8720", "platform_token": "example-platform-token"},
                            public_base_url="https://notifier.example.com",
                            reminder_link_secret="example-reminder-link-secret-not-a-secret",
                            setup_page_url="https://xero.example.com/")
