"""Configuration from NOTIFIER_* variables: optional channels, required secrets, no secret in errors."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from notifier.domain.delivery import SVIX_SCHEDULE, Channel
from notifier.settings import EmailSettings, NotifierSettings, example_settings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LINK_SECRET = "a-reminder-link-secret-of-32-chars-or-more"
BASE = {"NOTIFIER_DATABASE__URL": "postgresql://notifier@db/notifier", "NOTIFIER_KAFKA__BOOTSTRAP_SERVERS": "k:9092",
        "NOTIFIER_API_TOKEN": "a-long-enough-api-token",
        "NOTIFIER_MERCHANT_EMAIL__HOST": "smtp.example.com",
        "NOTIFIER_MERCHANT_EMAIL__FROM_ADDRESS": "Cloud POS <noreply@cloudpos.test>",
        "NOTIFIER_CLOUDPOS__BASE_URL": "http://cloudpos:8720", "NOTIFIER_CLOUDPOS__PLATFORM_TOKEN": "platform-token",
        "NOTIFIER_PUBLIC_BASE_URL": "http://127.0.0.1:8104", "NOTIFIER_REMINDER_LINK_SECRET": LINK_SECRET}


@pytest.fixture
def env(monkeypatch):
    def set_env(**values: str) -> NotifierSettings:
        for name, value in (BASE | values).items():
            monkeypatch.setenv(name, value)
        return NotifierSettings()  # type: ignore[call-arg]
    return set_env


def test_both_channels_from_the_environment(env):
    settings = env(NOTIFIER_EMAIL__HOST="smtp.example.com", NOTIFIER_EMAIL__FROM_ADDRESS="Xero <noreply@x.test>",
                   NOTIFIER_EMAIL__TO='["help@desk.test", "backup@desk.test"]',
                   NOTIFIER_EMAIL__USERNAME="notifier", NOTIFIER_EMAIL__PASSWORD="smtp-password",
                   NOTIFIER_WEBHOOK__URL="https://helpdesk.example.com/hooks", NOTIFIER_WEBHOOK__SECRET=SECRET,
                   NOTIFIER_RETRY__SCHEDULE_SECONDS="[10, 60]")
    assert settings.channels == (Channel.EMAIL, Channel.WEBHOOK)
    assert settings.email.to == ["help@desk.test", "backup@desk.test"] and settings.email.starttls
    assert settings.retry.policy().max_attempts == 3
    for secret in ("smtp-password", SECRET, "a-long-enough-api-token", LINK_SECRET, "platform-token"):
        assert secret not in repr(settings)


def test_channels_are_optional_and_the_default_schedule_is_svix_like(env):
    settings = env()
    assert settings.channels == () and settings.retry.schedule_seconds == SVIX_SCHEDULE
    assert sum(SVIX_SCHEDULE) / 3600 == pytest.approx(27.6, abs=0.1)  # ~27 h, like Svix
    assert example_settings().channels == ()


def test_a_webhook_without_its_secret_or_with_a_bad_one_is_refused(env):
    with pytest.raises(ValidationError, match=r"webhook\.secret"):
        env(NOTIFIER_WEBHOOK__URL="https://helpdesk.example.com/hooks")
    with pytest.raises(ValidationError) as error:
        env(NOTIFIER_WEBHOOK__URL="https://helpdesk.example.com/hooks", NOTIFIER_WEBHOOK__SECRET="plain-secret-value")
    assert "plain-secret-value" not in str(error.value)


def test_the_api_token_is_required_and_not_echoed(env, monkeypatch):
    with pytest.raises(ValidationError) as error:
        env(NOTIFIER_API_TOKEN="short")
    assert "short" not in str(error.value).replace("too_short", "")
    monkeypatch.delenv("NOTIFIER_API_TOKEN")
    with pytest.raises(ValidationError, match="api_token"):
        NotifierSettings()  # type: ignore[call-arg]


@pytest.mark.parametrize("fields", [
    {"to": []}, {"to": ["not-an-address"]}, {"from_address": "x@y.test\r\nBcc: z@y.test"},
    {"starttls": True, "use_tls": True}, {"username": "only-a-name"}])
def test_bad_email_settings_are_refused(fields):
    with pytest.raises(ValidationError):
        EmailSettings(**({"host": "smtp", "from_address": "n@x.test", "to": ["h@d.test"]} | fields))


def test_the_lease_must_outlive_an_attempt(env):
    with pytest.raises(ValidationError, match="lease_seconds"):
        env(NOTIFIER_DISPATCHER__LEASE_SECONDS="30")


@pytest.mark.parametrize("missing", ["NOTIFIER_REMINDER_LINK_SECRET", "NOTIFIER_PUBLIC_BASE_URL",
                                     "NOTIFIER_CLOUDPOS__PLATFORM_TOKEN", "NOTIFIER_MERCHANT_EMAIL__FROM_ADDRESS"])
def test_telling_merchants_needs_its_settings(env, monkeypatch, missing):
    env()
    monkeypatch.delenv(missing)
    with pytest.raises(ValidationError, match=missing.removeprefix("NOTIFIER_").lower().replace("__", ".")):
        NotifierSettings()  # type: ignore[call-arg]


def test_a_short_link_secret_is_refused_and_not_echoed(env):
    with pytest.raises(ValidationError) as error:
        env(NOTIFIER_REMINDER_LINK_SECRET="short-secret-value")
    assert "reminder_link_secret" in str(error.value) and "short-secret-value" not in str(error.value)


def test_the_reminder_schedule_defaults_to_days_1_3_7_and_may_be_shortened(env):
    default = env().reminders
    assert default.days == (1, 3, 7) and default.day == timedelta(days=1)
    fast = env(NOTIFIER_REMINDER_DAYS="[1, 2]", NOTIFIER_REMINDER_DAY_SECONDS="3").reminders
    assert fast.days == (1, 2) and fast.day == timedelta(seconds=3)
    assert env(NOTIFIER_REMINDER_DAYS="[]").reminders.days == ()
    for bad in ("[3, 1]", "[1, 1]", "[0]", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]"):
        with pytest.raises(ValidationError, match="reminder_days"):
            env(NOTIFIER_REMINDER_DAYS=bad)


def test_an_attempt_includes_asking_cloud_pos(env):
    settings = env(NOTIFIER_CLOUDPOS__TIMEOUT_SECONDS="20", NOTIFIER_MERCHANT_EMAIL__TIMEOUT_SECONDS="30")
    assert settings.attempt_timeout == 55
    with pytest.raises(ValidationError, match="lease_seconds"):
        env(NOTIFIER_CLOUDPOS__TIMEOUT_SECONDS="20", NOTIFIER_MERCHANT_EMAIL__TIMEOUT_SECONDS="30",
            NOTIFIER_DISPATCHER__LEASE_SECONDS="100")


def test_the_setup_page_is_optional_and_must_be_a_web_address(env):
    assert env().setup_page_url is None
    assert env(NOTIFIER_SETUP_PAGE_URL="https://xero.cloudpos.example.com/").setup_page_url == \
        "https://xero.cloudpos.example.com/"
    for bad in ("javascript:alert(1)", "xero.cloudpos.example.com", "https://x.example.com/ page"):
        with pytest.raises(ValidationError, match="setup_page_url"):
            env(NOTIFIER_SETUP_PAGE_URL=bad)
