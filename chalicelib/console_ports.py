"""What the console needs from the store beyond the API's ports: its sessions, and listings
that only an operator's pages ask for (never on a delivery's path)."""

from __future__ import annotations

from typing import Protocol

from chalicelib.models.stored import ApiKeyRecord, ConsoleSession, Recipient
from chalicelib.ports import Page


class SessionStore(Protocol):
    def put_session(self, session: ConsoleSession) -> None: ...

    def get_session(self, session_hash: str) -> ConsoleSession | None: ...

    def delete_session(self, session_hash: str) -> None: ...


class KeyDirectory(Protocol):
    def list_api_keys(self, tenant_id: str) -> list[ApiKeyRecord]:
        """The tenant's keys (prefixes and dates only: the secrets are never stored)."""
        ...


class RecipientDirectory(Protocol):
    def list_recipients(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Recipient]:
        """By recipient id."""
        ...
