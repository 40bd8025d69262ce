"""Local stand-in for the company's staff identity provider (OpenID Connect), for the helpdesk console's sign-in.

Like Entra ID, Okta or Keycloak: discovery, JWKS, authorization code with PKCE, RS256 ID tokens with app roles in
`roles`, userinfo and RP-initiated logout. NEVER for production.
"""

from sandboxes.staff_idp.app import build_app
from sandboxes.staff_idp.demo_data import (
    AGENT_ROLE,
    ALICE_EMAIL,
    BOB_EMAIL,
    DEMO_PASSWORD,
    LEAD_ROLE,
    LENA_EMAIL,
    SAM_EMAIL,
    STAFF,
)
from sandboxes.staff_idp.settings import StaffIdpSandboxSettings

__all__ = ["AGENT_ROLE", "ALICE_EMAIL", "BOB_EMAIL", "DEMO_PASSWORD", "LEAD_ROLE", "LENA_EMAIL", "SAM_EMAIL", "STAFF",
           "StaffIdpSandboxSettings", "build_app"]
