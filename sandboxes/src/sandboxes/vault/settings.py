"""Configuration of the Vault sandbox, read from VAULT_SANDBOX_* environment variables. The root token has no
default, so the sandbox never runs with a guessable credential."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class VaultSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VAULT_SANDBOX_", extra="ignore", hide_input_in_errors=True)

    root_token: SecretStr = Field(min_length=1)
    """The one token accepted in X-Vault-Token (as `vault server -dev -dev-root-token-id`)."""
    mount: str = Field(default="transit", pattern=r"^[A-Za-z0-9_-]+$")
    """Where the Transit engine is mounted (`vault secrets enable -path=<mount> transit`)."""
    state_file: Path | None = None
    """Keep the keys in this file across restarts (docker-compose keeps its topics on a volume, so it must keep
    their keys too); unset: in memory only, as a dev-mode Vault (`make run` starts from empty topics)."""
