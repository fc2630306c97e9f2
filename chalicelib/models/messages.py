"""Queue and topic messages. The SNS topic carries these; the deliveries queue receives them raw."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class NotificationEvent(BaseModel):
    """A notification is ready for (more) delivery work. Carries ids only: the table is the truth."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["notification"] = "notification"
    tenant_id: str
    notification_id: str


class DeadLetterMessage(BaseModel):
    """What the deliveries DLQ holds for a delivery that exhausted its attempts."""

    kind: Literal["dead_letter"] = "dead_letter"
    tenant_id: str
    notification_id: str
    channel: str
    recipient_id: str
    attempts: int
    last_error: str | None
