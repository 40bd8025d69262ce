"""Tokens at rest: AES-256-GCM, each ciphertext naming its key id and bound to the row it belongs to.

`seal(plain, context)` → "v1.<key id>.<base64url(nonce | ciphertext+tag)>"; `context` (e.g.
"grant:g-1:refresh") is the AEAD associated data, so a ciphertext copied into another row or column
fails to open. Keys rotate without downtime: add a new key, make it active, and `needs_rewrap` finds
rows still sealed under an old key for the keep-alive to re-seal; remove the old key after that.
"""

import base64
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class UndecryptableToken(Exception):
    """Wrong row, tampered, or sealed under a key this instance does not have."""


class TokenCipher:
    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        bad = [k for k in keys if not _KEY_ID.match(k)]
        if bad or active_key_id not in keys or any(len(v) != 32 for v in keys.values()):
            raise ValueError("token keys need ids [A-Za-z0-9_-] and 32-byte values, including the active one")
        self._keys = {key_id: AESGCM(raw) for key_id, raw in keys.items()}
        self.active_key_id = active_key_id

    @classmethod
    def from_base64(cls, keys: dict[str, str], active_key_id: str) -> "TokenCipher":
        return cls({k: base64.b64decode(v) for k, v in keys.items()}, active_key_id)

    def seal(self, plain: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.active_key_id].encrypt(nonce, plain.encode(), context.encode())
        return f"{_VERSION}.{self.active_key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, context: str) -> str:
        try:
            version, key_id, body = sealed.split(".", 2)
            key = self._keys[key_id]
            raw = base64.urlsafe_b64decode(body)
            if version != _VERSION:
                raise ValueError(version)
            return key.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, KeyError, InvalidTag) as error:
            raise UndecryptableToken(f"cannot open token sealed for {context}: {type(error).__name__}") from None

    def needs_rewrap(self, sealed: str) -> bool:
        return not sealed.startswith(f"{_VERSION}.{self.active_key_id}.")
