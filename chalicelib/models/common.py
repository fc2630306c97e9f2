"""Field types shared by the API, stored items and queue messages."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, StringConstraints, WithJsonSchema

RECIPIENT_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"

RecipientId = Annotated[str, StringConstraints(pattern=RECIPIENT_ID_PATTERN)]
TopicName = Annotated[str, StringConstraints(pattern=RECIPIENT_ID_PATTERN)]
Phone = Annotated[str, StringConstraints(pattern=PHONE_PATTERN)]


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a ``Z`` suffix."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


Timestamp = Annotated[
    datetime,
    AfterValidator(_require_aware),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    SMS = "sms"
    INBOX = "inbox"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)


class NotificationStatus(StrEnum):
    ACCEPTED = "accepted"
    PROCESSING = "processing"
    DELIVERED = "delivered"
    PARTIALLY_DELIVERED = "partially_delivered"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        return self not in (NotificationStatus.ACCEPTED, NotificationStatus.PROCESSING)
