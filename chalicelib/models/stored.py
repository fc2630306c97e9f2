"""What Tocsin keeps in its table. Adapters persist these; the domain reads and changes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from chalicelib.models.common import (
    Channel,
    DeliveryStatus,
    NotificationStatus,
    Severity,
    Timestamp,
)


class Stored(BaseModel):
    model_config = ConfigDict(validate_assignment=False)


class Tenant(Stored):
    name: str
    webhook_secret: str
    created_at: Timestamp


class ApiKeyRecord(Stored):
    prefix: str
    tenant: str
    key_hash: str
    created_at: Timestamp


class Recipient(Stored):
    tenant_id: str
    recipient_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None
    preferences: dict[str, Any] | None = None
    created_at: Timestamp
    updated_at: Timestamp


class Delivery(Stored):
    """One channel x one recipient of a notification, with its attempt bookkeeping."""

    channel: Channel
    recipient_id: str
    # Snapshot of the address at acceptance: later edits of the recipient do not redirect
    # a notification already accepted.
    address: str | None = None
    # Standard Webhooks message id: the same on every attempt of this delivery.
    webhook_id: str | None = None
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    # Attempts since the last manual retry: the retry schedule counts these.
    budget_attempts: int = 0
    last_error: str | None = None
    delivered_at: Timestamp | None = None
    failed_at: Timestamp | None = None
    next_attempt_at: Timestamp | None = None
    lease_token: str | None = None
    lease_until: Timestamp | None = None


class Notification(Stored):
    tenant_id: str
    id: str
    created_at: Timestamp
    recipient_id: str | None = None
    topic: str | None = None
    channels: list[Channel]
    title: str
    body: str | None = None
    severity: Severity = Severity.INFO
    category: str | None = None
    data: dict[str, Any] | None = None
    idempotency_key: str | None = None
    status: NotificationStatus = NotificationStatus.ACCEPTED
    deliveries: list[Delivery]
    # When the sweeper should look at this notification if it is still open; None once final.
    sweep_at: Timestamp | None = None
    sweeps: int = 0
    # Optimistic concurrency: every write expects the version it read.
    version: int = 0

    def delivery(self, channel: Channel, recipient_id: str) -> Delivery | None:
        for delivery in self.deliveries:
            if delivery.channel is channel and delivery.recipient_id == recipient_id:
                return delivery
        return None


class InboxItem(Stored):
    tenant_id: str
    recipient_id: str
    notification_id: str
    title: str
    body: str | None = None
    severity: Severity
    category: str | None = None
    data: dict[str, Any] | None = None
    created_at: Timestamp
    read_at: Timestamp | None = None


class DeadLetter(Stored):
    tenant_id: str
    notification_id: str
    channel: Channel
    recipient_id: str
    attempts: int
    last_error: str | None = None
    failed_at: Timestamp


class IdempotencyRecord(Stored):
    tenant_id: str
    key: str
    body_hash: str
    notification_id: str
    expires_at: datetime
