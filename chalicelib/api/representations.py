"""Stored items as the API shows them."""

from __future__ import annotations

from chalicelib.models.api import (
    DeadLetterOut,
    DeliveryOut,
    InboxItemOut,
    NotificationOut,
    RecipientOut,
)
from chalicelib.models.stored import DeadLetter, InboxItem, Notification, Recipient


def recipient_out(recipient: Recipient) -> RecipientOut:
    return RecipientOut.model_validate(recipient.model_dump(exclude={"tenant_id"}))


def notification_out(notification: Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.id,
        status=notification.status,
        created_at=notification.created_at,
        recipient_id=notification.recipient_id,
        topic=notification.topic,
        channels=notification.channels,
        title=notification.title,
        body=notification.body,
        severity=notification.severity,
        category=notification.category,
        data=notification.data,
        idempotency_key=notification.idempotency_key,
        deliveries=[
            DeliveryOut(
                channel=delivery.channel,
                recipient_id=delivery.recipient_id,
                status=delivery.status,
                attempts=delivery.attempts,
                last_error=delivery.last_error,
                delivered_at=delivery.delivered_at,
                failed_at=delivery.failed_at,
                next_attempt_at=delivery.next_attempt_at if not delivery.status.is_final else None,
            )
            for delivery in notification.deliveries
        ],
    )


def inbox_item_out(item: InboxItem) -> InboxItemOut:
    return InboxItemOut.model_validate(item.model_dump(exclude={"tenant_id", "recipient_id"}))


def dead_letter_out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut.model_validate(letter.model_dump(exclude={"tenant_id"}))
