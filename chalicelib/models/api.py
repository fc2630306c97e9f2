"""Request and response bodies of the HTTP API; /openapi.json is generated from these."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.models.common import (
    Channel,
    DeliveryStatus,
    Model,
    NotificationStatus,
    Phone,
    PushPlatform,
    Reason,
    RecipientId,
    Severity,
    Timestamp,
    TopicName,
    TopicPattern,
)
from chalicelib.models.preferences import RecipientPreferences

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
    # Imported on the first address checked: its patterns take tens of milliseconds to compile,
    # which every function's cold start would pay otherwise.
    from email_validator import EmailNotValidError, validate_email

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


class WriteModel(Model):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


MAX_PUSH_TOKENS = 10
MAX_APPRISE_URLS = 10
CHAT_URL_HELP = (
    "The platform's incoming-webhook URL (https, on the platform's own hosts outside the local "
    "stage); shown masked in replies after the PUT that stored it"
)


class PushTokenIn(WriteModel):
    platform: PushPlatform
    token: str = Field(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")


class PushTokenOut(Model):
    platform: PushPlatform
    token: str


class RecipientIn(WriteModel):
    name: SingleLine | None = Field(default=None, max_length=200)
    email: Email | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +14155550100")
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Absolute https URL (plain http and loopback only in the local stage)",
    )
    slack_webhook_url: str | None = Field(default=None, max_length=2048, description=CHAT_URL_HELP)
    teams_webhook_url: str | None = Field(default=None, max_length=2048, description=CHAT_URL_HELP)
    discord_webhook_url: str | None = Field(
        default=None, max_length=2048, description=CHAT_URL_HELP
    )
    push_tokens: list[PushTokenIn] | None = Field(
        default=None,
        max_length=MAX_PUSH_TOKENS,
        description="Device tokens for mobile push (one SNS platform endpoint each)",
    )
    apprise_urls: list[Annotated[str, Field(min_length=1, max_length=2048)]] | None = Field(
        default=None,
        max_length=MAX_APPRISE_URLS,
        description="Apprise URLs (any scheme Apprise knows); masked in replies after the PUT",
    )
    preferences: RecipientPreferences | None = Field(
        default=None,
        description="Omitted: the stored preferences are kept; null: cleared (see also "
        "PUT /v1/recipients/{id}/preferences)",
    )

    @field_validator("push_tokens")
    @classmethod
    def _unique_tokens(cls, value: list[PushTokenIn] | None) -> list[PushTokenIn] | None:
        if value is not None and len({(t.platform, t.token) for t in value}) != len(value):
            raise ValueError("push tokens must not repeat")
        return value


class RecipientOut(Model):
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
    slack_webhook_url: str | None = Field(default=None, exclude_if=_omit_none)
    teams_webhook_url: str | None = Field(default=None, exclude_if=_omit_none)
    discord_webhook_url: str | None = Field(default=None, exclude_if=_omit_none)
    push_tokens: list[PushTokenOut] | None = Field(default=None, exclude_if=_omit_none)
    apprise_urls: list[str] | None = Field(default=None, exclude_if=_omit_none)
    preferences: RecipientPreferences | None = Field(default=None, exclude_if=_omit_none)
    created_at: Timestamp
    updated_at: Timestamp


class DigestIn(WriteModel):
    key: SingleLine = Field(min_length=1, max_length=128)
    window_seconds: int = Field(ge=1, le=86400)


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
    template: RecipientId | None = Field(
        default=None, description="A template's name: title, body and channel parts from it"
    )
    title: SingleLine | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        validate_default=True,
        description="Required unless template",
    )
    body: str | None = Field(default=None, max_length=4000)
    severity: Severity | None = Field(default=None, description="Default (also for null): info")
    category: SingleLine | None = Field(default=None, min_length=1, max_length=128)
    data: ShallowObject | None = Field(
        default=None, description=f"Up to 16 KiB serialized, {MAX_JSON_DEPTH} levels deep"
    )
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)
    deliver_at: Timestamp | None = Field(
        default=None, description="Not sent before this time (future, at most 365 days ahead)"
    )
    digest: DigestIn | None = Field(
        default=None,
        description="Sent with the other notifications of this key to this recipient in one "
        "digest when the window (opened by the first) ends",
    )

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[Channel] | None) -> list[Channel] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value

    @field_validator("title")
    @classmethod
    def _title_or_template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("template") is None:
            raise ValueError("title is required (unless a template gives it)")
        return value

    @model_validator(mode="after")
    def _digest_alone(self) -> NotificationIn:
        if self.digest is not None and self.deliver_at is not None:
            raise ValueError("digest and deliver_at do not go together")
        return self

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


class AttemptOut(Model):
    at: Timestamp
    outcome: DeliveryStatus = Field(description="The delivery's status after this attempt")
    endpoint: str | None = Field(
        default=None, description="Scheme and host of a URL (never its path), or the address"
    )
    http_status: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    next_attempt_at: Timestamp | None = None


class DeliveryOut(Model):
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


class DigestOut(Model):
    key: str
    window_seconds: int | None = Field(default=None, exclude_if=_omit_none)
    digest_id: str | None = Field(
        default=None,
        exclude_if=_omit_none,
        description="A digested notification: the notification that sends its digest",
    )
    notification_ids: list[str] | None = Field(
        default=None,
        exclude_if=_omit_none,
        description="A digest notification: the notifications it lists",
    )


class EmailPartsOut(Model):
    subject: str | None = Field(default=None, exclude_if=_omit_none)
    text: str | None = Field(default=None, exclude_if=_omit_none)
    html: str | None = Field(default=None, exclude_if=_omit_none)


class DeliveryCountsOut(Model):
    pending: int
    retrying: int
    delivered: int
    failed: int
    skipped: int
    scheduled: int


class NotificationOut(Model):
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
    deliver_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    cancelled_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    template: str | None = Field(default=None, exclude_if=_omit_none)
    email: EmailPartsOut | None = Field(
        default=None, exclude_if=_omit_none, description="Email parts a template rendered"
    )
    sms: str | None = Field(
        default=None, exclude_if=_omit_none, description="SMS text a template rendered"
    )
    digest: DigestOut | None = Field(default=None, exclude_if=_omit_none)
    alert: AlertRefOut | None = Field(
        default=None, exclude_if=_omit_none, description="The alert it was sent for"
    )
    delivery_counts: DeliveryCountsOut
    recipients: int = Field(description="Distinct recipients with at least one delivery")
    deliveries: list[DeliveryOut] | None = Field(
        default=None,
        exclude_if=_omit_none,
        description="A one-recipient notification's deliveries (a topic's: GET .../deliveries)",
    )


class DeliveryPage(Model):
    items: list[DeliveryOut]
    next: str | None


class NotificationPage(Model):
    items: list[NotificationOut]
    next: str | None


class AlertRefOut(Model):
    id: str
    dedup_key: str
    status: Literal["triggered", "acknowledged", "resolved"]
    ack_url: str | None


class InboxItemOut(Model):
    notification_id: str
    title: str
    body: str | None
    severity: Severity
    category: str | None
    data: dict[str, Any] | None
    created_at: Timestamp
    read_at: Timestamp | None
    alert: AlertRefOut | None = Field(
        default=None, exclude_if=_omit_none, description="The alert it was sent for"
    )


class InboxPage(Model):
    items: list[InboxItemOut]
    next: str | None


class DeadLetterOut(Model):
    notification_id: str
    channel: Channel
    recipient_id: str
    attempts: int
    last_error: str | None
    failed_at: Timestamp


class DeadLetterPage(Model):
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


class SubscriptionOut(Model):
    subscription_id: str
    recipient_id: str
    pattern: str
    min_severity: Severity | None = Field(default=None, exclude_if=_omit_none)
    categories: list[str] | None = Field(default=None, exclude_if=_omit_none)
    channels: list[Channel] | None = Field(default=None, exclude_if=_omit_none)
    created_at: Timestamp


class SubscriptionPage(Model):
    items: list[SubscriptionOut]
    next: str | None


class SubscriberOut(Model):
    recipient_id: str
    subscription_ids: list[str]


class SubscriberPage(Model):
    items: list[SubscriberOut]
    next: str | None


class RetryOut(Model):
    id: str
    retried: int


class RedriveIn(WriteModel):
    channel: Channel | None = None
    recipient_id: RecipientId | None = None


class RedriveOut(Model):
    redriven: int


class OpenApiDocument(Model):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class HealthOut(Model):
    status: Literal["ok", "unavailable"]


class ProblemError(Model):
    loc: list[str | int]
    msg: str
    type: str | None = Field(default=None, exclude_if=_omit_none)


class Problem(Model):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = Field(default=None, exclude_if=_omit_none)
