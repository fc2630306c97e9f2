"""Accepting a notification: who gets it on which channel, and what its status is."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from chalicelib.domain.errors import Conflict, Invalid, NotFound
from chalicelib.models.api import NotificationIn
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Severity
from chalicelib.models.messages import NotificationEvent
from chalicelib.models.stored import Delivery, IdempotencyRecord, Notification, Recipient
from chalicelib.ports import (
    Clock,
    FaultInjector,
    IdempotencyKeyTaken,
    NotificationStore,
    Page,
    Publisher,
    PublishFailed,
    RecipientStore,
)


def new_notification_id(now: datetime) -> str:
    """A ULID: lexicographic order is creation order (to the millisecond)."""
    return str(ULID.from_datetime(now))


def first_id_at(moment: datetime) -> str:
    """The smallest notification id of ``moment``'s millisecond: every id made at or after it
    sorts at or after this one."""
    return str(ULID.from_datetime(moment))[:10] + "0" * 16


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """Equal for bodies that are the same JSON once parsed, whatever the key order or spacing;
    the idempotency key itself is not part of it."""
    canonical = {key: value for key, value in body.items() if key != "idempotency_key"}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _address_for(channel: Channel, recipient: Recipient) -> tuple[str | None, str | None]:
    """(address, reason it is missing) of a recipient on a channel."""
    match channel:
        case Channel.WEBHOOK:
            return recipient.webhook_url, "recipient has no webhook_url"
        case Channel.EMAIL:
            return recipient.email, "recipient has no email"
        case Channel.SMS:
            return recipient.phone, "recipient has no phone"
        case Channel.INBOX:
            return recipient.recipient_id, None


def default_channels(recipient: Recipient) -> list[Channel]:
    channels = [
        channel
        for channel in (Channel.WEBHOOK, Channel.EMAIL, Channel.SMS)
        if _address_for(channel, recipient)[0] is not None
    ]
    return [*channels, Channel.INBOX]


def plan_deliveries(
    notification_id: str,
    recipient: Recipient,
    channels: Iterable[Channel],
    enabled: frozenset[Channel],
) -> list[Delivery]:
    deliveries = []
    for channel in channels:
        address, missing = _address_for(channel, recipient)
        delivery = Delivery(channel=channel, recipient_id=recipient.recipient_id, address=address)
        if channel not in enabled:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.last_error = f"channel {channel.value} is not enabled in this deployment"
        elif address is None:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.last_error = missing
        if channel is Channel.WEBHOOK:
            delivery.webhook_id = f"msg_{notification_id}"
        deliveries.append(delivery)
    return deliveries


def summarize(notification: Notification) -> NotificationStatus:
    """The notification's status as its deliveries make it."""
    statuses = [delivery.status for delivery in notification.deliveries]
    if not all(status.is_final for status in statuses):
        started = notification.status is not NotificationStatus.ACCEPTED or any(
            delivery.attempts or delivery.lease_token for delivery in notification.deliveries
        )
        return NotificationStatus.PROCESSING if started else NotificationStatus.ACCEPTED
    delivered = DeliveryStatus.DELIVERED in statuses
    failed = DeliveryStatus.FAILED in statuses
    if delivered and failed:
        return NotificationStatus.PARTIALLY_DELIVERED
    if delivered:
        return NotificationStatus.DELIVERED
    if failed:
        return NotificationStatus.FAILED
    return NotificationStatus.SKIPPED


@dataclass(frozen=True)
class Accepted:
    notification: Notification
    # False when an idempotent replay returned an earlier notification.
    created: bool


