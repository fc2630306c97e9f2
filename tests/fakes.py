"""One fake per port, for unit tests of the domain (no AWS, no network, no sleeps)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
from chalicelib.ports import IdempotencyKeyTaken, Page, PublishFailed, SendOutcome, VersionConflict


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


class FakeStore:
    """Every store port in memory, with the same optimistic concurrency as the DynamoDB one."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.keys: dict[str, ApiKeyRecord] = {}
        self.recipients: dict[tuple[str, str], Recipient] = {}
        self.notifications: dict[tuple[str, str], Notification] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.inbox: dict[tuple[str, str, str], InboxItem] = {}
        self.dead_letters: dict[tuple[str, str, str, str], DeadLetter] = {}
        # Called before a save commits: lets a test interleave a concurrent writer.
        self.before_save: list[object] = []

    def get_tenant(self, name: str) -> Tenant | None:
        return self.tenants.get(name)

    def create_tenant(self, tenant: Tenant) -> Tenant:
        return self.tenants.setdefault(tenant.name, tenant)

    def put_api_key(self, record: ApiKeyRecord) -> None:
        self.keys[record.prefix] = record

    def get_api_key(self, prefix: str) -> ApiKeyRecord | None:
        return self.keys.get(prefix)

    def delete_api_key(self, prefix: str) -> bool:
        return self.keys.pop(prefix, None) is not None

    def get_recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None:
        return self.recipients.get((tenant_id, recipient_id))

    def put_recipient(self, recipient: Recipient) -> None:
        self.recipients[(recipient.tenant_id, recipient.recipient_id)] = recipient

    def delete_recipient(self, tenant_id: str, recipient_id: str) -> bool:
        return self.recipients.pop((tenant_id, recipient_id), None) is not None

    def create_notification(
        self, notification: Notification, idempotency: IdempotencyRecord | None
    ) -> None:
        if idempotency is not None:
            key = (idempotency.tenant_id, idempotency.key)
            existing = self.idempotency.get(key)
            if existing is not None and existing.expires_at > notification.created_at:
                raise IdempotencyKeyTaken(idempotency.key)
            self.idempotency[key] = idempotency
        notification.version = 1
        self.notifications[(notification.tenant_id, notification.id)] = copy.deepcopy(notification)

    def get_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        return self.idempotency.get((tenant_id, key))

    def get_notification(self, tenant_id: str, notification_id: str) -> Notification | None:
        stored = self.notifications.get((tenant_id, notification_id))
        return copy.deepcopy(stored)

    def save_notification(
        self,
        notification: Notification,
        *,
        add_dead_letters: Sequence[DeadLetter] = (),
        remove_dead_letters: Sequence[DeadLetter] = (),
    ) -> None:
        while self.before_save:
            hook = self.before_save.pop(0)
            assert callable(hook)
            hook()
        key = (notification.tenant_id, notification.id)
        if self.notifications[key].version != notification.version:
            raise VersionConflict(notification.id)
        notification.version += 1
        self.notifications[key] = copy.deepcopy(notification)
        for letter in add_dead_letters:
            self.dead_letters[self._letter_key(letter)] = letter
        for letter in remove_dead_letters:
            self.dead_letters.pop(self._letter_key(letter), None)

    @staticmethod
    def _letter_key(letter: DeadLetter) -> tuple[str, str, str, str]:
        return (letter.tenant_id, letter.notification_id, letter.channel.value, letter.recipient_id)

    def list_notifications(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        status: NotificationStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Notification]:
        items = sorted(
            (
                n
                for (tenant, _), n in self.notifications.items()
                if tenant == tenant_id
                and (recipient_id is None or n.recipient_id == recipient_id)
                and (status is None or n.status is status)
            ),
            key=lambda n: n.id,
            reverse=True,
        )
        start = int(cursor) if cursor else 0
        page = items[start : start + limit]
        more = start + limit < len(items)
        return Page(page, str(start + limit) if more else None)

    def due_for_sweep(self, now: datetime, limit: int) -> list[Notification]:
        due = [
            copy.deepcopy(n)
            for n in self.notifications.values()
            if n.sweep_at is not None and n.sweep_at <= now
        ]
        return due[:limit]

    def put_inbox_item(self, item: InboxItem) -> None:
        self.inbox.setdefault((item.tenant_id, item.recipient_id, item.notification_id), item)

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
        items = sorted(
            (
                i
                for (t, r, n), i in self.inbox.items()
                if t == tenant_id
                and r == recipient_id
                and n >= since_id
                and (not unread_only or i.read_at is None)
            ),
            key=lambda i: i.notification_id,
            reverse=True,
        )
        return Page(items[:limit], None)

    def mark_read(
        self, tenant_id: str, recipient_id: str, notification_id: str, at: datetime
    ) -> bool:
        item = self.inbox.get((tenant_id, recipient_id, notification_id))
        if item is None:
            return False
        item.read_at = item.read_at or at
        return True

    def list_dead_letters(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[DeadLetter]:
        items = sorted(
            (dl for dl in self.dead_letters.values() if dl.tenant_id == tenant_id),
            key=lambda dl: dl.failed_at,
            reverse=True,
        )
        start = int(cursor) if cursor else 0
        more = start + limit < len(items)
        return Page(items[start : start + limit], str(start + limit) if more else None)

    def table_reachable(self) -> bool:
        return True


@dataclass
class FakePublisher:
    events: list[NotificationEvent] = field(default_factory=list)
    dead: list[DeadLetterMessage] = field(default_factory=list)
    failing: bool = False

    def publish(self, event: NotificationEvent) -> None:
        if self.failing:
            raise PublishFailed("SNS is down")
        self.events.append(event)

    def dead_letter(self, message: DeadLetterMessage) -> None:
        self.dead.append(message)


class ScriptedSender:
    """A channel whose answers are scripted; records every attempt."""

    def __init__(self, channel: Channel, *outcomes: SendOutcome) -> None:
        self.channel = channel
        self._outcomes = list(outcomes)
        self.sent: list[tuple[str, str | None]] = []
        self.during_send: list[object] = []

    def send(self, notification: Notification, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        self.sent.append((notification.id, delivery.webhook_id))
        while self.during_send:
            hook = self.during_send.pop(0)
            assert callable(hook)
            hook()
        return self._outcomes.pop(0) if self._outcomes else SendOutcome.ok()


class Crash(BaseException):
    """Stands for the process dying at a crash point."""


@dataclass
class FakeFaults:
    crash_at: set[str] = field(default_factory=set)
    publish_failures: int = 0
    witnessed: list[tuple[str, str]] = field(default_factory=list)

    def witness(self, event: str, subject: str) -> None:
        self.witnessed.append((event, subject))

    def crash_point(self, point: str, subject: str) -> None:
        if point in self.crash_at:
            self.crash_at.discard(point)
            raise Crash(point)

    def publish_fails(self, subject: str) -> bool:
        if self.publish_failures:
            self.publish_failures -= 1
            return True
        return False
