"""The service's configuration, from `DAILY_SALES_*` environment variables (nested with `__`).

Required: the database, Kafka, the platform API (base URL + bearer token) and Cloud POS (base URL + platform
token). Everything about posting has a default: yesterday's sales, every minute, in the UK.
"""

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import CloudPosPaths, DatabaseSettings, HttpSettings, KafkaSettings

from .domain import DayPolicy, InvoiceRules, RetryPolicy

BaseUrl = Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")]
Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]


class PlatformApiSettings(BaseModel):
    """The gateway's internal platform API: every Xero call goes through it, so no Xero token is ever here."""

    model_config = ConfigDict(hide_input_in_errors=True)

    base_url: BaseUrl = Field(description="make run: http://127.0.0.1:8102")
    token: SecretStr = Field(min_length=16, description="this service's bearer token on /internal/v1")
    timeout_seconds: Seconds = Field(default=30.0, le=120, description="per call; Xero may take a while")


class CloudPosSettings(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    base_url: BaseUrl = Field(description="make run: http://127.0.0.1:8720")
    platform_token: SecretStr = Field(min_length=1, description="our bearer token on Cloud POS /api/v1")
    timeout_seconds: Seconds = Field(default=10.0, le=60)
    paths: CloudPosPaths = Field(default_factory=CloudPosPaths, description="store_sales (docs/cloudpos-api.md)")


class InvoiceSettings(BaseModel):
    """Where a day is booked in Xero: the sales account and the tax type of each VAT rate (percent)."""

    account_code: str = Field(default="200", min_length=1, max_length=10)
    tax_types: dict[Decimal, str] = Field(default_factory=lambda: {Decimal("20"): "OUTPUT2",
                                                                   Decimal("0"): "ZERORATEDOUTPUT"})

    def rules(self) -> InvoiceRules:
        return InvoiceRules(self.account_code, {rate.normalize(): kind for rate, kind in self.tax_types.items()})


class PostingSettings(BaseModel):
    day: Literal["yesterday"] | date = Field(
        default="yesterday", description='"yesterday" (and any missed day before it), or one fixed YYYY-MM-DD '
                                         "for a demo or a test")
    timezone: str = Field(default="Europe/London", description="the stores' time zone: when their day ends")
    catch_up_days: int = Field(default=7, ge=1, le=90, description="how many past days a late start still posts")
    poll_interval_seconds: Seconds = 60.0
    batch_size: int = Field(default=20, ge=1, le=500)
    lease_seconds: Seconds = Field(default=300.0, description="how long an attempt holds its day")
    retry_base_seconds: Seconds = 30.0
    retry_max_seconds: Seconds = 3600.0
    reconnect_check_seconds: Seconds = Field(default=3600.0, description="how often a day waiting for a "
                                                                         "reconnection looks at the connection")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def day_policy(self) -> DayPolicy:
        return DayPolicy(self.catch_up_days, None if self.day == "yesterday" else self.day)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base_seconds=self.retry_base_seconds, max_seconds=self.retry_max_seconds,
                           reconnect_check_seconds=self.reconnect_check_seconds)


class DailySalesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAILY_SALES_", env_nested_delimiter="__",
                                      hide_input_in_errors=True)

    database: DatabaseSettings
    kafka: KafkaSettings
    http: HttpSettings = HttpSettings(port=8105)
    platform_api: PlatformApiSettings
    cloudpos: CloudPosSettings
    posting: PostingSettings = PostingSettings()
    invoice: InvoiceSettings = InvoiceSettings()

    @property
    def attempt_timeout(self) -> float:
        """One attempt: the sales, the connection and the invoice, each within its own timeout."""
        return self.cloudpos.timeout_seconds + 2 * self.platform_api.timeout_seconds + 5.0

    @model_validator(mode="after")
    def _lease_outlives_an_attempt(self) -> Self:
        if self.posting.lease_seconds < self.attempt_timeout:
            raise ValueError(f"posting.lease_seconds must be at least {self.attempt_timeout:.0f} (one attempt), "
                             "or a slow attempt could be re-sent while it is still running")
        return self


def example_settings() -> DailySalesSettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return DailySalesSettings(database={"url": "postgresql://daily_sales@postgres:5432/daily_sales"},
                              kafka={"bootstrap_servers": "kafka:9092"},
                              platform_api={"base_url": "http://oauth-gateway:8102",
                                            "token": "example-platform-token-not-secret"},
                              cloudpos={"base_url": "http://cloudpos:8720", "platform_token": "example-token"})
