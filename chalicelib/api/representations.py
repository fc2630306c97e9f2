"""Stored items as the API shows them, and requests as the domain's commands."""

from __future__ import annotations

from chalicelib.domain.recipients import RecipientDetails, masked
from chalicelib.domain.status import status_of
from chalicelib.domain.topics import SubscriptionDetails
from chalicelib.models.api import (
    AlertRefOut,
    AttemptOut,
    DeadLetterOut,
    DeliveryCountsOut,
    DeliveryOut,
    DigestOut,
    EmailPartsOut,
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
    Content,
    DeadLetter,
    Delivery,
    InboxItem,
    Notification,
    PushToken,
    Recipient,
    Subscription,
)
from chalicelib.ports import Matched


def recipient_out(recipient: Recipient, *, given: RecipientDetails | None = None) -> RecipientOut:
    """Secret addresses masked; ``given``: the PUT's details, whose whole addresses (the ones it
    stored) its reply shows as given."""
    shown = masked(recipient, given)
    out = RecipientOut.model_validate(
        shown.model_dump(exclude={"tenant_id", "webhook_failing_since", "webhook_disabled_at"})
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
        slack_webhook_url=request.slack_webhook_url,
        teams_webhook_url=request.teams_webhook_url,
        discord_webhook_url=request.discord_webhook_url,
        push_tokens=None
        if request.push_tokens is None
        else [PushToken(platform=t.platform, token=t.token) for t in request.push_tokens],
        apprise_urls=request.apprise_urls,
        keep_preferences="preferences" not in request.model_fields_set,
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
        deliver_at=notification.deliver_at,
        cancelled_at=notification.cancelled_at,
        template=notification.template,
        email=None if content.email is None else EmailPartsOut(**content.email.model_dump()),
        sms=content.sms,
        digest=digest_out(notification),
        alert=alert_ref_out(content),
        delivery_counts=DeliveryCountsOut.model_validate(notification.counts.model_dump()),
        recipients=notification.recipients,
        deliveries=None if deliveries is None else [delivery_out(d) for d in deliveries],
    )


def digest_out(notification: Notification) -> DigestOut | None:
    if notification.digest_of is not None:
        return DigestOut(
            key=notification.digest_of.key,
            notification_ids=notification.digest_of.notification_ids,
        )
    if notification.digest is not None:
        return DigestOut(
            key=notification.digest.key,
            window_seconds=notification.digest.window_seconds,
            digest_id=notification.digest.window_id,
        )
    return None


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
        alert=alert_ref_out(content),
    )


def alert_ref_out(content: Content) -> AlertRefOut | None:
    if content.alert is None:
        return None
    return AlertRefOut.model_validate(content.alert.model_dump())


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
