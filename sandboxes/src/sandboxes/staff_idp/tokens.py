"""The ID token and the userinfo answer: the claims a company IdP (Entra ID, Okta, Keycloak) sends for a staff
member, with app roles in `roles`."""

from __future__ import annotations

from sandboxes.signing import RsaSigner, token_hash
from sandboxes.staff_idp.demo_data import StaffMember
from sandboxes.staff_idp.state import Grant


def user_claims(member: StaffMember, scopes: tuple[str, ...]) -> dict:
    """Scope-to-claim mapping of OIDC Core §5.4; `roles` always, as Entra ID sends assigned app roles."""
    claims: dict = {"sub": member.sub}
    if "profile" in scopes:
        claims.update(name=member.name, preferred_username=member.email)
    if "email" in scopes:
        claims.update(email=member.email, email_verified=True)
    claims["roles"] = list(member.roles)
    return claims


def id_token(signer: RsaSigner, issuer: str, grant: Grant, member: StaffMember, access_token: str, *, now: int,
             lifetime: int) -> str:
    request = grant.request
    claims = {"iss": issuer, "aud": request.client_id, "exp": now + lifetime, "iat": now,
              "auth_time": grant.auth_time, "at_hash": token_hash(access_token), "sid": grant.sid, "amr": ["pwd"],
              **user_claims(member, request.scopes)}
    if request.nonce is not None:
        claims["nonce"] = request.nonce
    return signer.sign(claims)
