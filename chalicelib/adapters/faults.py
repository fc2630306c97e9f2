"""Fault injection for the local stage's fault campaign: wrappers around ports, installed by the
composition root in the local stage only. The domain knows nothing of them.

A crash ends the process at once, with no cleanup, as a Lambda that runs out of memory or is
killed would: the queue-trigger runner sees the invocation fail and the batch returns to the
queue after its visibility timeout. Each injected fault, and each send with how it ended, is
written down in a journal (one JSON line each) that the campaign accounts with.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Sequence
from datetime import datetime

from chalicelib.models.common import Channel, DeliveryStatus
from chalicelib.models.messages import DeadLetterMessage, DeliveryMessage, FanoutMessage
from chalicelib.models.stored import Counts, Delivery, DeliveryKey, Notification, Tenant
from chalicelib.ports import (
    ChannelSender,
    Claim,
    DeliveryStore,
    FanoutStore,
    Outgoing,
    Publisher,
    PublishFailed,
    SendOutcome,
)

log = logging.getLogger(__name__)

# Items per BatchWriteItem.
BATCH_WRITE = 25


class FaultInjector:
    """Rolls the dice for each fault point and keeps the journal."""

    EXIT_CODE = 70

    def __init__(
        self,
        *,
        crash_before_send: float = 0.0,
        crash_after_send: float = 0.0,
        publish_failure: float = 0.0,
        crash_in_fanout: float = 0.0,
        journal: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._crash = {
            "before_send": crash_before_send,
            "after_send": crash_after_send,
            "fanout_mid_batch": crash_in_fanout,
            "fanout_between_pages": crash_in_fanout,
        }
        self._publish_failure = publish_failure
        self._journal = journal
        self._rng = rng or random.Random()

    def crash_point(self, point: str, subject: str) -> None:
        probability = self._crash.get(point, 0.0)
        if probability and self._rng.random() < probability:
            self.note(f"crash_{point}", subject)
            log.warning("injected fault: crash %s (%s)", point, subject)
            logging.shutdown()
            os._exit(self.EXIT_CODE)

    def publish_fails(self, subject: str) -> bool:
        if self._publish_failure and self._rng.random() < self._publish_failure:
            self.note("publish_failure", subject)
            return True
        return False

    def note(self, event: str, subject: str) -> None:
        """Appends to the journal: an injected fault, or a step the campaign accounts for:
        ``attempt`` (a send begins), and how it ended: ``failed``, ``recorded`` (a success
        stored), ``superseded`` (a success that another attempt had stored first). An attempt
        with no ending died on the way."""
        if self._journal is None:
            return
        line = json.dumps({"fault": event, "subject": subject}) + "\n"
        fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


class FaultySender:
    def __init__(self, inner: ChannelSender, faults: FaultInjector) -> None:
        self.channel = inner.channel
        self._inner = inner
        self._faults = faults

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        subject = delivery.key.subject()
        self._faults.crash_point("before_send", subject)
        self._faults.note("attempt", subject)
        outcome = self._inner.send(outgoing, delivery, tenant)
        if outcome.delivered:
            self._faults.crash_point("after_send", subject)
        else:
            self._faults.note("failed", subject)
        return outcome


class WitnessedDeliveryStore:
    """Writes down how each recorded success ended: stored, or found stored by another."""

    def __init__(self, inner: DeliveryStore, faults: FaultInjector) -> None:
        self._inner = inner
        self._faults = faults

    def get_delivery(self, key: DeliveryKey) -> Delivery | None:
        return self._inner.get_delivery(key)

    def claim(
        self, key: DeliveryKey, *, token: str, now: datetime, until: datetime, sweep_at: datetime
    ) -> Claim | None:
        return self._inner.claim(key, token=token, now=now, until=until, sweep_at=sweep_at)

    def record(
        self, delivery: Delivery, *, previous: DeliveryStatus, token: str | None, first: bool
    ) -> bool:
        recorded = self._inner.record(delivery, previous=previous, token=token, first=first)
        if delivery.status is DeliveryStatus.DELIVERED:
            if recorded:
                self._faults.note("recorded", delivery.key.subject())
            elif (current := self._inner.get_delivery(delivery.key)) is None or (
                current.status.is_final
            ):
                # Stored as final by another attempt: this success ends here. (An open one
                # means the success is written again over it.)
                self._faults.note("superseded", delivery.key.subject())
        return recorded

    def reopen(
        self, deliveries: Sequence[Delivery], *, now: datetime, sweep_at: datetime
    ) -> list[Delivery]:
        return self._inner.reopen(deliveries, now=now, sweep_at=sweep_at)

    def bump_sweep(self, delivery: Delivery, *, sweep_at: datetime) -> bool:
        return self._inner.bump_sweep(delivery, sweep_at=sweep_at)

    def move(
        self, changes: Sequence[tuple[Delivery, Delivery]], *, now: datetime
    ) -> list[Delivery]:
        return self._inner.move(changes, now=now)

    def get_deliveries(self, keys: Sequence[DeliveryKey]) -> list[Delivery]:
        return self._inner.get_deliveries(keys)


class FaultyPublisher:
    def __init__(self, inner: Publisher, faults: FaultInjector) -> None:
        self._inner = inner
        self._faults = faults

    def announce(self, message: DeliveryMessage, channels: Sequence[Channel]) -> None:
        self._maybe_fail(message.notification_id)
        self._inner.announce(message, channels)

    def start_fanout(self, message: FanoutMessage) -> None:
        self._maybe_fail(message.notification_id)
        self._inner.start_fanout(message)

    def enqueue(self, channel: Channel, messages: Sequence[DeliveryMessage]) -> None:
        if messages:
            self._maybe_fail(messages[0].notification_id)
        self._inner.enqueue(channel, messages)

    def dead_letter(self, channel: Channel, message: DeadLetterMessage) -> None:
        self._inner.dead_letter(channel, message)

    def _maybe_fail(self, subject: str) -> None:
        if self._faults.publish_fails(subject):
            raise PublishFailed("injected fault: publish failure")


class FaultyFanoutStore:
    """Crashes in the middle of a page's batch writes, and between pages."""

    def __init__(self, inner: FanoutStore, faults: FaultInjector) -> None:
        self._inner = inner
        self._faults = faults

    def begin_page(self, notification: Notification) -> bool:
        return self._inner.begin_page(notification)

    def existing_deliveries(self, keys: Sequence[DeliveryKey]) -> dict[DeliveryKey, Delivery]:
        return self._inner.existing_deliveries(keys)

    def put_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        """Writes in DynamoDB's batches of 25, with a chance to die between two of them."""
        for start in range(0, len(deliveries), BATCH_WRITE):
            if start:
                self._faults.crash_point("fanout_mid_batch", deliveries[0].notification_id)
            self._inner.put_deliveries(deliveries[start : start + BATCH_WRITE])

    def checkpoint_page(
        self,
        notification: Notification,
        *,
        cursor: str | None,
        counts: Counts,
        recipients: int,
        done: bool,
        sweep_at: datetime | None,
    ) -> bool:
        ended = self._inner.checkpoint_page(
            notification,
            cursor=cursor,
            counts=counts,
            recipients=recipients,
            done=done,
            sweep_at=sweep_at,
        )
        if ended and not done:
            self._faults.crash_point("fanout_between_pages", notification.id)
        return ended

    def fail_fanout(self, notification: Notification, error: str) -> None:
        self._inner.fail_fanout(notification, error)

    def bump_notification_sweep(self, notification: Notification, *, sweep_at: datetime) -> bool:
        return self._inner.bump_notification_sweep(notification, sweep_at=sweep_at)
