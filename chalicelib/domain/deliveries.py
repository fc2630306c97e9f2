"""Attempting deliveries: at most one sender at a time per delivery, and a success is final.

A queue delivers at least once, so one notification's message can be handled twice, even at
the same time. Every attempt therefore starts by taking a lease on the deliveries it is about to
try (a conditional write on the notification's version); another handler finds them leased and
backs off. After the sends, the outcomes are recorded under a second conditional write. A
success is recorded even if the lease was lost meanwhile; a failure only by the lease holder.

The one unavoidable duplicate: a process that dies after a receiver's 2xx and before the record
leaves the delivery leased but open; once the lease expires the next attempt sends again with
the same ``webhook-id``, which receivers use to de-duplicate.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ulid import ULID

from chalicelib.domain.notifications import summarize
from chalicelib.domain.retry import RetryPolicy
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus
from chalicelib.models.messages import DeadLetterMessage
from chalicelib.models.stored import DeadLetter, Delivery, Notification, Tenant
from chalicelib.ports import (
    Clock,
    FaultInjector,
    NotificationStore,
    Publisher,
    SenderRegistry,
    SendOutcome,
    VersionConflict,
)

log = logging.getLogger(__name__)

MAX_WRITE_RACES = 20


@dataclass(frozen=True)
class Progress:
    """Where a notification stands after a look at it."""

    finished: bool
    # Seconds until it needs another look (the next attempt or a lease running out).
    wake_in: float | None = None


@dataclass(frozen=True)
class _Claim:
    notification: Notification
    due: list[Delivery]
    token: str


@dataclass(frozen=True)
class _Attempt:
    channel: Channel
    recipient_id: str
    outcome: SendOutcome


def _subject(notification: Notification, delivery: Delivery) -> str:
    return f"{notification.id}/{delivery.channel.value}"


def is_due(delivery: Delivery, now: datetime) -> bool:
    if delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING):
        return False
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return False
    return delivery.lease_until is None or delivery.lease_until <= now


def next_wake(notification: Notification, now: datetime) -> datetime | None:
    """When the earliest open delivery can be attempted again; None when all are final."""
    wakes = []
    for delivery in notification.deliveries:
        if delivery.status.is_final:
            continue
        wake = now
        if delivery.next_attempt_at is not None:
            wake = max(wake, delivery.next_attempt_at)
        if delivery.lease_until is not None:
            wake = max(wake, delivery.lease_until)
        wakes.append(wake)
    return min(wakes) if wakes else None


def dead_letter_of(notification: Notification, delivery: Delivery) -> DeadLetter:
    assert delivery.failed_at is not None
    return DeadLetter(
        tenant_id=notification.tenant_id,
        notification_id=notification.id,
        channel=delivery.channel,
        recipient_id=delivery.recipient_id,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        failed_at=delivery.failed_at,
    )


class DeliveryService:
    def __init__(
        self,
        *,
        notifications: NotificationStore,
        tenant_of: Callable[[str], Tenant | None],
        senders: SenderRegistry,
        publisher: Publisher,
        clock: Clock,
        policy: RetryPolicy,
        faults: FaultInjector,
        lease: timedelta,
        sweep_grace: timedelta,
        rng: random.Random | None = None,
    ) -> None:
        self._notifications = notifications
        self._tenant_of = tenant_of
        self._senders = senders
        self._publisher = publisher
        self._clock = clock
        self._policy = policy
        self._faults = faults
        self._lease = lease
        self._grace = sweep_grace
        self._rng = rng or random.Random()

    def process(self, tenant_id: str, notification_id: str) -> Progress:
        """Attempts every delivery of the notification that is due, and records the outcomes."""
        claim = self._claim(tenant_id, notification_id)
        if isinstance(claim, Progress):
            return claim
        attempts = [self._attempt(claim.notification, delivery) for delivery in claim.due]
        return self._record(claim.notification, claim.token, attempts)

    def _claim(self, tenant_id: str, notification_id: str) -> _Claim | Progress:
        for _ in range(MAX_WRITE_RACES):
            notification = self._notifications.get_notification(tenant_id, notification_id)
            if notification is None:
                log.warning("notification %s/%s not found", tenant_id, notification_id)
                return Progress(finished=True)
            now = self._clock.now()
            due = [delivery for delivery in notification.deliveries if is_due(delivery, now)]
            if not due:
                return self._settle(notification, now)
            token = str(ULID())
            for delivery in due:
                delivery.lease_token = token
                delivery.lease_until = now + self._lease
            notification.status = NotificationStatus.PROCESSING
            notification.sweep_at = now + self._lease + self._grace
            try:
                self._notifications.save_notification(notification)
            except VersionConflict:
                continue
            return _Claim(notification, due, token)
        raise VersionConflict(f"notification {notification_id}: too many concurrent writers")

    def _settle(self, notification: Notification, now: datetime) -> Progress:
        """Nothing is due: finish the notification if every delivery is final, else say when
        to look again."""
        wake = next_wake(notification, now)
        if wake is not None:
            return Progress(finished=False, wake_in=(wake - now).total_seconds())
        status = summarize(notification)
        if notification.status is status and notification.sweep_at is None:
            return Progress(finished=True)
        notification.status = status
        notification.sweep_at = None
        try:
            self._notifications.save_notification(notification)
        except VersionConflict:
            return Progress(finished=False, wake_in=0.0)
        return Progress(finished=True)

    def _attempt(self, notification: Notification, delivery: Delivery) -> _Attempt:
        self._faults.crash_point("before_send", _subject(notification, delivery))
        sender = self._senders.get(delivery.channel)
        tenant = self._tenant_of(notification.tenant_id)
        if sender is None:
            outcome = SendOutcome.permanent_failure(f"no sender for channel {delivery.channel}")
        elif tenant is None:
            outcome = SendOutcome.permanent_failure("tenant no longer exists")
        else:
            self._faults.witness("attempt", _subject(notification, delivery))
            try:
                outcome = sender.send(notification, delivery, tenant)
            except Exception as exc:  # a sender bug must not pass for a receiver's answer
                log.exception("sender %s raised", delivery.channel)
                outcome = SendOutcome.transient(f"internal error: {type(exc).__name__}")
            if not outcome.delivered:
                self._faults.witness("failed", _subject(notification, delivery))
        if outcome.delivered:
            self._faults.crash_point("after_send", _subject(notification, delivery))
        return _Attempt(delivery.channel, delivery.recipient_id, outcome)

    def _record(self, claimed: Notification, token: str, attempts: Sequence[_Attempt]) -> Progress:
        """Writes the outcomes. The first try builds on the claimed copy (usually still current,
        which saves a read); a version conflict means someone wrote meanwhile: read and redo."""
        notification: Notification | None = claimed
        for _ in range(MAX_WRITE_RACES):
            if notification is None:
                return Progress(finished=True)
            now = self._clock.now()
            superseded = {
                (attempt.channel, attempt.recipient_id)
                for attempt in attempts
                if attempt.outcome.delivered
                and (delivery := notification.delivery(attempt.channel, attempt.recipient_id))
                and delivery.status.is_final
            }
            dead = [
                dead_letter_of(notification, delivery)
                for attempt in attempts
                if (delivery := self._apply(notification, attempt, token, now)) is not None
            ]
            notification.status = summarize(notification)
            notification.sweeps = 0
            wake = next_wake(notification, now)
            notification.sweep_at = None if wake is None else wake + self._grace
            try:
                self._notifications.save_notification(notification, add_dead_letters=dead)
            except VersionConflict:
                notification = self._notifications.get_notification(claimed.tenant_id, claimed.id)
                continue
            for attempt in attempts:
                if attempt.outcome.delivered:
                    key = (attempt.channel, attempt.recipient_id)
                    event = "superseded" if key in superseded else "recorded"
                    self._faults.witness(event, f"{notification.id}/{attempt.channel.value}")
            for letter in dead:
                self._announce_dead_letter(letter)
            if wake is None:
                return Progress(finished=True)
            return Progress(finished=False, wake_in=(wake - now).total_seconds())
        raise VersionConflict(f"notification {claimed.id}: too many concurrent writers")

    def _apply(
        self, notification: Notification, attempt: _Attempt, token: str, now: datetime
    ) -> Delivery | None:
        """Writes one outcome into the notification; returns the delivery if it just failed."""
        delivery = notification.delivery(attempt.channel, attempt.recipient_id)
        if delivery is None or delivery.status.is_final:
            return None
        outcome = attempt.outcome
        ours = delivery.lease_token == token
        if not outcome.delivered and not ours:
            # The lease ran out and someone else holds it now; their outcome will count.
            return None
        delivery.attempts += 1
        delivery.budget_attempts += 1
        delivery.lease_token = None
        delivery.lease_until = None
        if outcome.delivered:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            return None
        delivery.last_error = outcome.error
        delay = None
        if not outcome.permanent:
            delay = self._policy.delay_after(
                delivery.budget_attempts, outcome.retry_after, self._rng
            )
        if delay is None:
            delivery.status = DeliveryStatus.FAILED
            delivery.failed_at = now
            delivery.next_attempt_at = None
            return delivery
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        return None

    def _announce_dead_letter(self, letter: DeadLetter) -> None:
        try:
            self._publisher.dead_letter(
                DeadLetterMessage(
                    tenant_id=letter.tenant_id,
                    notification_id=letter.notification_id,
                    channel=letter.channel.value,
                    recipient_id=letter.recipient_id,
                    attempts=letter.attempts,
                    last_error=letter.last_error,
                )
            )
        except Exception:  # the table's dead-letter entry is the record; the queue is a copy
            log.exception("could not copy dead letter %s to the DLQ", letter.notification_id)
