"""Which deliveries a notification makes for one recipient, and the state each starts in.

An inbox delivery is complete once planned: its item is the inbox entry, written with the
notification (or the fan-out page), so it needs no message and no function of its own. A
delivery that cannot be attempted starts ``skipped`` with its reason; one held by
``deliver_at`` or the recipient's quiet hours starts ``scheduled`` until then (its reason
says which). The recipient's preferences (``Audience``) are applied here, the one place that
plans deliveries for a notification to a recipient and for a topic's fan-out alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chalicelib.domain.preferences import Audience
from chalicelib.models.common import Channel, DeliveryStatus, Reason
from chalicelib.models.stored import Delivery, Recipient

# Channels whose deliveries go through a queue and a function of their own.
QUEUED_CHANNELS = (
    Channel.WEBHOOK,
    Channel.EMAIL,
    Channel.SMS,
    Channel.SLACK,
    Channel.TEAMS,
    Channel.DISCORD,
    Channel.PUSH,
    Channel.APPRISE,
)


def address_of(channel: Channel, recipient: Recipient) -> str | None:
    """The one address of a single-target channel (None for push and Apprise: see targets_of)."""
    match channel:
        case Channel.WEBHOOK:
            return recipient.webhook_url
        case Channel.EMAIL:
            return recipient.email
        case Channel.SMS:
            return recipient.phone
        case Channel.INBOX:
            return recipient.recipient_id
        case Channel.SLACK:
            return recipient.slack_webhook_url
        case Channel.TEAMS:
            return recipient.teams_webhook_url
        case Channel.DISCORD:
            return recipient.discord_webhook_url
        case Channel.PUSH | Channel.APPRISE:
            return None


def targets_of(channel: Channel, recipient: Recipient) -> list[str] | None:
    """The addresses of a channel with several (push tokens, Apprise URLs); None when it has
    none or is a single-target channel."""
    match channel:
        case Channel.PUSH:
            targets = [token.target for token in recipient.push_tokens or []]
        case Channel.APPRISE:
            targets = list(recipient.apprise_urls or [])
        case _:
            return None
    return targets or None


def has_address(channel: Channel, recipient: Recipient) -> bool:
    return address_of(channel, recipient) is not None or targets_of(channel, recipient) is not None


def default_channels(recipient: Recipient) -> list[Channel]:
    """Every channel the recipient has an address for, and always the inbox."""
    channels = [channel for channel in QUEUED_CHANNELS if has_address(channel, recipient)]
    return [*channels, Channel.INBOX]


def webhook_id_of(notification_id: str, recipient_id: str, *, topic: bool) -> str:
    """The Standard Webhooks message id of a delivery: one per notification and recipient."""
    return f"msg_{notification_id}_{recipient_id}" if topic else f"msg_{notification_id}"


def plan_deliveries(
    *,
    tenant_id: str,
    notification_id: str,
    created_at: datetime,
    recipient: Recipient,
    channels: Iterable[Channel],
    enabled: frozenset[Channel],
    topic: bool,
    now: datetime,
    audience: Audience | None = None,
) -> list[Delivery]:
    hold = None if audience is None else audience.hold(recipient, now)
    deliveries = []
    for channel in channels:
        address = address_of(channel, recipient)
        delivery = Delivery(
            tenant_id=tenant_id,
            notification_id=notification_id,
            recipient_id=recipient.recipient_id,
            channel=channel,
            address=address,
            targets=targets_of(channel, recipient),
        )
        if channel is Channel.WEBHOOK:
            delivery.webhook_id = webhook_id_of(
                notification_id, recipient.recipient_id, topic=topic
            )
            delivery.endpoint_failing = recipient.webhook_failing_since is not None
        if channel not in enabled:
            _skip(delivery, Reason.CHANNEL_UNAVAILABLE, f"channel {channel.value} is not available")
        elif audience is not None and not audience.allows(channel, recipient):
            _skip(
                delivery, Reason.OPTED_OUT, f"the recipient's preferences turn {channel.value} off"
            )
        elif not has_address(channel, recipient):
            _skip(delivery, Reason.NO_ADDRESS, f"recipient has no {_address_name(channel)}")
        elif channel is Channel.WEBHOOK and recipient.webhook_disabled_at is not None:
            _skip(
                delivery,
                Reason.ENDPOINT_DISABLED,
                "the recipient's webhook is disabled after failing; enable it again with "
                "POST /v1/recipients/{id}/webhook/enable",
            )
        elif hold is not None:
            delivery.status = DeliveryStatus.SCHEDULED
            delivery.reason = hold.reason
            delivery.next_attempt_at = hold.until
            if channel is Channel.INBOX:
                delivery.created_at = created_at
        elif channel is Channel.INBOX:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.created_at = created_at
        deliveries.append(delivery)
    return deliveries


def _address_name(channel: Channel) -> str:
    return {
        Channel.WEBHOOK: "webhook_url",
        Channel.EMAIL: "email",
        Channel.SMS: "phone",
        Channel.SLACK: "slack_webhook_url",
        Channel.TEAMS: "teams_webhook_url",
        Channel.DISCORD: "discord_webhook_url",
        Channel.PUSH: "push_tokens",
        Channel.APPRISE: "apprise_urls",
    }.get(channel, channel.value)


def _skip(delivery: Delivery, reason: Reason, why: str) -> None:
    delivery.status = DeliveryStatus.SKIPPED
    delivery.reason = reason
    delivery.last_error = why
