"""Acting later: scheduled deliveries released when they are due, digest windows closed.

What must happen later is a stored ``Timer`` (written in the same transaction as the deliveries
it releases, or the window it closes): a restart or a redeploy loses none. Two things look at
timers:

- a scheduled function (every minute) finds the timers due within the next few minutes, however
  far ahead they were set (up to a year), and hands each to the timers queue with a delay that
  ends at its due time (SQS delays reach 15 minutes);
- a timer due within that reach when it is set is handed to the queue at once, which is how the
  local stage meets its 5 s (and a deployment its 60 s) without a faster schedule.

The queue's function does what the timer says once it is due and then deletes it. A hint lost
on the way only delays the timer to the next scan; one handled twice changes nothing, since
each action is a conditional write.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from chalicelib.domain.deliveries import Progress
from chalicelib.domain.notifications import delivery_message
from chalicelib.domain.planning import QUEUED_CHANNELS
from chalicelib.models.common import Channel, DeliveryStatus
from chalicelib.models.messages import DeliveryMessage
from chalicelib.models.scheduling import Timer, TimerKind
from chalicelib.models.stored import Delivery, DeliveryKey, Notification
from chalicelib.ports import (
    Clock,
    DeliveryStore,
    NotificationStore,
    Publisher,
    PublishFailed,
    TimerQueue,
    TimerStore,
)

log = logging.getLogger(__name__)

# How far ahead each scan hands timers to the queue: more than the scan's period, so that a
# late scan still finds a timer before it is due.
LOOKAHEAD = timedelta(minutes=3)
SCAN_LIMIT = 1000
# Deliveries of a notification released per look (the rest on the next, at once).
RELEASE_PAGE = 100
# A topic notification still being expanded when its deliveries come due is looked at again.
FANOUT_RECHECK = timedelta(seconds=2)


def _due(delivery: Delivery, now: datetime) -> bool:
    return delivery.status is DeliveryStatus.SCHEDULED and (
        delivery.next_attempt_at is None or delivery.next_attempt_at <= now
    )


class Scheduler:
    def __init__(
        self,
        *,
        timers: TimerStore,
        queue: TimerQueue,
        deliveries: DeliveryStore,
        notifications: NotificationStore,
        publisher: Publisher,
        clock: Clock,
        sweep_grace: timedelta,
        close_digest: Callable[[Timer], list[Timer]],
    ) -> None:
        self._timers = timers
        self._queue = queue
        self._deliveries = deliveries
        self._notifications = notifications
        self._publisher = publisher
        self._clock = clock
        self._grace = sweep_grace
        self._close_digest = close_digest

    def hint(self, timers: Sequence[Timer]) -> None:
        """Hands timers to the queue now; should that fail, the next scan does."""
        if not timers:
            return
        with contextlib.suppress(PublishFailed):
            self._queue.hint(timers, now=self._clock.now())

    def scan(self, budget: timedelta | None = None) -> int:
        """Hands every timer due within the look-ahead to the queue; how many."""
        now = self._clock.now()
        due = self._timers.due_timers(until=now + LOOKAHEAD, now=now, limit=SCAN_LIMIT)
        self.hint(due)
        return len(due)

    def fire(self, timer: Timer) -> Progress:
        """Does what the timer says if it is due (else says when to look again)."""
        now = self._clock.now()
        if timer.due > now:
            return Progress(finished=False, wake_in=(timer.due - now).total_seconds())
        if timer.kind is TimerKind.DIGEST:
            # The digest's own timers (if any) are stored with it.
            follow_ups = self._close_digest(timer)
        else:
            again = self._release(timer)
            follow_ups = [] if again is None else [again]
            self._timers.put_timers(follow_ups)
        self._timers.delete_timer(timer)
        self.hint(follow_ups)
        return Progress(finished=True)

    def _release(self, timer: Timer) -> Timer | None:
        """Releases the timer's due deliveries; the timer to set again when some may follow
        (more pages, or a fan-out still writing deliveries)."""
        assert timer.notification_id is not None
        now = self._clock.now()
        tenant, nid = timer.tenant_id, timer.notification_id
        if timer.recipient_id is not None:
            keys = [
                DeliveryKey(tenant, nid, timer.recipient_id, channel)
                for channel in timer.channels or []
            ]
            self.release(self._deliveries.get_deliveries(keys))
            return None
        page = self._notifications.list_deliveries(
            tenant, nid, keep=lambda d: _due(d, now), limit=RELEASE_PAGE, cursor=timer.cursor
        )
        self.release(page.items)
        if page.next_cursor is not None:
            return timer.model_copy(update={"cursor": page.next_cursor, "due": now})
        notification = self._notifications.get_notification(tenant, nid)
        fanout = None if notification is None else notification.fanout
        if fanout is not None and not fanout.done and fanout.error is None:
            return timer.model_copy(update={"cursor": None, "due": now + FANOUT_RECHECK})
        return None

    def release(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Scheduled deliveries that are due become pending (inbox: delivered) and are
        queued; those moved meanwhile (cancelled, released already) are left alone."""
        now = self._clock.now()
        changes = []
        for delivery in deliveries:
            if not _due(delivery, now):
                continue
            after = delivery.model_copy()
            after.reason = None
            after.next_attempt_at = None
            if delivery.channel is Channel.INBOX:
                after.status = DeliveryStatus.DELIVERED
                after.delivered_at = now
            else:
                after.status = DeliveryStatus.PENDING
                after.sweep_at = now + self._grace
            changes.append((delivery, after))
        if not changes:
            return []
        by_notification: dict[tuple[str, str], list[tuple[Delivery, Delivery]]] = defaultdict(list)
        for change in changes:
            by_notification[(change[0].tenant_id, change[0].notification_id)].append(change)
        released = []
        for (tenant, nid), group in by_notification.items():
            moved = self._deliveries.move(group, now=now)
            released += moved
            notification = self._notifications.get_notification(tenant, nid)
            if notification is not None:
                self._queue_released(notification, moved)
        return released

    def _queue_released(self, notification: Notification, moved: Sequence[Delivery]) -> None:
        by_channel: dict[Channel, list[DeliveryMessage]] = defaultdict(list)
        for delivery in moved:
            if delivery.status is DeliveryStatus.PENDING and delivery.channel in QUEUED_CHANNELS:
                by_channel[delivery.channel].append(
                    delivery_message(notification, delivery.recipient_id)
                )
        for channel, messages in by_channel.items():
            try:
                self._publisher.enqueue(channel, messages)
            except PublishFailed:
                log.warning(
                    "released deliveries of %s not queued; the sweeper takes over", notification.id
                )
