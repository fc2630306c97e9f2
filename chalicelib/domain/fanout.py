"""Expanding a topic notification into deliveries, one page of recipients per look.

Each page goes: mark it begun (so that a crash is recognised), write its deliveries in batches,
then end it with one conditional write that moves the cursor and adds the page's counts, and
only then queue its messages. A crash before the end leaves the cursor where it was: the page
is redone, and writes only the deliveries that are missing, so nothing is written, counted or
sent twice. A crash after the end loses no message: the page's pending deliveries carry a sweep
time, and the sweeper queues what was not. Inbox deliveries are complete when written.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from chalicelib.domain.deliveries import Progress
from chalicelib.domain.notifications import counts_of, delivery_message
from chalicelib.domain.planning import QUEUED_CHANNELS, default_channels, plan_deliveries
from chalicelib.domain.topics import TopicReach, channels_of
from chalicelib.models.common import Channel, DeliveryStatus
from chalicelib.models.stored import Delivery, Notification
from chalicelib.ports import (
    Clock,
    FanoutStore,
    Matched,
    NotificationStore,
    Publisher,
    PublishFailed,
    RecipientStore,
    SubscriptionStore,
)

log = logging.getLogger(__name__)

# Deliveries handed to the store per write call (it batches them further).
WRITE_CHUNK = 100


def _initial_status(existing: Delivery) -> DeliveryStatus:
    """The status a delivery written by a page started in (what its page counts): inbox and
    skipped ones are final when written; every other one started pending."""
    if existing.channel is Channel.INBOX:
        return DeliveryStatus.DELIVERED
    if existing.status is DeliveryStatus.SKIPPED and existing.attempts == 0:
        return DeliveryStatus.SKIPPED
    return DeliveryStatus.PENDING


class FanoutService:
    def __init__(
        self,
        *,
        notifications: NotificationStore,
        fanout: FanoutStore,
        subscriptions: SubscriptionStore,
        recipients: RecipientStore,
        publisher: Publisher,
        clock: Clock,
        enabled_channels: frozenset[Channel],
        page_size: int,
        sweep_grace: timedelta,
    ) -> None:
        self._notifications = notifications
        self._fanout = fanout
        self._recipients = recipients
        self._publisher = publisher
        self._clock = clock
        self._enabled = enabled_channels
        self._page_size = page_size
        self._grace = sweep_grace
        self._reach = TopicReach(subscriptions)

    def expand(self, tenant_id: str, notification_id: str) -> Progress:
        """Expands the next page of the notification's recipients."""
        notification = self._notifications.get_notification(tenant_id, notification_id)
        if notification is None or notification.topic is None:
            log.warning("fan-out of %s/%s: no such topic notification", tenant_id, notification_id)
            return Progress(finished=True)
        fanout = notification.fanout
        if fanout is None or fanout.done or fanout.error is not None:
            return Progress(finished=True)
        start = fanout.cursor or ""
        redo = fanout.writing == start
        if not redo and not self._fanout.begin_page(notification):
            return Progress(finished=False, wake_in=0.0)
        matched, examined_to = self._reach.page(
            tenant_id,
            notification.topic,
            content=notification.content,
            after=fanout.cursor,
            limit=self._page_size,
        )
        deliveries = self._plan(notification, matched)
        initial = [delivery.model_copy() for delivery in deliveries]
        if redo:
            existing = self._fanout.existing_deliveries([d.key for d in deliveries])
            deliveries = [d for d in deliveries if d.key not in existing]
            for delivery in initial:
                if delivery.key in existing:
                    delivery.status = _initial_status(existing[delivery.key])
        for start_index in range(0, len(deliveries), WRITE_CHUNK):
            self._fanout.put_deliveries(deliveries[start_index : start_index + WRITE_CHUNK])
        done = examined_to is None
        now = self._clock.now()
        ended = self._fanout.checkpoint_page(
            notification,
            cursor=examined_to if examined_to is not None else fanout.cursor,
            counts=counts_of(initial),
            recipients=len({delivery.recipient_id for delivery in initial}),
            done=done,
            sweep_at=None if done else now + self._grace,
        )
        if not ended:
            return Progress(finished=False, wake_in=0.0)
        self._queue(notification, deliveries)
        return Progress(finished=done, wake_in=None if done else 0.0)

    def _plan(self, notification: Notification, matched: Iterable[Matched]) -> list[Delivery]:
        by_id = {m.recipient_id: m for m in matched}
        recipients = self._recipients.get_recipients(notification.tenant_id, sorted(by_id))
        now = self._clock.now()
        deliveries: list[Delivery] = []
        for recipient in sorted(recipients, key=lambda r: r.recipient_id):
            wanted = channels_of(by_id[recipient.recipient_id].subscriptions)
            channels = [
                channel
                for channel in default_channels(recipient)
                if (wanted is None or channel in wanted)
                and (notification.channels is None or channel in notification.channels)
            ]
            planned = plan_deliveries(
                tenant_id=notification.tenant_id,
                notification_id=notification.id,
                created_at=notification.created_at,
                recipient=recipient,
                channels=channels,
                enabled=self._enabled,
                topic=True,
                now=now,
            )
            for delivery in planned:
                if not delivery.status.is_final:
                    delivery.sweep_at = now + self._grace
            deliveries += planned
        return deliveries

    def _queue(self, notification: Notification, deliveries: Iterable[Delivery]) -> None:
        """Queues the page's pending deliveries, one message per recipient and channel."""
        by_channel: dict[Channel, list[str]] = defaultdict(list)
        for delivery in deliveries:
            if delivery.status is DeliveryStatus.PENDING and delivery.channel in QUEUED_CHANNELS:
                by_channel[delivery.channel].append(delivery.recipient_id)
        for channel, recipient_ids in by_channel.items():
            try:
                self._publisher.enqueue(
                    channel, [delivery_message(notification, rid) for rid in recipient_ids]
                )
            except PublishFailed:
                log.warning(
                    "fan-out of %s: queueing failed; the sweeper takes over", notification.id
                )
