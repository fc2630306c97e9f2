"""The safety net under the pipeline: nothing accepted stays open unnoticed.

Every open delivery carries ``sweep_at``: when it should have moved on if all went well (its
first message right after acceptance, its next attempt, a lease running out), plus a grace; so
does a topic notification until its fan-out is done. The sweeper queues again whatever is past
that time. This closes the gap between a table write and its message (a crash or an SNS failure
in between) and recovers messages that died with their queue (a poison message redriven to the
DLQ). A delivery swept this many times without progress is failed, and a fan-out given up, so
that each ends visible rather than looping.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.models.common import Channel, DeliveryStatus
from chalicelib.models.messages import DeliveryMessage, FanoutMessage
from chalicelib.models.stored import Delivery, DeliveryKey
from chalicelib.ports import (
    Clock,
    DeliveryStore,
    FanoutStore,
    NotificationStore,
    Publisher,
    PublishFailed,
    SweepStore,
)

log = logging.getLogger(__name__)

MAX_SWEEPS = 5
SWEEP_BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    republished: int
    abandoned: int


class Sweeper:
    def __init__(
        self,
        *,
        sweep: SweepStore,
        deliveries: DeliveryStore,
        notifications: NotificationStore,
        fanout: FanoutStore,
        publisher: Publisher,
        clock: Clock,
        sweep_grace: timedelta,
    ) -> None:
        self._sweep = sweep
        self._deliveries = deliveries
        self._notifications = notifications
        self._fanout = fanout
        self._publisher = publisher
        self._clock = clock
        self._grace = sweep_grace

    def sweep(self, budget: timedelta | None = None) -> SweepReport:
        """Queues again (or gives up) what is overdue; stops when ``budget`` is spent and leaves
        the rest to the next run, so that a backlog never makes the sweep itself time out."""
        now = self._clock.now()
        stop_at = None if budget is None else now + budget
        republished = abandoned = 0
        due: dict[Channel, list[DeliveryMessage]] = defaultdict(list)
        for swept in self._sweep.due_for_sweep(now, SWEEP_BATCH):
            if stop_at is not None and self._clock.now() >= stop_at:
                break
            outcome = None
            if swept.delivery is not None:
                outcome = self._delivery(swept.delivery, due)
            elif swept.notification is not None:
                outcome = self._notification(*swept.notification)
            republished += outcome == "republished"
            abandoned += outcome == "abandoned"
        for channel, messages in due.items():
            # Should this fail, the deliveries' sweep times bring them back next time.
            with contextlib.suppress(PublishFailed):
                self._publisher.enqueue(channel, messages)
        if republished or abandoned:
            log.info("sweep republished %d, abandoned %d", republished, abandoned)
        return SweepReport(republished, abandoned)

    def _delivery(self, key: DeliveryKey, due: dict[Channel, list[DeliveryMessage]]) -> str | None:
        delivery = self._deliveries.get_delivery(key)
        now = self._clock.now()
        if delivery is None or delivery.status.is_final:
            return None
        if delivery.sweep_at is None or delivery.sweep_at > now:
            return None
        if delivery.sweeps >= MAX_SWEEPS:
            self._abandon(delivery)
            return "abandoned"
        # Back off: a delivery that keeps getting stuck is looked at less often.
        if not self._deliveries.bump_sweep(
            delivery, sweep_at=now + self._grace * (2 ** (delivery.sweeps + 1))
        ):
            return None  # it moved meanwhile: someone is working on it
        # No content: the function reads the notification (once per process).
        due[key.channel].append(
            DeliveryMessage(
                tenant_id=key.tenant_id,
                notification_id=key.notification_id,
                recipient_id=key.recipient_id,
            )
        )
        return "republished"

    def _abandon(self, delivery: Delivery) -> None:
        now = self._clock.now()
        failed = delivery.model_copy()
        failed.status = DeliveryStatus.FAILED
        failed.failed_at = now
        failed.next_attempt_at = None
        failed.lease_token = None
        failed.lease_until = None
        failed.sweep_at = None
        failed.last_error = f"abandoned: no progress after {MAX_SWEEPS} republishes" + (
            f" (last error: {delivery.last_error})" if delivery.last_error else ""
        )
        self._deliveries.record(failed, previous=delivery.status, token=None, first=False)

    def _notification(self, tenant_id: str, notification_id: str) -> str | None:
        notification = self._notifications.get_notification(tenant_id, notification_id)
        now = self._clock.now()
        if notification is None or notification.fanout is None or notification.fanout.done:
            return None
        if notification.sweep_at is None or notification.sweep_at > now:
            return None
        if notification.sweeps >= MAX_SWEEPS:
            self._fanout.fail_fanout(
                notification, f"abandoned: fan-out made no progress after {MAX_SWEEPS} republishes"
            )
            return "abandoned"
        if not self._fanout.bump_notification_sweep(
            notification, sweep_at=now + self._grace * (2 ** (notification.sweeps + 1))
        ):
            return None
        try:
            self._publisher.start_fanout(
                FanoutMessage(tenant_id=tenant_id, notification_id=notification_id)
            )
        except PublishFailed:
            return None
        return "republished"
