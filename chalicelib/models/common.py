"""Field types shared by the API, stored items and queue messages."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)


class Model(BaseModel):
    """The base of every model: validators are built on first use, not at import, so that a
    function's cold start pays only for the models it uses."""

    model_config = ConfigDict(defer_build=True)


RECIPIENT_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
# Words of [A-Za-z0-9_:@-] joined by dots (``ops.db.disk``); a pattern's words may also be ``*``
# (exactly one word) or ``#`` (zero or more words). No nested repetition: matched in linear time.
TOPIC_PATTERN = r"^[A-Za-z0-9_:@-]+(\.[A-Za-z0-9_:@-]+)*$"
TOPIC_PATTERN_PATTERN = r"^([A-Za-z0-9_:@-]+|\*|#)(\.([A-Za-z0-9_:@-]+|\*|#))*$"

RecipientId = Annotated[str, StringConstraints(pattern=RECIPIENT_ID_PATTERN)]
TopicName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=TOPIC_PATTERN)]
TopicPattern = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=TOPIC_PATTERN_PATTERN)
]
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
    SLACK = "slack"
    TEAMS = "teams"
    DISCORD = "discord"
    PUSH = "push"
    APPRISE = "apprise"


class PushPlatform(StrEnum):
    """A mobile push service, reached through an SNS platform application."""

    FCM = "fcm"
    APNS = "apns"
    APNS_SANDBOX = "apns_sandbox"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANKS[self]


_SEVERITY_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    SCHEDULED = "scheduled"

    @property
    def is_final(self) -> bool:
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)


class Reason(StrEnum):
    """Why a delivery is ``skipped`` or ``scheduled`` (api.md, Deliveries of a notification)."""

    NO_ADDRESS = "no_address"
    CHANNEL_UNAVAILABLE = "channel_unavailable"
    OPTED_OUT = "opted_out"
    ENDPOINT_DISABLED = "endpoint_disabled"
    CANCELLED = "cancelled"
    DIGESTED = "digested"
    PUSH_TOKEN_INVALID = "push_token_invalid"  # noqa: S105 (a reason, not a secret)
    DELIVER_AT = "deliver_at"
    QUIET_HOURS = "quiet_hours"


class NotificationStatus(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    DELIVERED = "delivered"
    PARTIALLY_DELIVERED = "partially_delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (
            NotificationStatus.ACCEPTED,
            NotificationStatus.SCHEDULED,
            NotificationStatus.PROCESSING,
        )
