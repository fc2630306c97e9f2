"""Failed deliveries, listed and given another round of attempts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from chalicelib.domain.deliveries import MAX_WRITE_RACES, dead_letter_of
from chalicelib.domain.errors import NotFound
from chalicelib.domain.notifications import NotificationService
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus
from chalicelib.models.stored import DeadLetter
from chalicelib.ports import Clock, DeadLetterStore, NotificationStore, Page, VersionConflict


class DeadLetterService:
    def __init__(
        self,
        *,
        dead_letters: DeadLetterStore,
        notifications: NotificationStore,
        announcer: NotificationService,
        clock: Clock,
        sweep_grace: timedelta,
    ) -> None:
        self._dead_letters = dead_letters
        self._notifications = notifications
        self._announcer = announcer
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
        """Gives the notification's failed deliveries a fresh attempt budget; delivered ones
        are never sent again. Returns how many deliveries were retried."""
        for _ in range(MAX_WRITE_RACES):
            notification = self._notifications.get_notification(tenant_id, notification_id)
            if notification is None:
                raise NotFound("notification")
            failed = [
                delivery
                for delivery in notification.deliveries
                if delivery.status is DeliveryStatus.FAILED
                and (channel is None or delivery.channel is channel)
                and (recipient_id is None or delivery.recipient_id == recipient_id)
            ]
            if not failed:
                return 0
            cleared = [dead_letter_of(notification, delivery) for delivery in failed]
            now = self._clock.now()
            for delivery in failed:
                delivery.status = DeliveryStatus.PENDING
                delivery.budget_attempts = 0
                delivery.failed_at = None
                delivery.next_attempt_at = None
                delivery.lease_token = None
                delivery.lease_until = None
            notification.status = NotificationStatus.PROCESSING
            notification.sweeps = 0
            notification.sweep_at = now + self._grace
            try:
                self._notifications.save_notification(notification, remove_dead_letters=cleared)
            except VersionConflict:
                continue
            self._announcer.publish(notification)
            return len(failed)
        raise VersionConflict(f"notification {notification_id}: too many concurrent writers")

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
