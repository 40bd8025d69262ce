"""RS256 signing key, JWKS and the access/id tokens, with the claims Xero puts in real tokens."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sandboxes.signing import RsaSigner, token_hash
from sandboxes.xero.clock import Clock
from sandboxes.xero.domain import Grant


class Signer(RsaSigner):
    """Like IdentityServer: kid is the certificate's SHA-1 thumbprint in hex, x5t the same in base64url."""

    def __init__(self, issuer: str, clock: Clock, private_pem: str | None = None) -> None:
        super().__init__("identity.xero.sandbox", private_pem)
        self.issuer, self.clock = issuer.rstrip("/"), clock

    @property
    def audience(self) -> str:
        return f"{self.issuer}/resources"

    def access_token(self, grant: Grant, user: dict, scopes: list[str], lifetime: int) -> str:
        now = int(self.clock.timestamp())
        session = grant.session
        return self.sign({
            "nbf": now, "exp": now + lifetime, "iss": self.issuer, "aud": self.audience,
            "client_id": grant.client_id, "sub": grant.sub, "auth_time": int(session.auth_time.timestamp()),
            "idp": "local", "xero_userid": user["xero_userid"], "global_session_id": session.global_session_id,
            "sid": session.sid, "jti": uuid.uuid4().hex.upper(), "authentication_event_id": grant.auth_event_id,
            "scope": list(scopes), "amr": ["pwd"],
        })

    def id_token(self, grant: Grant, user: dict, scopes: list[str], access_token: str) -> str:
        now = int(self.clock.timestamp())
        session = grant.session
        claims = {
            "nbf": now, "exp": now + 300, "iss": self.issuer, "aud": grant.client_id, "iat": now,
            "at_hash": token_hash(access_token), "sid": session.sid, "sub": grant.sub,
            "auth_time": int(session.auth_time.timestamp()), "idp": "local",
            "xero_userid": user["xero_userid"], "global_session_id": session.global_session_id,
            "amr": ["pwd"],
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        claims.update(profile_claims(user, scopes))
        return self.sign(claims)

    def verify(self, token: str) -> tuple[dict | None, str | None]:
        """(claims, None) when valid now on the sandbox clock; (None, reason) otherwise."""
        claims = self.decode(token)
        if claims is None:
            return None, "AuthorizationUnsuccessful"
        now = self.clock.timestamp()
        if claims.get("iss") != self.issuer or claims.get("aud") != self.audience:
            return None, "AuthorizationUnsuccessful"
        if not isinstance(claims.get("exp"), int) or now >= claims["exp"]:
            expired = datetime.fromtimestamp(claims.get("exp") or 0, timezone.utc)
            return None, f"TokenExpired: token expired at {expired:%m/%d/%Y %H:%M:%S}"
        if now < claims.get("nbf", 0) - 300:
            return None, "AuthorizationUnsuccessful"
        return claims, None


def profile_claims(user: dict, scopes: list[str]) -> dict:
    """OIDC scope-to-claim mapping: profile gives names, email gives email."""
    out: dict = {}
    if "profile" in scopes or "email" in scopes:
        out["preferred_username"] = user["email"]
    if "email" in scopes:
        out["email"] = user["email"]
    if "profile" in scopes:
        out.update(given_name=user["given_name"], family_name=user["family_name"])
    return out
