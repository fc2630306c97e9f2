"""Endpoint health: a recipient's webhook that keeps failing is disabled, and while it fails its
sends are capped, so that one bad endpoint never takes every sender.

An endpoint is failing from its first failed attempt with no success after it. Once it has
failed for longer than the configured period (5 days, like Svix; 60 s in the local stage) with
no success in between, it is disabled: its deliveries are skipped (``endpoint_disabled``) with
no attempt until it is enabled again (a route, or a new URL). Successes leave a trace on their
own delivery record (an index by recipient), so a success costs no extra write: the check for
"a success since" runs only when a failure would disable the endpoint.

While an endpoint fails, each send to it holds one of a few slots (conditional writes on the
recipient), so that a hanging endpoint keeps at most that many senders busy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from chalicelib.models.stored import Delivery
from chalicelib.ports import Clock, EndpointStore, RecipientStore


class Gate(Enum):
    OPEN = "open"
    DISABLED = "disabled"
    BUSY = "busy"


@dataclass(frozen=True)
class Admission:
    gate: Gate
    # The endpoint was failing when looked at: a success clears it.
    failing: bool = False
    slot: int | None = None
    slot_until: datetime | None = None


class EndpointHealth:
    def __init__(
        self,
        *,
        endpoints: EndpointStore,
        recipients: RecipientStore,
        clock: Clock,
        disable_after: timedelta,
        max_concurrency: int,
        rng: random.Random | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._recipients = recipients
        self._clock = clock
        self._disable_after = disable_after
        self._slots = max_concurrency
        self._rng = rng or random.Random()

    def admit(self, delivery: Delivery, until: datetime) -> Admission:
        """Looks at the endpoint before a send that may meet trouble (a retry, or a first
        attempt to an endpoint that was failing when the delivery was planned)."""
        recipient = self._recipients.get_recipient(delivery.tenant_id, delivery.recipient_id)
        if recipient is None or recipient.webhook_url != delivery.address:
            return Admission(Gate.OPEN)
        if recipient.webhook_disabled_at is not None:
            return Admission(Gate.DISABLED)
        if recipient.webhook_failing_since is None:
            return Admission(Gate.OPEN)
        now = self._clock.now()
        first = self._rng.randrange(self._slots)
        for offset in range(self._slots):
            slot = (first + offset) % self._slots
            if self._endpoints.take_endpoint_slot(
                delivery.tenant_id, delivery.recipient_id, slot, until, now
            ):
                return Admission(Gate.OPEN, failing=True, slot=slot, slot_until=until)
        return Admission(Gate.BUSY, failing=True)

    def release(self, delivery: Delivery, admission: Admission) -> None:
        if admission.slot is not None and admission.slot_until is not None:
            self._endpoints.release_endpoint_slot(
                delivery.tenant_id, delivery.recipient_id, admission.slot, admission.slot_until
            )

    def succeeded(self, delivery: Delivery, admission: Admission | None) -> None:
        if admission is not None and admission.failing and delivery.address is not None:
            self._endpoints.clear_webhook_failing(
                delivery.tenant_id, delivery.recipient_id, delivery.address
            )

    def failed(self, delivery: Delivery) -> bool:
        """Notes a failed attempt; True when it disabled the endpoint."""
        if delivery.address is None:
            return False
        now = self._clock.now()
        tenant_id, recipient_id, url = delivery.tenant_id, delivery.recipient_id, delivery.address
        recipient = self._endpoints.note_webhook_failure(tenant_id, recipient_id, url, now)
        if recipient is None or recipient.webhook_disabled_at is not None:
            return False
        since = recipient.webhook_failing_since
        if since is None or now - since < self._disable_after:
            return False
        if self._endpoints.webhook_succeeded_since(tenant_id, recipient_id, since):
            self._endpoints.restart_webhook_failing(tenant_id, recipient_id, url, now)
            return False
        return self._endpoints.disable_webhook(tenant_id, recipient_id, url, since, now)
