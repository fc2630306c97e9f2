"""Failed deliveries, listed and given another round of attempts."""

from __future__ import annotations

import builtins
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from chalicelib.domain.errors import NotFound
from chalicelib.domain.notifications import delivery_message
from chalicelib.models.common import Channel, DeliveryStatus
from chalicelib.models.stored import DeadLetter, Delivery
from chalicelib.ports import (
    Clock,
    DeadLetterStore,
    DeliveryStore,
    NotificationStore,
    Page,
    Publisher,
    PublishFailed,
)

# Deliveries reopened per store call.
REOPEN_CHUNK = 50


class DeadLetterService:
    def __init__(
        self,
        *,
        dead_letters: DeadLetterStore,
        deliveries: DeliveryStore,
        notifications: NotificationStore,
        publisher: Publisher,
        clock: Clock,
        sweep_grace: timedelta,
    ) -> None:
        self._dead_letters = dead_letters
        self._deliveries = deliveries
        self._notifications = notifications
        self._publisher = publisher
        self._clock = clock
        self._grace = sweep_grace

    def list(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[DeadLetter]:
        return self._dead_letters.list_dead_letters(tenant_id, limit=limit, cursor=cursor)

    def retry(
        self,
        tenant_id: str,
        notification_id: str,
        *,
        channel: Channel | None = None,
        recipient_id: str | None = None,
    ) -> int:
        """Gives the notification's failed deliveries a fresh attempt budget (the same
        ``webhook-id``); delivered ones are never sent again. Returns how many were retried."""
        notification = self._notifications.get_notification(tenant_id, notification_id)
        if notification is None:
            raise NotFound("notification")
        retried = 0
        chunk: list[Delivery] = []
        for delivery in self._failed(tenant_id, notification_id, channel, recipient_id):
            chunk.append(delivery)
            if len(chunk) == REOPEN_CHUNK:
                retried += self._reopen(chunk)
                chunk = []
        if chunk:
            retried += self._reopen(chunk)
        return retried

    def _reopen(self, failed: builtins.list[Delivery]) -> int:
        now = self._clock.now()
        reopened = self._deliveries.reopen(failed, now=now, sweep_at=now + self._grace)
        if not reopened:
            return 0
        first = reopened[0]
        notification = self._notifications.get_notification(first.tenant_id, first.notification_id)
        by_channel: dict[Channel, list[str]] = defaultdict(list)
        for delivery in reopened:
            by_channel[delivery.channel].append(delivery.recipient_id)
        if notification is not None:
            for channel, recipients in by_channel.items():
                # Reopened with a sweep time: should queueing fail, the sweeper queues them.
                with contextlib.suppress(PublishFailed):
                    self._publisher.enqueue(
                        channel, [delivery_message(notification, rid) for rid in recipients]
                    )
        return len(reopened)

    def _failed(
        self,
        tenant_id: str,
        notification_id: str,
        channel: Channel | None,
        recipient_id: str | None,
    ) -> Iterator[Delivery]:
        def wanted(delivery: Delivery) -> bool:
            return (
                delivery.status is DeliveryStatus.FAILED
                and (channel is None or delivery.channel is channel)
                and (recipient_id is None or delivery.recipient_id == recipient_id)
            )

        cursor = None
        while True:
            page = self._notifications.list_deliveries(
                tenant_id, notification_id, keep=wanted, limit=100, cursor=cursor
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def redrive(self, tenant_id: str, *, channel: Channel | None, recipient_id: str | None) -> int:
        """Retries every dead letter of the tenant that matches the filters."""
        targets = {
            letter.notification_id
            for letter in self._all(tenant_id)
            if (channel is None or letter.channel is channel)
            and (recipient_id is None or letter.recipient_id == recipient_id)
        }
        return sum(
            self.retry(tenant_id, notification_id, channel=channel, recipient_id=recipient_id)
            for notification_id in sorted(targets)
        )

    def _all(self, tenant_id: str) -> Iterator[DeadLetter]:
        cursor = None
        while True:
            page = self._dead_letters.list_dead_letters(tenant_id, limit=100, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
