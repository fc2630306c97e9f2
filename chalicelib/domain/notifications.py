"""Accepting a notification: who gets it on which channel, and what its status is.

A notification to one recipient is stored with its deliveries in one write and announced on
the notifications topic, which feeds each channel's queue. A notification to a topic is stored
alone and announced to the fan-out queue, which expands it into deliveries a page at a time.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from chalicelib.domain.errors import Conflict, Invalid, NotFound
from chalicelib.domain.planning import QUEUED_CHANNELS, default_channels, plan_deliveries
from chalicelib.domain.status import status_of
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus
from chalicelib.models.messages import DeliveryMessage, FanoutMessage
from chalicelib.models.stored import (
    Content,
    Counts,
    Delivery,
    Fanout,
    IdempotencyRecord,
    Notification,
)
from chalicelib.ports import (
    Clock,
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


def counts_of(deliveries: list[Delivery]) -> Counts:
    counts = Counts()
    for delivery in deliveries:
        status = delivery.status.value
        setattr(counts, status, getattr(counts, status) + 1)
    return counts


def delivery_message(notification: Notification, recipient_id: str) -> DeliveryMessage:
    return DeliveryMessage(
        tenant_id=notification.tenant_id,
        notification_id=notification.id,
        recipient_id=recipient_id,
        created_at=notification.created_at.isoformat(),
        topic=notification.topic,
        content=notification.content,
    )


@dataclass(frozen=True)
class SendNotification:
    """A request to notify one recipient, or a topic's subscribers."""

    content: Content
    recipient_id: str | None = None
    topic: str | None = None
    channels: list[Channel] | None = None
    idempotency_key: str | None = None
    # Equal for two requests that mean the same (see request_fingerprint).
    fingerprint: str = ""


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
        enabled_channels: frozenset[Channel],
        idempotency_window: timedelta,
        sweep_grace: timedelta,
    ) -> None:
        self._notifications = notifications
        self._recipients = recipients
        self._publisher = publisher
        self._clock = clock
        self._enabled = enabled_channels
        self._idempotency_window = idempotency_window
        self._sweep_grace = sweep_grace

    def accept(self, tenant_id: str, command: SendNotification) -> Accepted:
        key = command.idempotency_key
        now = self._clock.now()
        if key is not None:
            earlier = self._notifications.get_idempotency(tenant_id, key)
            if earlier is not None and earlier.expires_at > now:
                return self._replay(earlier, command.fingerprint)
        notification, deliveries = self._build(tenant_id, command, now)
        record = None
        if key is not None:
            record = IdempotencyRecord(
                tenant_id=tenant_id,
                key=key,
                body_hash=command.fingerprint,
                notification_id=notification.id,
                expires_at=now + self._idempotency_window,
            )
        try:
            self._notifications.create_notification(notification, deliveries, record)
        except IdempotencyKeyTaken:
            assert key is not None
            winner = self._notifications.get_idempotency(tenant_id, key)
            if winner is None:
                raise
            return self._replay(winner, command.fingerprint)
        self.announce(notification, deliveries)
        return Accepted(notification, created=True)

    def announce(self, notification: Notification, deliveries: list[Delivery]) -> bool:
        """Puts the notification's due work on its way. A failure here loses nothing: what is
        stored is found by the sweeper once its grace has passed."""
        try:
            if notification.fanout is not None:
                self._publisher.start_fanout(
                    FanoutMessage(tenant_id=notification.tenant_id, notification_id=notification.id)
                )
                return True
            due = [
                delivery.channel
                for delivery in deliveries
                if delivery.status is DeliveryStatus.PENDING and delivery.channel in QUEUED_CHANNELS
            ]
            if due and notification.recipient_id is not None:
                self._publisher.announce(
                    delivery_message(notification, notification.recipient_id), due
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
        topic: str | None = None,
    ) -> Page[Notification]:
        """``topic``: only notifications sent to that exact topic."""

        def wanted(item: Notification) -> bool:
            return (status is None or status_of(item) is status) and (
                topic is None or item.topic == topic
            )

        keep = None if status is None and topic is None else wanted
        return self._notifications.list_notifications(
            tenant_id, recipient_id=recipient_id, keep=keep, limit=limit, cursor=cursor
        )

    def deliveries(
        self,
        tenant_id: str,
        notification_id: str,
        *,
        status: DeliveryStatus | None,
        channel: Channel | None,
        recipient_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        self.get(tenant_id, notification_id)

        def wanted(delivery: Delivery) -> bool:
            return (
                (status is None or delivery.status is status)
                and (channel is None or delivery.channel is channel)
                and (recipient_id is None or delivery.recipient_id == recipient_id)
            )

        filtered = status is not None or channel is not None or recipient_id is not None
        return self._notifications.list_deliveries(
            tenant_id,
            notification_id,
            keep=wanted if filtered else None,
            limit=limit,
            cursor=cursor,
        )

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
        self, tenant_id: str, command: SendNotification, now: datetime
    ) -> tuple[Notification, builtins.list[Delivery]]:
        notification_id = new_notification_id(now)
        notification = Notification(
            tenant_id=tenant_id,
            id=notification_id,
            created_at=now,
            recipient_id=command.recipient_id,
            topic=command.topic,
            channels=command.channels,
            content=command.content,
            idempotency_key=command.idempotency_key,
        )
        if command.topic is not None:
            notification.fanout = Fanout()
            notification.sweep_at = now + self._sweep_grace
            return notification, []
        assert command.recipient_id is not None
        recipient = self._recipients.get_recipient(tenant_id, command.recipient_id)
        if recipient is None:
            raise Invalid(["recipient_id"], "no recipient with this id")
        deliveries = plan_deliveries(
            tenant_id=tenant_id,
            notification_id=notification_id,
            created_at=now,
            recipient=recipient,
            channels=command.channels or default_channels(recipient),
            enabled=self._enabled,
            topic=False,
            now=now,
        )
        for delivery in deliveries:
            delivery.inline = True
            if not delivery.status.is_final:
                delivery.sweep_at = now + self._sweep_grace
        notification.deliveries = deliveries
        notification.counts = counts_of(deliveries)
        notification.recipients = 1
        return notification, deliveries
