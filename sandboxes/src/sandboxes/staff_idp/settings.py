"""Configuration of the staff identity sandbox, read from STAFF_IDP_SANDBOX_* environment variables.

One registered client (the helpdesk console). The client secret has no default so the sandbox never runs with
a guessable credential.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sandboxes.env_lists import env_list


class StaffIdpSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STAFF_IDP_SANDBOX_", extra="ignore", hide_input_in_errors=True)

    issuer: str = "http://127.0.0.1:8740"
    """Public base URL: the browser and the console must both reach it there."""
    client_id: str = Field(default="helpdesk-console", min_length=1)
    client_secret: SecretStr = Field(min_length=1)
    redirect_uris: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8103/helpdesk/callback"], min_length=1)
    """Exact-match redirect URIs. Env: JSON list (or comma-separated)."""
    post_logout_redirect_uris: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8103/helpdesk/signed-out"])
    signing_key_pem: SecretStr | None = None
    """PEM RSA private key; a fresh 2048-bit key is generated at start when unset."""
    code_seconds: int = Field(default=60, gt=0)
    """Authorization codes are single-use and this short-lived (RFC 6749 §4.1.2 recommends at most 10 minutes)."""
    id_token_seconds: int = Field(default=300, gt=0)
    access_token_seconds: int = Field(default=3600, gt=0)
    session_hours: float = Field(default=10, gt=0)
    """How long the IdP's own sign-in lasts before the password is asked again."""

    @field_validator("redirect_uris", "post_logout_redirect_uris", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return env_list(value)

    @field_validator("issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
