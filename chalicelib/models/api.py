"""Request and response bodies of the HTTP API; /openapi.json is generated from these."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.models.common import (
    Channel,
    DeliveryStatus,
    NotificationStatus,
    Phone,
    Reason,
    RecipientId,
    Severity,
    Timestamp,
    TopicName,
    TopicPattern,
)

MAX_DATA_BYTES = 16 * 1024
# Nesting deeper than this in free-form JSON (data, preferences) is refused: it serves no
# notification and would cost every later read a deep recursion.
MAX_JSON_DEPTH = 32


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests (a scalar is 0); iterative, so any depth is safe to measure."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item]
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def _shallow(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _plain_email(value: str) -> str:
    """A plain address (no display name), kept as given; reserved test domains are fine."""
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_plain_email)]
ShallowObject = Annotated[dict[str, Any], AfterValidator(_shallow)]


# C0 and C1 control characters (CR and LF among them), DEL, and the Unicode line separators.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _single_line(value: str) -> str:
    """A one-line text: a CR/LF in a title must never reach an email header."""
    if _LINE_BREAKING.search(value):
        raise ValueError("must be one line, without control characters")
    return value


SingleLine = Annotated[str, AfterValidator(_single_line)]


def _omit_none(value: object) -> bool:
    return value is None


class WriteModel(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class RecipientIn(WriteModel):
    name: SingleLine | None = Field(default=None, max_length=200)
    email: Email | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +14155550100")
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Absolute https URL (plain http and loopback only in the local stage)",
    )
    preferences: ShallowObject | None = None


class RecipientOut(BaseModel):
    recipient_id: RecipientId
    name: str | None = Field(default=None, exclude_if=_omit_none)
    email: str | None = Field(default=None, exclude_if=_omit_none)
    phone: str | None = Field(default=None, exclude_if=_omit_none)
    webhook_url: str | None = Field(default=None, exclude_if=_omit_none)
    webhook_status: Literal["enabled", "disabled"] | None = Field(
        default=None,
        exclude_if=_omit_none,
        description="With a webhook_url: disabled after failing for longer than the period",
    )
    webhook_disabled_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    preferences: dict[str, Any] | None = Field(default=None, exclude_if=_omit_none)
    created_at: Timestamp
    updated_at: Timestamp


class NotificationIn(WriteModel):
    recipient_id: RecipientId | None = Field(
        default=None, description="Exactly one of recipient_id and topic"
    )
    topic: TopicName | None = None
    channels: list[Channel] | None = Field(
        default=None,
        min_length=1,
        max_length=len(Channel),
        description="Default: every channel the recipient has an address for, and inbox",
    )
    title: SingleLine = Field(min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=4000)
    severity: Severity | None = Field(default=None, description="Default (also for null): info")
    category: SingleLine | None = Field(default=None, min_length=1, max_length=128)
    data: ShallowObject | None = Field(
        default=None, description=f"Up to 16 KiB serialized, {MAX_JSON_DEPTH} levels deep"
    )
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[Channel] | None) -> list[Channel] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value

    @field_validator("data")
    @classmethod
    def _data_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_DATA_BYTES:
                raise ValueError(f"data is {size} bytes serialized; the limit is {MAX_DATA_BYTES}")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> NotificationIn:
        if (self.recipient_id is None) == (self.topic is None):
            raise ValueError("exactly one of recipient_id and topic is required")
        return self


class AttemptOut(BaseModel):
    at: Timestamp
    outcome: DeliveryStatus = Field(description="The delivery's status after this attempt")
    endpoint: str | None = Field(
        default=None, description="Scheme and host of a URL (never its path), or the address"
    )
    http_status: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    next_attempt_at: Timestamp | None = None


class DeliveryOut(BaseModel):
    channel: Channel
    recipient_id: str
    status: DeliveryStatus
    attempts: int
    reason: Reason | None = Field(
        default=None, exclude_if=_omit_none, description="Set when skipped or scheduled"
    )
    last_error: str | None = Field(default=None, exclude_if=_omit_none)
    delivered_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    failed_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    next_attempt_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    attempt_log: list[AttemptOut] | None = Field(
        default=None,
        exclude_if=_omit_none,
        description="The most recent attempts, oldest first (deliveries listing only)",
    )


class DeliveryCountsOut(BaseModel):
    pending: int
    retrying: int
    delivered: int
    failed: int
    skipped: int
    scheduled: int


class NotificationOut(BaseModel):
    id: str
    status: NotificationStatus
    created_at: Timestamp
    recipient_id: str | None = Field(default=None, exclude_if=_omit_none)
    topic: str | None = Field(default=None, exclude_if=_omit_none)
    channels: list[Channel] | None = Field(default=None, exclude_if=_omit_none)
    title: str
    body: str | None
    severity: Severity
    category: str | None
    data: dict[str, Any] | None
    idempotency_key: str | None = Field(default=None, exclude_if=_omit_none)
    delivery_counts: DeliveryCountsOut
    recipients: int = Field(description="Distinct recipients with at least one delivery")
    deliveries: list[DeliveryOut] | None = Field(
        default=None,
        exclude_if=_omit_none,
        description="A one-recipient notification's deliveries (a topic's: GET .../deliveries)",
    )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next: str | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next: str | None


class InboxItemOut(BaseModel):
    notification_id: str
    title: str
    body: str | None
    severity: Severity
    category: str | None
    data: dict[str, Any] | None
    created_at: Timestamp
    read_at: Timestamp | None


class InboxPage(BaseModel):
    items: list[InboxItemOut]
    next: str | None


class DeadLetterOut(BaseModel):
    notification_id: str
    channel: Channel
    recipient_id: str
    attempts: int
    last_error: str | None
    failed_at: Timestamp


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next: str | None


class SubscriptionIn(WriteModel):
    recipient_id: RecipientId
    pattern: TopicPattern = Field(
        description="Words joined by '.'; '*' matches one word, '#' zero or more (AMQP)"
    )
    min_severity: Severity | None = None
    categories: list[Annotated[SingleLine, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, min_length=1, max_length=50
    )
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=len(Channel))

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[Channel] | None) -> list[Channel] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value


class SubscriptionOut(BaseModel):
    subscription_id: str
    recipient_id: str
    pattern: str
    min_severity: Severity | None = Field(default=None, exclude_if=_omit_none)
    categories: list[str] | None = Field(default=None, exclude_if=_omit_none)
    channels: list[Channel] | None = Field(default=None, exclude_if=_omit_none)
    created_at: Timestamp


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next: str | None


class SubscriberOut(BaseModel):
    recipient_id: str
    subscription_ids: list[str]


class SubscriberPage(BaseModel):
    items: list[SubscriberOut]
    next: str | None


class RetryOut(BaseModel):
    id: str
    retried: int


class RedriveIn(WriteModel):
    channel: Channel | None = None
    recipient_id: RecipientId | None = None


class RedriveOut(BaseModel):
    redriven: int


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = Field(default=None, exclude_if=_omit_none)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = Field(default=None, exclude_if=_omit_none)
