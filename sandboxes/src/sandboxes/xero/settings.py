"""Configuration of the Xero sandbox, read from XERO_SANDBOX_* environment variables.

Secrets have no defaults so the sandbox never runs with guessable credentials.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sandboxes.env_lists import env_list

# Every scope Xero documents (reference §1.3), broad and granular. Restricted ones are left out of the default.
BROAD_SCOPES = ("accounting.transactions", "accounting.transactions.read", "accounting.reports.read")
GRANULAR_SCOPES = tuple(
    f"{base}{suffix}"
    for base in ("accounting.invoices", "accounting.payments", "accounting.banktransactions",
                 "accounting.manualjournals", "accounting.classicexpenses")
    for suffix in ("", ".read")
) + tuple(f"accounting.reports.{r}.read" for r in (
    "aged", "balancesheet", "banksummary", "budgetsummary", "executivesummary",
    "profitandloss", "trialbalance", "taxreports", "tenninetynine"))
COMMON_SCOPES = (
    "openid", "profile", "email", "offline_access",
    "accounting.settings", "accounting.settings.read", "accounting.contacts", "accounting.contacts.read",
    "accounting.attachments", "accounting.attachments.read", "accounting.journals.read",
    "accounting.budgets.read", "files", "files.read", "assets", "assets.read", "projects", "projects.read",
)
DEFAULT_ALLOWED_SCOPES = list(COMMON_SCOPES + BROAD_SCOPES + GRANULAR_SCOPES)


class XeroSandboxSettings(BaseSettings):
    """One registered app (the product's Xero app) plus knobs for behaviour the reference marks as unverified."""

    model_config = SettingsConfigDict(env_prefix="XERO_SANDBOX_", extra="ignore")

    client_id: str = Field(min_length=1)
    """The app's client id (Xero uses 32 upper-case hex characters)."""
    client_secret: SecretStr = Field(min_length=1)
    redirect_uris: Annotated[list[str], NoDecode] = Field(min_length=1)
    """Exact-match redirect URIs. Env: JSON list or comma-separated."""
    control_token: SecretStr = Field(min_length=1)
    """Value of the x-sandbox-control-token header for /_sandbox test controls."""
    issuer: str = "http://127.0.0.1:8710"
    """Public base URL; login, identity and api hosts all live here."""
    app_name: str = "Citrus-Lime Cloud POS"
    allowed_scopes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_SCOPES))
    granular_scopes_only: bool = False
    """Apps created on/after 2 March 2026 may not request the deprecated broad scopes."""
    bulk_connections: bool = False
    """Multi-select org picker (a certified-partner feature); single select otherwise."""
    signing_key_pem: SecretStr | None = None
    """PEM RSA private key; a fresh 2048-bit key is generated at start when unset."""
    access_token_seconds: int = 1800
    code_seconds: int = 300
    refresh_grace_seconds: int = 1800
    refresh_idle_days: int = 60
    grace_reuse_revokes_successor: bool = False
    """Unverified in the reference: does re-using the old token in the grace window kill the first new pair?"""
    refresh_requires_connection: bool = False
    """Unverified in the reference: does refresh fail with invalid_grant once no connections remain?"""
    tenant_minute_limit: int = 60
    tenant_day_limit: int = 5000
    app_minute_limit: int = 10000
    tenant_concurrent_limit: int = 5
    idempotency_key_seconds: float = 360
    """How long an Idempotency-Key's answer is kept: Xero documents 6 minutes from the first call."""

    @field_validator("redirect_uris", "allowed_scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return env_list(value)
