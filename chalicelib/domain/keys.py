"""API keys and webhook signing secrets.

A key reads ``tsn_<12 hex>.<secret>``: the part before the dot is a non-secret prefix (shown in
listings and logs, used to revoke); only a SHA-256 of the secret part is stored. The secret has
256 bits of entropy, so a fast hash is enough, and comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX_PATTERN = re.compile(r"^tsn_[0-9a-f]{12}$")
_KEY_PATTERN = re.compile(r"^(tsn_[0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})$")


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> NewKey:
    prefix = "tsn_" + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewKey(plaintext=f"{prefix}.{secret}", prefix=prefix, key_hash=hash_secret(secret))


def split_api_key(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    match = _KEY_PATTERN.fullmatch(key)
    if match is None:
        return None
    return match.group(1), match.group(2)


def secret_matches(secret: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), key_hash)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
