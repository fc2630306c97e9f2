"""Digests: notifications to one recipient under one key, sent together when a window ends.

The first notification with a key opens a window for its recipient; each one that arrives while
it is open goes into it. Each is stored with its deliveries ``skipped`` (reason ``digested``),
and an entry in the window, in one transaction that holds only while the window is open under
the id it read: two requests never open two windows, and none joins a window once its closer has
shut it. The closer (a timer at the window's end) shuts the window, reads its entries, and sends
one notification (its id is the window's) with one delivery per channel that lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.planning import plan_deliveries
from chalicelib.domain.preferences import Audience
from chalicelib.domain.timers import release_timer
from chalicelib.models.common import Channel, DeliveryStatus, Reason
from chalicelib.models.scheduling import DigestEntry, DigestJoin, DigestWindow, Timer, TimerKind
from chalicelib.models.stored import Content, Delivery, DigestOf, Notification
from chalicelib.ports import (
    Clock,
    DigestStore,
    NotificationExists,
    NotificationStore,
    RecipientStore,
)

log = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_BODY = 4000


@dataclass(frozen=True)
class DigestRequest:
    key: str
    window_seconds: int


def digestible(delivery: Delivery) -> bool:
    """Deliveries that would be attempted (or, for the inbox, shown) on their own."""
    if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SCHEDULED):
        return True
    return delivery.channel is Channel.INBOX and delivery.status is DeliveryStatus.DELIVERED


def plan_join(
    *,
    request: DigestRequest,
    notification: Notification,
    deliveries: Sequence[Delivery],
    current: DigestWindow | None,
    new_window_id: str,
    now: datetime,
    max_items: int,
) -> tuple[DigestJoin, Timer | None] | None:
    """Puts the notification's deliveries into a window (the current one while it is open,
    else a new one): each is skipped as ``digested``. None when none would have been sent."""
    digested = [d for d in deliveries if digestible(d)]
    if not digested or notification.recipient_id is None:
        return None
    opens = (
        current is None or current.closed or current.closes_at <= now or current.items >= max_items
    )
    if opens:
        window = DigestWindow(
            tenant_id=notification.tenant_id,
            recipient_id=notification.recipient_id,
            key=request.key,
            window_id=new_window_id,
            window_seconds=request.window_seconds,
            opened_at=now,
            closes_at=now + timedelta(seconds=request.window_seconds),
        )
    else:
        assert current is not None
        window = current
    for delivery in digested:
        delivery.status = DeliveryStatus.SKIPPED
        delivery.reason = Reason.DIGESTED
        delivery.last_error = (
            f"digested under key {request.key!r}: listed by notification {window.window_id} "
            "when its window ends"
        )
        delivery.next_attempt_at = None
        delivery.delivered_at = None
        delivery.sweep_at = None
    entry = DigestEntry(
        tenant_id=notification.tenant_id,
        window_id=window.window_id,
        notification_id=notification.id,
        created_at=notification.created_at,
        content=notification.content,
        channels=[d.channel for d in digested],
    )
    join = DigestJoin(
        window=window,
        entry=entry,
        opens=opens,
        replaces=None if current is None or not opens else current.window_id,
        max_items=max_items,
    )
    timer = None
    if opens:
        timer = Timer(
            kind=TimerKind.DIGEST,
            tenant_id=notification.tenant_id,
            due=window.closes_at,
            recipient_id=notification.recipient_id,
            digest_key=request.key,
            window_id=window.window_id,
        )
    return join, timer


def digest_content(key: str, entries: Sequence[DigestEntry]) -> Content:
    """One message for the window: its title counts, its body lists each title."""
    count = len(entries)
    title = f"{count} notification{'s' if count != 1 else ''}: {key}"
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1] + "…"
    lines: list[str] = []
    size = 0
    for index, entry in enumerate(entries):
        line = f"- {entry.content.title}"
        if size + len(line) + 1 > MAX_BODY - 40:
            lines.append(f"… and {count - index} more")
            break
        lines.append(line)
        size += len(line) + 1
    severity = max((entry.content.severity for entry in entries), key=lambda s: s.rank)
    categories = {entry.content.category for entry in entries}
    return Content(
        title=title,
        body="\n".join(lines),
        severity=severity,
        category=categories.pop() if len(categories) == 1 else None,
        data={"digest": {"key": key, "notification_ids": [e.notification_id for e in entries]}},
    )


class DigestService:
    def __init__(
        self,
        *,
        digests: DigestStore,
        notifications: NotificationStore,
        recipients: RecipientStore,
        announce: Callable[[Notification, list[Delivery]], bool],
        clock: Clock,
        enabled_channels: frozenset[Channel],
        sweep_grace: timedelta,
    ) -> None:
        self._digests = digests
        self._notifications = notifications
        self._recipients = recipients
        self._announce = announce
        self._clock = clock
        self._enabled = enabled_channels
        self._grace = sweep_grace

    def close(self, timer: Timer) -> list[Timer]:
        """Shuts the timer's window and sends its digest; the timers it stored with it (a
        digest that falls in the recipient's quiet hours waits for their end), to hint."""
        assert timer.recipient_id is not None
        assert timer.window_id is not None
        assert timer.digest_key is not None
        tenant, rid, wid = timer.tenant_id, timer.recipient_id, timer.window_id
        self._digests.close_digest_window(tenant, rid, timer.digest_key, wid)
        entries = self._digests.digest_entries(tenant, wid)
        if not entries:
            return []
        existing = self._notifications.get_notification(tenant, wid)
        if existing is not None:
            return []  # sent already: the sweeper owns whatever of it is left
        recipient = self._recipients.get_recipient(tenant, rid)
        if recipient is None:
            log.warning("digest %s: recipient %s is gone", wid, rid)
            return []
        now = self._clock.now()
        channels = [c for c in Channel if any(c in entry.channels for entry in entries)]
        content = digest_content(timer.digest_key, entries)
        deliveries = plan_deliveries(
            tenant_id=tenant,
            notification_id=wid,
            created_at=now,
            recipient=recipient,
            channels=channels,
            enabled=self._enabled,
            topic=False,
            now=now,
            audience=Audience(severity=content.severity, category=None, tenant=None),
        )
        for delivery in deliveries:
            delivery.inline = True
            if delivery.status is DeliveryStatus.PENDING:
                delivery.sweep_at = now + self._grace
        notification = Notification(
            tenant_id=tenant,
            id=wid,
            created_at=now,
            recipient_id=rid,
            channels=channels,
            content=content,
            digest_of=DigestOf(
                key=timer.digest_key,
                window_id=wid,
                opened_at=min(entry.created_at for entry in entries),
                notification_ids=[entry.notification_id for entry in entries],
            ),
            deliveries=deliveries,
            recipients=1,
        )
        for delivery in deliveries:
            status = delivery.status.value
            setattr(notification.counts, status, getattr(notification.counts, status) + 1)
        timers = [t for t in [release_timer(tenant, wid, deliveries)] if t is not None]
        try:
            self._notifications.create_notification(notification, deliveries, None, timers=timers)
        except NotificationExists:
            return []
        self._announce(notification, deliveries)
        return timers
