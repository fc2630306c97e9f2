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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from chalicelib.domain.deliveries import Progress
from chalicelib.domain.notifications import (
    cancelled,
    counts_of,
    delivery_message,
    occasion_of,
)
from chalicelib.domain.planning import QUEUED_CHANNELS, default_channels, plan_deliveries
from chalicelib.domain.preferences import Audience
from chalicelib.domain.templates import RenderFailed, names_recipient, render
from chalicelib.domain.timers import release_timer
from chalicelib.domain.topics import TopicReach, channels_of
from chalicelib.models.common import Channel, DeliveryStatus, Reason
from chalicelib.models.scheduling import Timer
from chalicelib.models.stored import Content, Delivery, Notification, Recipient
from chalicelib.ports import (
    Clock,
    FanoutStore,
    Matched,
    NotificationStore,
    Publisher,
    PublishFailed,
    RecipientStore,
    SubscriptionStore,
    TimerStore,
)

log = logging.getLogger(__name__)

# Deliveries handed to the store per write call (it batches them further).
WRITE_CHUNK = 100


def _initial_status(existing: Delivery) -> DeliveryStatus:
    """The status a delivery written by a page started in (what its page counts): inbox and
    skipped ones are final when written; every other one started pending."""
    if existing.planned is not None:
        return existing.planned
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
        audience: Callable[[Notification], Audience],
        timers: TimerStore,
        hint: Callable[[Sequence[Timer]], None],
        cancel: Callable[[str, str, datetime], None],
    ) -> None:
        self._hint = hint
        self._audience = audience
        self._timers = timers
        self._cancel = cancel
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
        # Timers first: a crash after them leaves timers with nothing to do, never deliveries
        # with no timer.
        timers = self._page_timers(notification, deliveries)
        self._timers.put_timers(timers)
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
        if self._cancelled_meanwhile(notification):
            # A cancel that came while the page was written: its deliveries go unsent.
            self._cancel(notification.tenant_id, notification.id, now)
        else:
            self._queue(notification, deliveries)
            self._hint(timers)
        return Progress(finished=done, wake_in=None if done else 0.0)

    def _cancelled_meanwhile(self, notification: Notification) -> bool:
        if notification.cancelled_at is not None:
            return True
        current = self._notifications.get_notification(notification.tenant_id, notification.id)
        return current is not None and current.cancelled_at is not None

    @staticmethod
    def _page_timers(notification: Notification, deliveries: Sequence[Delivery]) -> list[Timer]:
        """A timer per recipient held by its quiet hours (a ``deliver_at`` that holds them all
        has the notification's own timer)."""
        by_recipient: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            if (
                delivery.status is DeliveryStatus.SCHEDULED
                and delivery.reason is Reason.QUIET_HOURS
            ):
                by_recipient[delivery.recipient_id].append(delivery)
        timers = [
            release_timer(notification.tenant_id, notification.id, held)
            for held in by_recipient.values()
        ]
        return [timer for timer in timers if timer is not None]

    def _plan(self, notification: Notification, matched: Iterable[Matched]) -> list[Delivery]:
        by_id = {m.recipient_id: m for m in matched}
        recipients = self._recipients.get_recipients(notification.tenant_id, sorted(by_id))
        now = self._clock.now()
        audience = self._audience(notification)
        personal = notification.template_parts is not None and names_recipient(
            notification.template_parts
        )
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
                audience=audience,
            )
            content = self._content_for(notification, recipient) if personal else None
            for delivery in planned:
                if (
                    notification.cancelled_at is not None
                    and delivery.status is not DeliveryStatus.SKIPPED
                ):
                    delivery = cancelled(delivery)
                if delivery.status is DeliveryStatus.PENDING:
                    delivery.sweep_at = now + self._grace
                if content is not None and delivery.status is not DeliveryStatus.SKIPPED:
                    delivery.content = content
                delivery.planned = delivery.status
                deliveries.append(delivery)
        return deliveries

    def _content_for(self, notification: Notification, recipient: Recipient) -> Content | None:
        """The recipient's own rendering of the template; None when it is the notification's
        (or cannot be made: the content rendered at acceptance is sent instead)."""
        assert notification.template_parts is not None
        try:
            rendered = render(notification.template_parts, occasion_of(notification), recipient)
        except RenderFailed as failed:
            log.warning(
                "%s: the template does not render for %s (%s); the content rendered at "
                "acceptance goes instead",
                notification.id,
                recipient.recipient_id,
                failed,
            )
            return None
        parts = notification.template_parts
        content = notification.content
        # Parts the request itself gave (title, body) are the notification's for everyone.
        rendered = rendered.model_copy(
            update={
                "title": rendered.title if "title" in parts else content.title,
                "body": rendered.body if "body" in parts else content.body,
            }
        )
        return rendered if rendered != content else None

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
