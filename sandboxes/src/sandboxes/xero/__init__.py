"""Local stand-in for Xero's identity server (OAuth 2.0/OIDC), Connections API and Organisation endpoint."""

from sandboxes.xero.app import build_app
from sandboxes.xero.clock import Clock
from sandboxes.xero.demo_data import (
    DEMO_COMPANY_UK_TENANT_ID,
    DEMO_PASSWORD,
    OTHER_EMAIL,
    OTHER_ORG_TENANT_ID,
    STEVE_EMAIL,
    STEVE_PREMIUM_TENANT_ID,
    STEVE_STARTER_TENANT_ID,
    STEVE_TEST_STORE_TENANT_ID,
    STEVE_TRIAL_TENANT_ID,
)
from sandboxes.xero.settings import XeroSandboxSettings

__all__ = [
    "DEMO_COMPANY_UK_TENANT_ID", "DEMO_PASSWORD", "OTHER_EMAIL", "OTHER_ORG_TENANT_ID", "STEVE_EMAIL",
    "STEVE_PREMIUM_TENANT_ID", "STEVE_STARTER_TENANT_ID", "STEVE_TEST_STORE_TENANT_ID", "STEVE_TRIAL_TENANT_ID",
    "Clock", "XeroSandboxSettings", "build_app",
]
