"""The safety net under the pipeline: nothing accepted stays open unnoticed.

Every open notification carries ``sweep_at``: when it should have moved on if all went well
(its publish right after acceptance, its next attempt, a lease running out), plus a grace. The
sweeper publishes again whatever is past that time. This closes the gap between the table write
and the publish (a crash or an SNS failure in between), and recovers messages that died with
their queue (a poison message redriven to the DLQ). A notification republished this many times
without progress has its open deliveries failed, so it ends visible rather than looping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.domain.deliveries import dead_letter_of
from chalicelib.domain.notifications import NotificationService, summarize
from chalicelib.models.common import DeliveryStatus
from chalicelib.models.stored import DeadLetter, Notification
from chalicelib.ports import Clock, NotificationStore, VersionConflict

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
        notifications: NotificationStore,
        announcer: NotificationService,
        clock: Clock,
        sweep_grace: timedelta,
    ) -> None:
        self._notifications = notifications
        self._announcer = announcer
        self._clock = clock
        self._grace = sweep_grace

    def sweep(self, budget: timedelta | None = None) -> SweepReport:
        """Republishes (or abandons) what is overdue; stops when ``budget`` is spent and leaves
        the rest to the next run, so that a backlog never makes the sweep itself time out."""
        now = self._clock.now()
        stop_at = None if budget is None else now + budget
        republished = abandoned = 0
        for notification in self._notifications.due_for_sweep(now, SWEEP_BATCH):
            if stop_at is not None and self._clock.now() >= stop_at:
                break
            try:
                if notification.sweeps >= MAX_SWEEPS:
                    self._abandon(notification)
                    abandoned += 1
                else:
                    notification.sweeps += 1
                    # Back off: a notification that keeps getting stuck is looked at less often.
                    notification.sweep_at = now + self._grace * (2**notification.sweeps)
                    self._notifications.save_notification(notification)
                    self._announcer.publish(notification)
                    republished += 1
            except VersionConflict:
                continue  # it moved meanwhile: someone is working on it
        if republished or abandoned:
            log.info("sweep republished %d, abandoned %d", republished, abandoned)
        return SweepReport(republished, abandoned)

    def _abandon(self, notification: Notification) -> None:
        now = self._clock.now()
        dead: list[DeadLetter] = []
        for delivery in notification.deliveries:
            if delivery.status.is_final:
                continue
            delivery.status = DeliveryStatus.FAILED
            delivery.failed_at = now
            delivery.next_attempt_at = None
            delivery.lease_token = None
            delivery.lease_until = None
            delivery.last_error = f"abandoned: no progress after {MAX_SWEEPS} republishes" + (
                f" (last error: {delivery.last_error})" if delivery.last_error else ""
            )
            dead.append(dead_letter_of(notification, delivery))
        notification.status = summarize(notification)
        notification.sweep_at = None
        self._notifications.save_notification(notification, add_dead_letters=dead)
