"""The settings: required secrets, the env names the stack sets, defaults, and refusals of unsafe values."""

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from daily_sales.domain import DayPolicy
from daily_sales.settings import DailySalesSettings, example_settings

ENV = {
    "DAILY_SALES_DATABASE__URL": "postgresql://daily_sales@127.0.0.1:5432/daily_sales",
    "DAILY_SALES_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "DAILY_SALES_PLATFORM_API__BASE_URL": "http://127.0.0.1:8102",
    "DAILY_SALES_PLATFORM_API__TOKEN": "platform-api-token-for-daily-sales",
    "DAILY_SALES_CLOUDPOS__BASE_URL": "http://127.0.0.1:8720",
    "DAILY_SALES_CLOUDPOS__PLATFORM_TOKEN": "cloudpos-platform-token",
}


@pytest.fixture
def env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_the_environment_fills_the_settings_with_safe_defaults(env):
    settings = DailySalesSettings()
    assert settings.http.port == 8105
    assert settings.platform_api.base_url == "http://127.0.0.1:8102"
    assert settings.platform_api.token.get_secret_value() == ENV["DAILY_SALES_PLATFORM_API__TOKEN"]
    assert (settings.posting.day, settings.posting.timezone) == ("yesterday", "Europe/London")
    assert settings.posting.day_policy() == DayPolicy(catch_up_days=7)
    assert settings.invoice.rules().account_code == "200"


def test_a_pinned_day_and_the_poll_interval_come_from_the_environment(env):
    env.setenv("DAILY_SALES_POSTING__DAY", "2026-02-14")
    env.setenv("DAILY_SALES_POSTING__POLL_INTERVAL_SECONDS", "5")
    env.setenv("DAILY_SALES_INVOICE__TAX_TYPES", '{"20": "OUTPUT2", "5": "RROUTPUT", "0": "ZERORATEDOUTPUT"}')
    settings = DailySalesSettings()
    assert settings.posting.day_policy().pinned == date(2026, 2, 14)
    assert settings.posting.poll_interval_seconds == 5
    assert settings.invoice.rules().tax_type(Decimal("5.0")) == "RROUTPUT"


@pytest.mark.parametrize("missing", ["DAILY_SALES_PLATFORM_API__TOKEN", "DAILY_SALES_CLOUDPOS__PLATFORM_TOKEN",
                                     "DAILY_SALES_PLATFORM_API__BASE_URL", "DAILY_SALES_DATABASE__URL"])
def test_secrets_and_addresses_are_required(env, missing):
    env.delenv(missing)
    with pytest.raises(ValidationError):
        DailySalesSettings()


@pytest.mark.parametrize(("name", "value"), [
    ("DAILY_SALES_PLATFORM_API__TOKEN", "short"),
    ("DAILY_SALES_PLATFORM_API__BASE_URL", "ftp://gateway"),
    ("DAILY_SALES_POSTING__DAY", "last tuesday"),
    ("DAILY_SALES_POSTING__TIMEZONE", "Mars/Olympus_Mons"),
    ("DAILY_SALES_POSTING__LEASE_SECONDS", "30"),
])
def test_unsafe_values_are_refused(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ValidationError):
        DailySalesSettings()


def test_a_refused_secret_is_not_echoed(env):
    env.setenv("DAILY_SALES_PLATFORM_API__TOKEN", "tiny")
    with pytest.raises(ValidationError) as refused:
        DailySalesSettings()
    assert "tiny" not in str(refused.value)
    assert ENV["DAILY_SALES_CLOUDPOS__PLATFORM_TOKEN"] not in repr(example_settings())
