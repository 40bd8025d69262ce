"""An RS256 signing key with its JWKS, shared by the sandboxes that issue tokens (Xero, the staff identity provider).

Published the way IdentityServer and Entra ID publish theirs: a self-signed certificate in `x5c`, `kid` its SHA-1
thumbprint in hex, `x5t` the same in base64url, so clients that read either field find the key.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_hash(value: str) -> str:
    """OIDC at_hash / c_hash for RS256: base64url of the left half of the value's SHA-256."""
    return b64url(hashlib.sha256(value.encode()).digest()[:16])


class RsaSigner:
    """One RS256 key; a fresh 2048-bit one unless a PEM private key is given (so restarts can keep tokens valid)."""

    def __init__(self, common_name: str, private_pem: str | None = None) -> None:
        private = (serialization.load_pem_private_key(private_pem.encode(), password=None) if private_pem
                   else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        start = datetime.now(timezone.utc) - timedelta(days=1)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(private.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
                .sign(private, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        thumb = hashlib.sha1(der).digest()  # noqa: S324 - the x5t thumbprint is SHA-1 by definition (RFC 7517)
        self.kid, self.x5t = thumb.hex().upper(), b64url(thumb)
        self.x5c = base64.b64encode(der).decode()
        self.key = RSAKey.import_key(private, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"})

    def jwks(self) -> dict:
        public = self.key.as_dict(private=False)
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.x5t, "e": public["e"],
                          "n": public["n"], "x5c": [self.x5c], "alg": "RS256"}]}

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT", "x5t": self.x5t}
        return jwt.encode(header, claims, self.key)

    def decode(self, token: str) -> dict | None:
        """The claims when the signature is this key's (RS256 only); None otherwise. Times are the caller's."""
        try:
            return dict(jwt.decode(token, self.key, algorithms=["RS256"]).claims)
        except (JoseError, ValueError, TypeError):
            return None
