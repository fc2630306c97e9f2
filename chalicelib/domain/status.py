"""A notification's status, as its delivery counts make it (api.md, Notifications)."""

from __future__ import annotations

from chalicelib.models.common import NotificationStatus
from chalicelib.models.stored import Notification


def status_of(notification: Notification) -> NotificationStatus:
    counts = notification.counts
    fanout = notification.fanout
    if fanout is not None and fanout.error is not None:
        return NotificationStatus.FAILED
    expanding = fanout is not None and not fanout.done
    if expanding or counts.open:
        if notification.attempted:
            return NotificationStatus.PROCESSING
        if counts.open and counts.open == counts.scheduled and not expanding:
            return NotificationStatus.SCHEDULED
        return NotificationStatus.ACCEPTED
    if notification.cancelled_at is not None and not notification.attempted:
        return NotificationStatus.CANCELLED
    if counts.delivered and counts.failed:
        return NotificationStatus.PARTIALLY_DELIVERED
    if counts.delivered:
        return NotificationStatus.DELIVERED
    if counts.failed:
        return NotificationStatus.FAILED
    return NotificationStatus.SKIPPED
