"""What the domain needs from the world. Adapters implement these; tests inject fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from chalicelib.models.common import Channel, NotificationStatus
from chalicelib.models.messages import DeadLetterMessage, NotificationEvent
from chalicelib.models.stored import (
    ApiKeyRecord,
    DeadLetter,
    Delivery,
    IdempotencyRecord,
    InboxItem,
    Notification,
    Recipient,
    Tenant,
)


class VersionConflict(Exception):
    """The item changed since it was read: read again and redo the change."""


class IdempotencyKeyTaken(Exception):
    """Another request created a notification under this idempotency key first."""


class InvalidCursor(Exception):
    """A pagination cursor that this list did not issue."""


class PublishFailed(Exception):
    """The notification event could not be published (the sweeper will publish it)."""


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class SendOutcome:
    """What one attempt of one delivery came to."""

    delivered: bool
    permanent: bool = False
    error: str | None = None
    # Seconds the receiver asked us to wait (Retry-After), when it did.
    retry_after: float | None = None

    @classmethod
    def ok(cls) -> SendOutcome:
        return cls(delivered=True)

    @classmethod
    def transient(cls, error: str, retry_after: float | None = None) -> SendOutcome:
        return cls(delivered=False, error=error, retry_after=retry_after)

    @classmethod
    def permanent_failure(cls, error: str) -> SendOutcome:
        return cls(delivered=False, permanent=True, error=error)


class Clock(Protocol):
    def now(self) -> datetime: ...


class TenantStore(Protocol):
    def get_tenant(self, name: str) -> Tenant | None: ...

    def create_tenant(self, tenant: Tenant) -> Tenant:
        """Stores the tenant unless it exists; returns the stored one either way."""
        ...

    def put_api_key(self, record: ApiKeyRecord) -> None: ...

    def get_api_key(self, prefix: str) -> ApiKeyRecord | None: ...

    def delete_api_key(self, prefix: str) -> bool: ...


class RecipientStore(Protocol):
    def get_recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None: ...

    def put_recipient(self, recipient: Recipient) -> None: ...

    def delete_recipient(self, tenant_id: str, recipient_id: str) -> bool: ...


class NotificationStore(Protocol):
    def create_notification(
        self, notification: Notification, idempotency: IdempotencyRecord | None
    ) -> None:
        """Raises IdempotencyKeyTaken when a live record already holds the key."""
        ...

    def get_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None: ...

    def get_notification(self, tenant_id: str, notification_id: str) -> Notification | None: ...

    def save_notification(
        self,
        notification: Notification,
        *,
        add_dead_letters: Sequence[DeadLetter] = (),
        remove_dead_letters: Sequence[DeadLetter] = (),
    ) -> None:
        """Writes the notification if its stored version is still ``notification.version``,
        then bumps the version; raises VersionConflict otherwise. Dead-letter entries change
        in the same transaction."""
        ...

    def list_notifications(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        status: NotificationStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Notification]: ...

    def due_for_sweep(self, now: datetime, limit: int) -> list[Notification]: ...


class InboxStore(Protocol):
    def put_inbox_item(self, item: InboxItem) -> None:
        """Idempotent: storing the same notification twice keeps the first (and its read_at)."""
        ...

    def list_inbox(
        self,
        tenant_id: str,
        recipient_id: str,
        *,
        since_id: str,
        unread_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[InboxItem]:
        """Items of notifications whose id sorts at or after ``since_id``, newest first."""
        ...

    def mark_read(
        self, tenant_id: str, recipient_id: str, notification_id: str, at: datetime
    ) -> bool:
        """False when the recipient has no such inbox item."""
        ...


class DeadLetterStore(Protocol):
    def list_dead_letters(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[DeadLetter]: ...


class HealthProbe(Protocol):
    def table_reachable(self) -> bool: ...


class Publisher(Protocol):
    def publish(self, event: NotificationEvent) -> None:
        """Raises PublishFailed."""
        ...

    def dead_letter(self, message: DeadLetterMessage) -> None: ...


class ChannelSender(Protocol):
    channel: Channel

    def send(self, notification: Notification, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        """One attempt. Never raises for a receiver's failure: it returns the outcome."""
        ...


class FaultInjector(Protocol):
    """Deliberate failures for the local stage's fault tests; a no-op everywhere else."""

    def crash_point(self, point: str, subject: str) -> None:
        """May end the process abruptly (as a Lambda crash would) at a named point."""
        ...

    def publish_fails(self, subject: str) -> bool: ...

    def witness(self, event: str, subject: str) -> None:
        """Writes down a step the fault tests account for: ``attempt`` (a send begins), and how
        it ended: ``failed``, ``recorded`` (a success stored), ``superseded`` (a success that
        another attempt had stored first). An attempt with no ending died on the way."""
        ...


@dataclass
class SenderRegistry:
    senders: dict[Channel, ChannelSender] = field(default_factory=dict)

    def get(self, channel: Channel) -> ChannelSender | None:
        return self.senders.get(channel)
