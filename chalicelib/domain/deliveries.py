"""Attempting a delivery: at most one sender at a time, and a success is final.

A queue delivers at least once, so one delivery's message can be handled twice, even at the
same time. Every attempt therefore starts by taking the delivery's lease (a conditional write
on its own item, which also returns it: no read first); another handler finds it leased and
backs off. The outcome is written under a second conditional write, with the notification's
counts moved in the same transaction. A success is recorded even if the lease was lost
meanwhile; a failure only by the lease holder.

The one unavoidable duplicate: a process that dies after a receiver's 2xx and before the record
leaves the delivery leased but open; once the lease expires the next attempt sends again with
the same ``webhook-id``, which receivers use to de-duplicate.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from ulid import ULID

from chalicelib.domain.endpoints import Admission, EndpointHealth, Gate
from chalicelib.domain.retry import RetryPolicy
from chalicelib.models.common import Channel, DeliveryStatus, Reason
from chalicelib.models.messages import DeadLetterMessage
from chalicelib.models.stored import (
    MAX_ATTEMPT_LOG,
    Attempt,
    Delivery,
    DeliveryKey,
    Notification,
    Tenant,
)
from chalicelib.ports import (
    Clock,
    DeliveryStore,
    DigestBatch,
    DigestStore,
    NotificationStore,
    Outgoing,
    Publisher,
    RecipientStore,
    SenderRegistry,
    SendOutcome,
)

log = logging.getLogger(__name__)

# How long a send waits for a slot of a failing endpoint before it looks again.
BUSY_ENDPOINT_WAIT_SECONDS = 2.0
NOTIFICATION_CACHE_SIZE = 256
MAX_WRITE_RACES = 10


@dataclass(frozen=True)
class Progress:
    """Where a delivery (or a fan-out) stands after a look at it."""

    finished: bool
    # Seconds until it needs another look (the next attempt or a lease running out).
    wake_in: float | None = None


def outgoing_of(notification: Notification) -> Outgoing:
    return Outgoing(
        notification_id=notification.id,
        created_at=notification.created_at,
        content=notification.content,
        topic=notification.topic,
    )


def endpoint_label(address: str | None) -> str | None:
    """What an attempt's record says of where it went: a URL's scheme and host only (its path
    or query may hold a secret, as chat webhook URLs do), else the address itself."""
    if address is None or "://" not in address:
        return address
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def wake_of(delivery: Delivery, now: datetime) -> datetime | None:
    """When an open delivery can be attempted again; None once it is final."""
    if delivery.status.is_final:
        return None
    wake = now
    for moment in (delivery.next_attempt_at, delivery.lease_until):
        if moment is not None:
            wake = max(wake, moment)
    return wake


def progress_of(delivery: Delivery, now: datetime) -> Progress:
    wake = wake_of(delivery, now)
    if wake is None:
        return Progress(finished=True)
    return Progress(finished=False, wake_in=(wake - now).total_seconds())


class DeliveryService:
    def __init__(
        self,
        *,
        deliveries: DeliveryStore,
        notifications: NotificationStore,
        recipients: RecipientStore,
        tenant_of: Callable[[str], Tenant | None],
        senders: SenderRegistry,
        publisher: Publisher,
        endpoints: EndpointHealth,
        clock: Clock,
        policy: RetryPolicy,
        lease: timedelta,
        sweep_grace: timedelta,
        rng: random.Random | None = None,
        digests: DigestStore | None = None,
    ) -> None:
        self._digests = digests
        self._deliveries = deliveries
        self._notifications = notifications
        self._recipients = recipients
        self._tenant_of = tenant_of
        self._senders = senders
        self._publisher = publisher
        self._endpoints = endpoints
        self._clock = clock
        self._policy = policy
        self._lease = lease
        self._grace = sweep_grace
        self._rng = rng or random.Random()
        # Both caches are shared by the threads that handle one batch's records.
        self._cache_lock = threading.Lock()
        self._outgoing: OrderedDict[tuple[str, str], Outgoing] = OrderedDict()
        # Endpoints this process saw fail (and not succeed since): their sends are admitted by
        # endpoint health even on a first attempt, at no cost to healthy endpoints.
        self._failing: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    def process(self, key: DeliveryKey, outgoing: Outgoing | None = None) -> Progress:
        """Attempts the delivery if it is due, and records the outcome."""
        now = self._clock.now()
        token = str(ULID())
        until = now + self._lease
        claim = self._deliveries.claim(
            key, token=token, now=now, until=until, sweep_at=until + self._grace
        )
        if claim is None:
            log.warning("delivery %s not found", key.subject())
            return Progress(finished=True)
        delivery = claim.delivery
        if not claim.held:
            if delivery.status is DeliveryStatus.SCHEDULED:
                return Progress(finished=True)  # its timer queues it when it is due
            return progress_of(delivery, now)
        admission = None
        if delivery.channel is Channel.WEBHOOK and (
            delivery.attempts > 0 or delivery.endpoint_failing or self._known_failing(delivery)
        ):
            admission = self._endpoints.admit(delivery, until)
            if admission.gate is not Gate.OPEN:
                return self._hold(delivery, token, admission, now)
        started = self._clock.now()
        try:
            outcome = self._send(delivery, outgoing)
        finally:
            if admission is not None:
                self._endpoints.release(delivery, admission)
        return self._record(delivery, token, outcome, admission, started)

    @staticmethod
    def _endpoint_of(delivery: Delivery) -> tuple[str, str, str]:
        return (delivery.tenant_id, delivery.recipient_id, delivery.address or "")

    def _known_failing(self, delivery: Delivery) -> bool:
        with self._cache_lock:
            return self._endpoint_of(delivery) in self._failing

    def _remember(self, delivery: Delivery, *, failing: bool) -> None:
        endpoint = self._endpoint_of(delivery)
        with self._cache_lock:
            if not failing:
                self._failing.pop(endpoint, None)
                return
            self._failing[endpoint] = None
            if len(self._failing) > NOTIFICATION_CACHE_SIZE:
                self._failing.popitem(last=False)

    def _hold(
        self, delivery: Delivery, token: str, admission: Admission, now: datetime
    ) -> Progress:
        """A delivery that is not sent now: skipped for a disabled endpoint; for a busy one,
        left to look again shortly (its lease is released without an attempt)."""
        updated = delivery.model_copy()
        updated.lease_token = None
        updated.lease_until = None
        if admission.gate is Gate.DISABLED:
            updated.status = DeliveryStatus.SKIPPED
            updated.reason = Reason.ENDPOINT_DISABLED
            updated.last_error = "the recipient's webhook is disabled after failing"
            updated.next_attempt_at = None
            updated.sweep_at = None
        else:
            updated.next_attempt_at = now + timedelta(seconds=BUSY_ENDPOINT_WAIT_SECONDS)
            updated.sweep_at = updated.next_attempt_at + self._lease + self._grace
        self._deliveries.record(updated, previous=delivery.status, token=token, first=False)
        return progress_of(updated, now)

    def _send(self, delivery: Delivery, outgoing: Outgoing | None) -> SendOutcome:
        sender = self._senders.get(delivery.channel)
        tenant = self._tenant_of(delivery.tenant_id)
        if sender is None:
            return SendOutcome.permanent_failure(f"no sender for channel {delivery.channel}")
        if tenant is None:
            return SendOutcome.permanent_failure("tenant no longer exists")
        message = outgoing or self._outgoing_of(delivery)
        if message is None:
            return SendOutcome.permanent_failure("notification no longer exists")
        if delivery.content is not None:
            # Its recipient's own rendering of the notification's template.
            message = replace(message, content=delivery.content)
        try:
            return sender.send(message, delivery, tenant)
        except Exception as exc:  # a sender bug must not pass for a receiver's answer
            log.exception("sender %s raised", delivery.channel)
            return SendOutcome.transient(f"internal error: {type(exc).__name__}")

    def _outgoing_of(self, delivery: Delivery) -> Outgoing | None:
        """The notification's content, read once per process (it never changes)."""
        key = (delivery.tenant_id, delivery.notification_id)
        with self._cache_lock:
            cached = self._outgoing.get(key)
            if cached is not None:
                self._outgoing.move_to_end(key)
                return cached
        notification = self._notifications.get_notification(*key)
        if notification is None:
            return None
        outgoing = outgoing_of(notification)
        digest = notification.digest_of
        if digest is not None and self._digests is not None:
            entries = self._digests.digest_entries(notification.tenant_id, digest.window_id)
            outgoing = replace(outgoing, digest=DigestBatch(key=digest.key, entries=entries))
        with self._cache_lock:
            self._outgoing[key] = outgoing
            if len(self._outgoing) > NOTIFICATION_CACHE_SIZE:
                self._outgoing.popitem(last=False)
        return outgoing

    def _record(
        self,
        delivery: Delivery,
        token: str,
        outcome: SendOutcome,
        admission: Admission | None,
        started: datetime,
    ) -> Progress:
        now = self._clock.now()
        for _ in range(MAX_WRITE_RACES):
            updated = self.apply(delivery, outcome, now, started=started)
            if self._deliveries.record(
                updated,
                previous=delivery.status,
                token=None if outcome.delivered else token,
                first=delivery.attempts == 0,
            ):
                break
            # Someone else wrote first. A failure counts only under its own lease; a success
            # is recorded over whatever open state stands now, and never over a final one.
            current = self._deliveries.get_delivery(delivery.key)
            if current is None or not outcome.delivered or current.status.is_final:
                return Progress(finished=True) if current is None else progress_of(current, now)
            delivery = current
        else:
            raise RuntimeError(f"delivery {delivery.key.subject()}: too many concurrent writers")
        if delivery.channel is Channel.WEBHOOK:
            self._remember(delivery, failing=not outcome.delivered)
            if outcome.delivered:
                self._endpoints.succeeded(delivery, admission)
            else:
                self._endpoints.failed(delivery)
        if outcome.invalid and delivery.channel is Channel.PUSH:
            # The platform will never take these tokens: the recipient forgets them.
            self._recipients.remove_push_tokens(
                delivery.tenant_id, delivery.recipient_id, outcome.invalid
            )
        if updated.status is DeliveryStatus.FAILED:
            self._announce_dead_letter(updated)
        return progress_of(updated, now)

    def apply(
        self,
        delivery: Delivery,
        outcome: SendOutcome,
        now: datetime,
        *,
        started: datetime | None = None,
    ) -> Delivery:
        """The delivery after one attempt with ``outcome`` (sent at ``started``), with the
        attempt added to its log."""
        updated = self._outcome_of(delivery, outcome, now)
        attempt = Attempt(
            at=started or now,
            outcome=updated.status,
            endpoint=endpoint_label(delivery.address),
            http_status=outcome.http_status,
            latency_ms=None if started is None else round((now - started).total_seconds() * 1000),
            error=None if outcome.delivered else outcome.error,
            next_attempt_at=updated.next_attempt_at,
        )
        updated.attempt_log = [*delivery.attempt_log, attempt][-MAX_ATTEMPT_LOG:]
        return updated

    def _outcome_of(self, delivery: Delivery, outcome: SendOutcome, now: datetime) -> Delivery:
        updated = delivery.model_copy()
        updated.attempts += 1
        updated.budget_attempts += 1
        updated.lease_token = None
        updated.lease_until = None
        if outcome.remaining is not None:
            updated.targets = list(outcome.remaining)
        updated.targets_reached += outcome.reached
        if outcome.delivered:
            updated.status = DeliveryStatus.DELIVERED
            updated.delivered_at = now
            updated.next_attempt_at = None
            updated.sweep_at = None
            return updated
        updated.last_error = outcome.error
        if outcome.skip_reason is not None:
            updated.status = DeliveryStatus.SKIPPED
            updated.reason = outcome.skip_reason
            updated.next_attempt_at = None
            updated.sweep_at = None
            return updated
        delay = None
        if not outcome.permanent:
            delay = self._policy.delay_after(
                updated.budget_attempts, outcome.retry_after, self._rng
            )
        if delay is None:
            updated.status = DeliveryStatus.FAILED
            updated.failed_at = now
            updated.next_attempt_at = None
            updated.sweep_at = None
            return updated
        updated.status = DeliveryStatus.RETRYING
        updated.next_attempt_at = now + timedelta(seconds=delay)
        updated.sweep_at = updated.next_attempt_at + self._lease + self._grace
        return updated

    def _announce_dead_letter(self, delivery: Delivery) -> None:
        try:
            self._publisher.dead_letter(
                delivery.channel,
                DeadLetterMessage(
                    tenant_id=delivery.tenant_id,
                    notification_id=delivery.notification_id,
                    channel=delivery.channel.value,
                    recipient_id=delivery.recipient_id,
                    attempts=delivery.attempts,
                    last_error=delivery.last_error,
                ),
            )
        except Exception:  # the table's record is the truth; the queue is a copy
            log.exception("could not copy dead letter %s to the DLQ", delivery.key.subject())
