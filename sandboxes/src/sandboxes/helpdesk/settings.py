"""Configuration of the helpdesk sinks, read from HELPDESK_SANDBOX_* environment variables."""

import base64
import binascii

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class HelpdeskSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPDESK_SANDBOX_", extra="ignore", hide_input_in_errors=True)

    webhook_secret: SecretStr
    """Standard Webhooks secret (`whsec_<base64>`); an empty value records deliveries unverified."""
    smtp_port: int = Field(default=8725, ge=0, le=65535)
    """Port of the SMTP sink when run by `python -m sandboxes.helpdesk` (the CLI flag wins)."""

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_format(cls, secret: SecretStr) -> SecretStr:
        """Fail at start-up, not on the first delivery, when the secret is malformed."""
        value = secret.get_secret_value()
        if value:
            try:
                encoded = value.removeprefix("whsec_")
                if encoded == value or not base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True):
                    raise ValueError
            except (ValueError, binascii.Error):
                raise ValueError("must be 'whsec_' followed by base64") from None
        return secret
