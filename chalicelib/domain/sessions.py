"""Console sessions: an API key exchanged for a signed, expiring session.

The cookie reads ``{key prefix}.{session id}.{expiry, epoch s}.{signature}``; the signature is
an HMAC-SHA256 keyed by the stored hash of the API key's secret (known to the server only), so
a session is good only while its key exists: revoking the key ends every session opened with
it. Signing out deletes the session's record, so the old cookie is refused even before it
expires. The CSRF token of a session is derived from it the same way (nothing more to store).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.console_ports import SessionStore
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.keys import secret_matches, split_api_key
from chalicelib.models.stored import ApiKeyRecord, ConsoleSession
from chalicelib.ports import Clock, TenantStore


@dataclass(frozen=True)
class Session:
    tenant: str
    key_prefix: str
    expires_at: datetime
    csrf_token: str


@dataclass(frozen=True)
class SignedIn:
    cookie: str
    session: Session


def _mac(key_hash: str, message: str) -> str:
    digest = hmac.new(key_hash.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionService:
    def __init__(
        self, *, tenants: TenantStore, sessions: SessionStore, clock: Clock, ttl: timedelta
    ) -> None:
        self._tenants = tenants
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    def sign_in(self, api_key: str) -> SignedIn:
        """Unauthorized for a malformed, unknown or revoked key."""
        parts = split_api_key(api_key.strip())
        if parts is None:
            raise Unauthorized("unknown API key")
        prefix, secret = parts
        record = self._tenants.get_api_key(prefix)
        if record is None or not secret_matches(secret, record.key_hash):
            raise Unauthorized("unknown API key")
        now = self._clock.now()
        session_id = secrets.token_urlsafe(32)
        expires = int((now + self._ttl).timestamp())
        self._sessions.put_session(
            ConsoleSession(
                session_hash=_hash(session_id),
                tenant=record.tenant,
                key_prefix=prefix,
                created_at=now,
                expires_at=datetime.fromtimestamp(expires, UTC),
            )
        )
        signed = f"{prefix}.{session_id}.{expires}"
        cookie = f"{signed}.{_mac(record.key_hash, signed)}"
        return SignedIn(cookie=cookie, session=self._session(record, session_id, expires))

    def resolve(self, cookie: str | None) -> Session:
        """The session a cookie names; Unauthorized when it is malformed, forged, expired,
        signed out, or its key is revoked."""
        record, session_id, expires = self._verified(cookie)
        stored = self._sessions.get_session(_hash(session_id))
        if stored is None or stored.tenant != record.tenant:
            raise Unauthorized("signed out")
        return self._session(record, session_id, expires)

    def sign_out(self, cookie: str | None) -> None:
        try:
            _, session_id, _ = self._verified(cookie)
        except Unauthorized:
            return
        self._sessions.delete_session(_hash(session_id))

    def _verified(self, cookie: str | None) -> tuple[ApiKeyRecord, str, int]:
        parts = (cookie or "").split(".")
        if len(parts) != 4 or not parts[2].isdigit():
            raise Unauthorized("no session")
        prefix, session_id, expires_text, signature = parts
        expires = int(expires_text)
        if expires <= self._clock.now().timestamp():
            raise Unauthorized("session expired")
        record = self._tenants.get_api_key(prefix)
        if record is None:
            raise Unauthorized("the session's API key was revoked")
        expected = _mac(record.key_hash, f"{prefix}.{session_id}.{expires_text}")
        if not hmac.compare_digest(expected, signature):
            raise Unauthorized("bad session signature")
        return record, session_id, expires

    @staticmethod
    def _session(record: ApiKeyRecord, session_id: str, expires: int) -> Session:
        return Session(
            tenant=record.tenant,
            key_prefix=record.prefix,
            expires_at=datetime.fromtimestamp(expires, UTC),
            csrf_token=_mac(record.key_hash, f"csrf.{session_id}"),
        )

    @staticmethod
    def csrf_ok(session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(session.csrf_token, token)
