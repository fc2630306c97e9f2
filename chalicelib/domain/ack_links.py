"""Signed, expiring acknowledge links: what an alert's notifications carry as ``ack_url``.

A link names its tenant, its alert and its expiry in the clear, and carries an HMAC-SHA256 of
them under the tenant's own secret (made on first use and kept in the table: never in the
repository, never shown). HMAC from the standard library is the whole of it: a fixed text
signed and compared in constant time, no serialization format to parse before the check, and
no dependency for the Lambda bundle. A link is refused when its signature is wrong, when it
has expired, and (by the alert service) once its alert is resolved.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.errors import DomainError, NotFound
from chalicelib.ports import Clock

ACK_PATH = "/ack/"
# The token's shape, for the route's path parameter.
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{8,700}\.[A-Za-z0-9_-]{43}$"  # noqa: S105 (a shape, not a secret)


class LinkExpired(DomainError):
    pass


@dataclass(frozen=True)
class LinkTarget:
    tenant_id: str
    alert_id: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AckLinks:
    def __init__(
        self, *, signing_key: Callable[[str], bytes | None], clock: Clock, ttl: timedelta
    ) -> None:
        self._signing_key = signing_key
        self._clock = clock
        self._ttl = ttl

    def url(self, base_url: str | None, tenant_id: str, alert_id: str) -> str:
        return (base_url or "").rstrip("/") + ACK_PATH + self.token(tenant_id, alert_id)

    def token(self, tenant_id: str, alert_id: str) -> str:
        key = self._signing_key(tenant_id)
        if key is None:
            raise NotFound("tenant")
        expires = int((self._clock.now() + self._ttl).timestamp())
        claims = _b64(f"{tenant_id}\n{alert_id}\n{expires}".encode())
        return f"{claims}.{_b64(_sign(key, claims))}"

    def open(self, token: str) -> LinkTarget:
        """What a link names; NotFound for a link Tocsin did not sign, LinkExpired past its
        expiry."""
        claims, _, signature = token.partition(".")
        try:
            tenant_id, alert_id, expires = _unb64(claims).decode().split("\n")
            given = _unb64(signature)
            expiry = int(expires)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise NotFound("acknowledge link") from None
        key = self._signing_key(tenant_id)
        if key is None or not hmac.compare_digest(given, _sign(key, claims)):
            raise NotFound("acknowledge link")
        if self._clock.now().timestamp() >= expiry:
            raise LinkExpired("this acknowledge link has expired")
        return LinkTarget(tenant_id, alert_id)

    def expires_at(self, now: datetime) -> datetime:
        return now + self._ttl


def _sign(key: bytes, claims: str) -> bytes:
    return hmac.new(key, b"tocsin-ack-link\n" + claims.encode(), hashlib.sha256).digest()
