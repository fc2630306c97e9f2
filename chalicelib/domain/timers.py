"""The timers that scheduled deliveries need (see ``schedules``)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.models.common import DeliveryStatus
from chalicelib.models.scheduling import Timer, TimerKind
from chalicelib.models.stored import Delivery


def release_timer(
    tenant_id: str, notification_id: str, deliveries: Sequence[Delivery]
) -> Timer | None:
    """The timer that releases one recipient's scheduled deliveries (all due at once)."""
    held = [d for d in deliveries if d.status is DeliveryStatus.SCHEDULED]
    if not held or held[0].next_attempt_at is None:
        return None
    return Timer(
        kind=TimerKind.RELEASE,
        tenant_id=tenant_id,
        due=held[0].next_attempt_at,
        notification_id=notification_id,
        recipient_id=held[0].recipient_id,
        channels=[d.channel for d in held],
    )
