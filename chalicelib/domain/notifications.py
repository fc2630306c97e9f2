"""Accepting a notification: who gets it on which channel, and what its status is.

A notification to one recipient is stored with its deliveries in one write and announced on
the notifications topic, which feeds each channel's queue. A notification to a topic is stored
alone and announced to the fan-out queue, which expands it into deliveries a page at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from chalicelib.domain.digests import DigestRequest, plan_join
from chalicelib.domain.errors import Conflict, Invalid, NotFound
from chalicelib.domain.planning import QUEUED_CHANNELS, default_channels, plan_deliveries
from chalicelib.domain.preferences import Audience
from chalicelib.domain.status import status_of
from chalicelib.domain.templates import (
    Occasion,
    RenderFailed,
    TemplateService,
    first_failure,
    names_recipient,
    render,
    with_overrides,
)
from chalicelib.domain.timers import release_timer
from chalicelib.domain.topics import TopicReach
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Reason
from chalicelib.models.messages import DeliveryMessage, FanoutMessage
from chalicelib.models.scheduling import DigestJoin, Timer, TimerKind
from chalicelib.models.stored import (
    Content,
    Counts,
    Delivery,
    DigestSpec,
    Fanout,
    IdempotencyRecord,
    Notification,
    Recipient,
)
from chalicelib.ports import (
    Clock,
    DeliveryStore,
    DigestStore,
    DigestWindowMoved,
    IdempotencyKeyTaken,
    NotificationStore,
    Page,
    PreferenceStore,
    Publisher,
    PublishFailed,
    RecipientStore,
    SubscriptionStore,
    TimerQueue,
)

MAX_SCHEDULE_AHEAD = timedelta(days=365)
# Tries to join a digest window that others keep opening or closing meanwhile.
MAX_DIGEST_RACES = 20
# A topic notification's template that reads ``recipient`` is rendered at acceptance for up to
# this many of the recipients the topic reaches.
CHECKED_SUBSCRIBERS = 500


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


def counts_of(deliveries: Sequence[Delivery]) -> Counts:
    counts = Counts()
    for delivery in deliveries:
        status = delivery.status.value
        setattr(counts, status, getattr(counts, status) + 1)
    return counts


def delivery_message(notification: Notification, recipient_id: str) -> DeliveryMessage:
    # A digest's message carries no content: the function reads what the digest lists.
    digest = notification.digest_of is not None
    return DeliveryMessage(
        tenant_id=notification.tenant_id,
        notification_id=notification.id,
        recipient_id=recipient_id,
        created_at=None if digest else notification.created_at.isoformat(),
        topic=notification.topic,
        content=None if digest else notification.content,
    )


@dataclass(frozen=True)
class SendNotification:
    """A request to notify one recipient, or a topic's subscribers. With a ``template``, an
    empty title and a missing body come from it."""

    content: Content
    recipient_id: str | None = None
    topic: str | None = None
    channels: list[Channel] | None = None
    idempotency_key: str | None = None
    # Equal for two requests that mean the same (see request_fingerprint).
    fingerprint: str = ""
    deliver_at: datetime | None = None
    template: str | None = None
    digest: DigestRequest | None = None


@dataclass(frozen=True)
class Accepted:
    notification: Notification
    # False when an idempotent replay returned an earlier notification.
    created: bool


class Planning:
    """What acceptance needs beyond the notifications themselves: preferences, templates,
    digests, and the queue that wakes timers."""

    def __init__(
        self,
        *,
        preferences: PreferenceStore,
        templates: TemplateService,
        digests: DigestStore,
        timers: TimerQueue,
        deliveries: DeliveryStore,
        subscriptions: SubscriptionStore,
        digest_max_items: int = 100,
    ) -> None:
        self.deliveries = deliveries
        self.subscriptions = subscriptions
        self.preferences = preferences
        self.templates = templates
        self.digests = digests
        self.timers = timers
        self.digest_max_items = digest_max_items


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
        planning: Planning,
    ) -> None:
        self._notifications = notifications
        self._recipients = recipients
        self._publisher = publisher
        self._clock = clock
        self._enabled = enabled_channels
        self._idempotency_window = idempotency_window
        self._sweep_grace = sweep_grace
        self._planning = planning

    def accept(self, tenant_id: str, command: SendNotification) -> Accepted:
        key = command.idempotency_key
        now = self._clock.now()
        self._check_timing(command, now)
        if key is not None:
            earlier = self._notifications.get_idempotency(tenant_id, key)
            if earlier is not None and earlier.expires_at > now:
                return self._replay(earlier, command.fingerprint)
        for _ in range(MAX_DIGEST_RACES):
            built = self._build(tenant_id, command, now)
            notification, deliveries = built.notification, built.deliveries
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
                self._notifications.create_notification(
                    notification, deliveries, record, timers=built.timers, digest=built.digest
                )
            except IdempotencyKeyTaken:
                assert key is not None
                winner = self._notifications.get_idempotency(tenant_id, key)
                if winner is None:
                    raise
                return self._replay(winner, command.fingerprint)
            except DigestWindowMoved:
                continue  # another request opened or closed the window: look at it again
            break
        else:
            raise RuntimeError("digest window: too many concurrent changes")
        self.announce(notification, deliveries)
        self.hint(built.timers)
        return Accepted(notification, created=True)

    @staticmethod
    def _check_timing(command: SendNotification, now: datetime) -> None:
        if command.deliver_at is not None:
            if command.deliver_at <= now:
                raise Invalid(["deliver_at"], "must be in the future")
            if command.deliver_at > now + MAX_SCHEDULE_AHEAD:
                raise Invalid(["deliver_at"], "must be at most 365 days ahead")
        if command.digest is not None and command.topic is not None:
            raise Invalid(["digest"], "digests are for notifications to one recipient_id")

    def hint(self, timers: Sequence[Timer]) -> None:
        """Timers due soon are handed to the timers queue now (the scan finds them anyway)."""
        if timers:
            with contextlib.suppress(PublishFailed):
                self._planning.timers.hint(timers, now=self._clock.now())

    def cancel(self, tenant_id: str, notification_id: str) -> Notification:
        """Every delivery not attempted yet is skipped (reason ``cancelled``); a topic's fan-out
        plans the rest so. Conflict when every delivery is final already."""
        notification = self.get(tenant_id, notification_id)
        fanout = notification.fanout
        expanding = fanout is not None and not fanout.done and fanout.error is None
        if not expanding and not notification.counts.open:
            raise Conflict("every delivery of this notification is final already")
        now = self._clock.now()
        self._notifications.cancel_notification(tenant_id, notification_id, now)
        self.cancel_deliveries(tenant_id, notification_id, now)
        return self.get(tenant_id, notification_id)

    def cancel_deliveries(self, tenant_id: str, notification_id: str, now: datetime) -> None:
        cursor = None
        while True:
            page = self._notifications.list_deliveries(
                tenant_id, notification_id, keep=unattempted, limit=100, cursor=cursor
            )
            if page.items:
                self._planning.deliveries.move(
                    [(d, cancelled(d)) for d in page.items if unattempted(d)], now=now
                )
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

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

    def _build(self, tenant_id: str, command: SendNotification, now: datetime) -> Built:
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
            deliver_at=command.deliver_at,
            template=command.template,
        )
        if command.digest is not None:
            notification.digest = DigestSpec(
                key=command.digest.key, window_seconds=command.digest.window_seconds
            )
        if command.topic is not None:
            return self._build_topic(notification, command, now)
        assert command.recipient_id is not None
        recipient = self._recipients.get_recipient(tenant_id, command.recipient_id)
        if recipient is None:
            raise Invalid(["recipient_id"], "no recipient with this id")
        if command.template is not None:
            parts = self._planning.templates.source(tenant_id, command.template)
            notification.content = self._render(parts, notification, command, recipient)
        deliveries = plan_deliveries(
            tenant_id=tenant_id,
            notification_id=notification_id,
            created_at=now,
            recipient=recipient,
            channels=command.channels or default_channels(recipient),
            enabled=self._enabled,
            topic=False,
            now=now,
            audience=self.audience(notification),
        )
        built = Built(notification, deliveries)
        if command.digest is not None:
            self._join_digest(built, command.digest, now)
        for delivery in deliveries:
            delivery.inline = True
            if delivery.status is DeliveryStatus.PENDING:
                delivery.sweep_at = now + self._sweep_grace
        timer = release_timer(tenant_id, notification_id, deliveries)
        if timer is not None:
            built.timers.append(timer)
        notification.deliveries = deliveries
        notification.counts = counts_of(deliveries)
        notification.recipients = 1
        return built

    def _build_topic(
        self, notification: Notification, command: SendNotification, now: datetime
    ) -> Built:
        notification.fanout = Fanout()
        notification.sweep_at = now + self._sweep_grace
        built = Built(notification, [])
        if command.template is not None:
            parts = self._planning.templates.source(notification.tenant_id, command.template)
            # The fan-out renders them again for each recipient, from the sources as they are now.
            notification.template_parts = used_parts(parts, command)
            notification.content = self._render(parts, notification, command, None)
            if names_recipient(notification.template_parts):
                self._check_subscribers(notification.template_parts, notification)
        if command.deliver_at is not None:
            built.timers.append(
                Timer(
                    kind=TimerKind.RELEASE,
                    tenant_id=notification.tenant_id,
                    due=command.deliver_at,
                    notification_id=notification.id,
                )
            )
        return built

    def audience(self, notification: Notification) -> Audience:
        content = notification.content
        tenant = None
        if content.category is not None:
            tenant = self._planning.preferences.get_tenant_preferences(notification.tenant_id)
        return Audience(
            severity=content.severity,
            category=content.category,
            tenant=tenant,
            deliver_at=notification.deliver_at,
        )

    def _render(
        self,
        parts: Mapping[str, str],
        notification: Notification,
        command: SendNotification,
        recipient: Recipient | None,
    ) -> Content:
        try:
            rendered = render(used_parts(parts, command), occasion_of(notification), recipient)
        except RenderFailed as failed:
            raise Invalid(["template"], f"does not render: {failed}") from None
        return with_overrides(rendered, command.content.title or None, command.content.body)

    def _check_subscribers(self, parts: Mapping[str, str], notification: Notification) -> None:
        """A template that reads ``recipient`` must render for each recipient the topic
        reaches now (the first page of them; the fan-out falls back to the content rendered
        without a recipient for anyone it cannot render for later)."""
        assert notification.topic is not None
        matched, _ = TopicReach(self._planning.subscriptions).page(
            notification.tenant_id,
            notification.topic,
            content=notification.content,
            after=None,
            limit=CHECKED_SUBSCRIBERS,
        )
        recipients = self._recipients.get_recipients(
            notification.tenant_id, [m.recipient_id for m in matched]
        )
        failure = first_failure(parts, occasion_of(notification), recipients)
        if failure is not None:
            recipient, failed = failure
            who = recipient.recipient_id if recipient is not None else "?"
            raise Invalid(["template"], f"does not render for recipient {who}: {failed}")

    def _join_digest(self, built: Built, request: DigestRequest, now: datetime) -> None:
        notification = built.notification
        assert notification.recipient_id is not None
        current = self._planning.digests.get_digest_window(
            notification.tenant_id, notification.recipient_id, request.key
        )
        planned = plan_join(
            request=request,
            notification=notification,
            deliveries=built.deliveries,
            current=current,
            new_window_id=new_notification_id(now),
            now=now,
            max_items=self._planning.digest_max_items,
        )
        if planned is None:
            return
        join, timer = planned
        built.digest = join
        assert notification.digest is not None
        notification.digest.window_id = join.window.window_id
        if timer is not None:
            built.timers.append(timer)


def used_parts(parts: Mapping[str, str], command: SendNotification) -> dict[str, str]:
    """A template's parts but for those the request gave itself (its title, its body)."""
    given = {"title": command.content.title, "body": command.content.body}
    return {part: source for part, source in parts.items() if not given.get(part)}


def occasion_of(notification: Notification) -> Occasion:
    content = notification.content
    return Occasion(
        notification_id=notification.id,
        created_at=notification.created_at,
        severity=content.severity,
        category=content.category,
        data=content.data,
        topic=notification.topic,
        recipient_id=notification.recipient_id,
        deliver_at=notification.deliver_at,
    )


def unattempted(delivery: Delivery) -> bool:
    return (
        delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SCHEDULED)
        and delivery.attempts == 0
    )


def cancelled(delivery: Delivery) -> Delivery:
    after = delivery.model_copy()
    after.status = DeliveryStatus.SKIPPED
    after.reason = Reason.CANCELLED
    after.last_error = "the notification was cancelled before this delivery was attempted"
    after.next_attempt_at = None
    after.delivered_at = None
    after.sweep_at = None
    return after


@dataclass
class Built:
    """A notification ready to store: its deliveries, timers and place in a digest."""

    notification: Notification
    deliveries: list[Delivery]
    timers: list[Timer] = field(default_factory=list)
    digest: DigestJoin | None = None
