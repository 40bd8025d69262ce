"""RS256 signing key, JWKS and the access/id tokens, with the claims Xero puts in real tokens."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from sandboxes.xero.clock import Clock
from sandboxes.xero.domain import Grant


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """Like IdentityServer: kid is the certificate's SHA-1 thumbprint in hex, x5t the same in base64url."""

    def __init__(self, issuer: str, clock: Clock, private_pem: str | None = None) -> None:
        self.issuer, self.clock = issuer.rstrip("/"), clock
        private = (serialization.load_pem_private_key(private_pem.encode(), password=None) if private_pem
                   else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "identity.xero.sandbox")])
        start = datetime.now(timezone.utc) - timedelta(days=1)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(private.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
                .sign(private, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        thumb = hashlib.sha1(der).digest()
        self.kid, self.x5t = thumb.hex().upper(), _b64url(thumb)
        self.x5c = base64.b64encode(der).decode()
        self.key = RSAKey.import_key(private, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"})

    @property
    def audience(self) -> str:
        return f"{self.issuer}/resources"

    def jwks(self) -> dict:
        public = self.key.as_dict(private=False)
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.x5t, "e": public["e"],
                          "n": public["n"], "x5c": [self.x5c], "alg": "RS256"}]}

    def _sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT", "x5t": self.x5t}
        return jwt.encode(header, claims, self.key)

    def access_token(self, grant: Grant, user: dict, scopes: list[str], lifetime: int) -> str:
        now = int(self.clock.timestamp())
        session = grant.session
        return self._sign({
            "nbf": now, "exp": now + lifetime, "iss": self.issuer, "aud": self.audience,
            "client_id": grant.client_id, "sub": grant.sub, "auth_time": int(session.auth_time.timestamp()),
            "idp": "local", "xero_userid": user["xero_userid"], "global_session_id": session.global_session_id,
            "sid": session.sid, "jti": uuid.uuid4().hex.upper(), "authentication_event_id": grant.auth_event_id,
            "scope": list(scopes), "amr": ["pwd"],
        })

    def id_token(self, grant: Grant, user: dict, scopes: list[str], access_token: str) -> str:
        now = int(self.clock.timestamp())
        digest = hashlib.sha256(access_token.encode()).digest()
        session = grant.session
        claims = {
            "nbf": now, "exp": now + 300, "iss": self.issuer, "aud": grant.client_id, "iat": now,
            "at_hash": _b64url(digest[:16]), "sid": session.sid, "sub": grant.sub,
            "auth_time": int(session.auth_time.timestamp()), "idp": "local",
            "xero_userid": user["xero_userid"], "global_session_id": session.global_session_id,
            "amr": ["pwd"],
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        claims.update(profile_claims(user, scopes))
        return self._sign(claims)

    def verify(self, token: str) -> tuple[dict | None, str | None]:
        """(claims, None) when valid now on the sandbox clock; (None, reason) otherwise."""
        try:
            decoded = jwt.decode(token, self.key, algorithms=["RS256"])
        except (JoseError, ValueError, TypeError):
            return None, "AuthorizationUnsuccessful"
        claims, now = decoded.claims, self.clock.timestamp()
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
