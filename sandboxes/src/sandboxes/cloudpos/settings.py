"""Configuration of the Cloud POS sandbox, read from CLOUDPOS_SANDBOX_* environment variables."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CloudPosSandboxSettings(BaseSettings):
    """Tokens are required (no defaults) so a sandbox never runs with guessable credentials."""

    model_config = SettingsConfigDict(env_prefix="CLOUDPOS_SANDBOX_", extra="ignore", hide_input_in_errors=True)

    platform_token: SecretStr = Field(min_length=1)
    """Bearer token our services present on /api/v1 platform endpoints."""
    support_token: SecretStr = Field(min_length=1)
    """Bearer token of the support team's Back Office tooling (/support/v1)."""
    control_token: SecretStr = Field(min_length=1)
    """Value of the x-sandbox-control-token header for /_sandbox test controls."""
    demo_data: bool = True
    """Load the merchants, users, stores and keys from demo_data.py at start and on reset."""
    lockout_threshold: int = Field(default=5, ge=1)
    """Consecutive failed sign-ins after which a user is locked (403), as the real platform does."""
