"""Stored items as the API shows them, and requests as the domain's commands."""

from __future__ import annotations

from chalicelib.domain.recipients import RecipientDetails
from chalicelib.domain.status import status_of
from chalicelib.domain.topics import SubscriptionDetails
from chalicelib.models.api import (
    AttemptOut,
    DeadLetterOut,
    DeliveryCountsOut,
    DeliveryOut,
    InboxItemOut,
    NotificationOut,
    RecipientIn,
    RecipientOut,
    SubscriberOut,
    SubscriptionIn,
    SubscriptionOut,
)
from chalicelib.models.common import NotificationStatus
from chalicelib.models.stored import (
    DeadLetter,
    Delivery,
    InboxItem,
    Notification,
    Recipient,
    Subscription,
)
from chalicelib.ports import Matched


def recipient_out(recipient: Recipient) -> RecipientOut:
    out = RecipientOut.model_validate(
        recipient.model_dump(exclude={"tenant_id", "webhook_failing_since", "webhook_disabled_at"})
    )
    if recipient.webhook_url is not None:
        disabled = recipient.webhook_disabled_at is not None
        out.webhook_status = "disabled" if disabled else "enabled"
        out.webhook_disabled_at = recipient.webhook_disabled_at
    return out


def recipient_details(request: RecipientIn) -> RecipientDetails:
    return RecipientDetails(
        name=request.name,
        email=request.email,
        phone=request.phone,
        webhook_url=request.webhook_url,
        preferences=request.preferences,
    )


def delivery_out(delivery: Delivery, *, with_attempts: bool = False) -> DeliveryOut:
    """``with_attempts``: with the attempt log, which only a delivery's own item keeps."""
    return DeliveryOut(
        channel=delivery.channel,
        recipient_id=delivery.recipient_id,
        status=delivery.status,
        attempts=delivery.attempts,
        reason=delivery.reason,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        failed_at=delivery.failed_at,
        next_attempt_at=delivery.next_attempt_at if not delivery.status.is_final else None,
        attempt_log=[AttemptOut.model_validate(a.model_dump()) for a in delivery.attempt_log]
        if with_attempts
        else None,
    )


def notification_out(
    notification: Notification, *, status: NotificationStatus | None = None
) -> NotificationOut:
    """``status``: the status to show instead of the computed one (a fresh 202 is ``accepted``)."""
    content = notification.content
    deliveries = notification.deliveries
    channels = notification.channels
    if deliveries is not None:
        channels = [delivery.channel for delivery in deliveries]
    return NotificationOut(
        id=notification.id,
        status=status or status_of(notification),
        created_at=notification.created_at,
        recipient_id=notification.recipient_id,
        topic=notification.topic,
        channels=channels,
        title=content.title,
        body=content.body,
        severity=content.severity,
        category=content.category,
        data=content.data,
        idempotency_key=notification.idempotency_key,
        delivery_counts=DeliveryCountsOut.model_validate(notification.counts.model_dump()),
        recipients=notification.recipients,
        deliveries=None if deliveries is None else [delivery_out(d) for d in deliveries],
    )


def inbox_item_out(item: InboxItem) -> InboxItemOut:
    content = item.content
    return InboxItemOut(
        notification_id=item.notification_id,
        title=content.title,
        body=content.body,
        severity=content.severity,
        category=content.category,
        data=content.data,
        created_at=item.created_at,
        read_at=item.read_at,
    )


def dead_letter_out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut.model_validate(letter.model_dump(exclude={"tenant_id"}))


def subscription_details(request: SubscriptionIn) -> SubscriptionDetails:
    return SubscriptionDetails(
        recipient_id=request.recipient_id,
        pattern=request.pattern,
        min_severity=request.min_severity,
        categories=request.categories,
        channels=request.channels,
    )


def subscription_out(subscription: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(subscription.model_dump(exclude={"tenant_id"}))


def subscriber_out(matched: Matched) -> SubscriberOut:
    return SubscriberOut(
        recipient_id=matched.recipient_id,
        subscription_ids=[s.subscription_id for s in matched.subscriptions],
    )
