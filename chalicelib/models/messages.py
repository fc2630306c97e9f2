"""Queue and topic messages. The SNS topic carries these; the queues receive them raw."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from chalicelib.models.common import Model
from chalicelib.models.stored import Content


class DeliveryMessage(Model):
    """Deliveries of one recipient are due on the receiving queue's channel. Carries the
    notification's content when it fits, so that a send needs no read of the notification;
    the table stays the truth for each delivery's state."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["delivery"] = "delivery"
    tenant_id: str
    notification_id: str
    recipient_id: str
    created_at: str | None = None
    topic: str | None = None
    content: Content | None = None


class FanoutMessage(Model):
    """A topic notification has (more) recipients to expand into deliveries."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["fanout"] = "fanout"
    tenant_id: str
    notification_id: str


class DeadLetterMessage(Model):
    """What a channel's DLQ holds for a delivery that exhausted its attempts."""

    kind: Literal["dead_letter"] = "dead_letter"
    tenant_id: str
    notification_id: str
    channel: str
    recipient_id: str
    attempts: int
    last_error: str | None