class NotificationService:
    def __init__(
        self,
        *,
        notifications: NotificationStore,
        recipients: RecipientStore,
        publisher: Publisher,
        clock: Clock,
        faults: FaultInjector,
        enabled_channels: frozenset[Channel],
        idempotency_window: timedelta,
        sweep_grace: timedelta,
    ) -> None:
        self._notifications = notifications
        self._recipients = recipients
        self._publisher = publisher
        self._clock = clock
        self._faults = faults
        self._enabled = enabled_channels
        self._idempotency_window = idempotency_window
        self._sweep_grace = sweep_grace

    def accept(
        self,
        tenant_id: str,
        request: NotificationIn,
        *,
        fingerprint: str,
        header_key: str | None,
    ) -> Accepted:
        key = self._idempotency_key(request, header_key)
        now = self._clock.now()
        if key is not None:
            earlier = self._notifications.get_idempotency(tenant_id, key)
            if earlier is not None and earlier.expires_at > now:
                return self._replay(earlier, fingerprint)
        notification = self._build(tenant_id, request, key, now)
        record = None
        if key is not None:
            record = IdempotencyRecord(
                tenant_id=tenant_id,
                key=key,
                body_hash=fingerprint,
                notification_id=notification.id,
                expires_at=now + self._idempotency_window,
            )
        try:
            self._notifications.create_notification(notification, record)
        except IdempotencyKeyTaken:
            assert key is not None
            winner = self._notifications.get_idempotency(tenant_id, key)
            if winner is None:
                raise
            return self._replay(winner, fingerprint)
        self.publish(notification)
        return Accepted(notification, created=True)

    def publish(self, notification: Notification) -> bool:
        """Announces the notification to the delivery pipeline. A failure here loses nothing:
        the notification is stored and the sweeper publishes it once its grace has passed."""
        try:
            if self._faults.publish_fails(notification.id):
                raise PublishFailed("injected fault: publish after write")
            self._publisher.publish(
                NotificationEvent(tenant_id=notification.tenant_id, notification_id=notification.id)
            )
        except PublishFailed:
            return False
        return True

    def get(self, tenant_id: str, notification_id: str) -> Notification:
        notification = self._notifications.get_notification(tenant_id, notification_id)
        if notification is None:
            raise NotFound("notification")
        return notification

    def list(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        status: NotificationStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Notification]:
        return self._notifications.list_notifications(
            tenant_id, recipient_id=recipient_id, status=status, limit=limit, cursor=cursor
        )

    @staticmethod
    def _idempotency_key(request: NotificationIn, header_key: str | None) -> str | None:
        if header_key is not None:
            if not 1 <= len(header_key) <= 128:
                raise Invalid(["header", "Idempotency-Key"], "must be 1 to 128 characters")
            if request.idempotency_key is not None and request.idempotency_key != header_key:
                raise Invalid(
                    ["header", "Idempotency-Key"],
                    "differs from the body's idempotency_key; give one, or both equal",
                )
            return header_key
        return request.idempotency_key

    def _replay(self, record: IdempotencyRecord, fingerprint: str) -> Accepted:
        if record.body_hash != fingerprint:
            raise Conflict(
                "this idempotency key was used with a different request body in the last 24 h"
            )
        notification = self._notifications.get_notification(
            record.tenant_id, record.notification_id
        )
        if notification is None:
            raise NotFound("notification")
        return Accepted(notification, created=False)

    def _build(
        self, tenant_id: str, request: NotificationIn, key: str | None, now: datetime
    ) -> Notification:
        if request.topic is not None:
            raise Invalid(["body", "topic"], "topics are not available yet; use recipient_id")
        assert request.recipient_id is not None
        recipient = self._recipients.get_recipient(tenant_id, request.recipient_id)
        if recipient is None:
            raise Invalid(["body", "recipient_id"], "no recipient with this id")
        notification_id = new_notification_id(now)
        channels = request.channels or default_channels(recipient)
        return Notification(
            tenant_id=tenant_id,
            id=notification_id,
            created_at=now,
            recipient_id=recipient.recipient_id,
            channels=channels,
            title=request.title,
            body=request.body,
            severity=request.severity or Severity.INFO,
            category=request.category,
            data=request.data,
            idempotency_key=key,
            deliveries=plan_deliveries(notification_id, recipient, channels, self._enabled),
            sweep_at=now + self._sweep_grace,
        )
