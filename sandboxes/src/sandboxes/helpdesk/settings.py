"""Configuration of the helpdesk sinks, read from HELPDESK_SANDBOX_* environment variables."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class HelpdeskSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPDESK_SANDBOX_", extra="ignore")

    webhook_secret: SecretStr
    """Standard Webhooks secret (`whsec_<base64>`); an empty value records deliveries unverified."""
    smtp_port: int = Field(default=8725, ge=0, le=65535)
    """Port of the SMTP sink when run by `python -m sandboxes.helpdesk` (the CLI flag wins)."""
