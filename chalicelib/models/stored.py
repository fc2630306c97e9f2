"""What Tocsin keeps in its table. Adapters persist these; the domain reads and changes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from chalicelib.models.common import (
    Channel,
    DeliveryStatus,
    Model,
    PushPlatform,
    Reason,
    Severity,
    Timestamp,
)
from chalicelib.models.preferences import RecipientPreferences


class Stored(Model):
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


class ConsoleSession(Stored):
    """A signed-in console session. Only a hash of its id is stored (the id is in the
    operator's cookie); it names the API key it was opened with, and ends with it."""

    session_hash: str
    tenant: str
    key_prefix: str
    created_at: Timestamp
    expires_at: Timestamp


class PushToken(Stored):
    platform: PushPlatform
    token: str

    @property
    def target(self) -> str:
        """The token as a delivery's target: ``platform:token``."""
        return f"{self.platform.value}:{self.token}"


class Recipient(Stored):
    tenant_id: str
    recipient_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    teams_webhook_url: str | None = None
    discord_webhook_url: str | None = None
    push_tokens: list[PushToken] | None = None
    apprise_urls: list[str] | None = None
    preferences: RecipientPreferences | None = None
    created_at: Timestamp
    updated_at: Timestamp
    # Endpoint health of the webhook: failing since the first failure with no success after
    # it; disabled once it has failed for longer than the configured period.
    webhook_failing_since: Timestamp | None = None
    webhook_disabled_at: Timestamp | None = None


class Subscription(Stored):
    tenant_id: str
    subscription_id: str
    recipient_id: str
    pattern: str
    min_severity: Severity | None = None
    categories: list[str] | None = None
    channels: list[Channel] | None = None
    created_at: Timestamp


class EmailContent(Stored):
    """An email's own parts, when a template gives them (else title and body are used)."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None


class AlertRef(Stored):
    """The alert a notification was sent for (see chalicelib.domain.alerts)."""

    id: str
    dedup_key: str
    status: Literal["triggered", "acknowledged", "resolved"]
    # A signed link that acknowledges the alert (GET shows a page, POST acknowledges).
    ack_url: str | None = None


class Content(Stored):
    """What a notification says: the same for each of its deliveries (unless a template made
    a delivery's own, see ``Delivery.content``)."""

    title: str
    body: str | None = None
    severity: Severity = Severity.INFO
    category: str | None = None
    data: dict[str, Any] | None = None
    email: EmailContent | None = None
    sms: str | None = None
    # Set on the notifications an alert sends.
    alert: AlertRef | None = None


class DigestSpec(Stored):
    """What a notification asked to be digested under (api.md, Digests)."""

    key: str
    window_seconds: int
    # The window it went into: also the id of the notification that sends the digest.
    window_id: str | None = None


class DigestOf(Stored):
    """A digest notification: the window it closes, and what it lists."""

    key: str
    window_id: str
    opened_at: Timestamp
    notification_ids: list[str]


class Counts(Stored):
    """Deliveries of a notification by status (kept by atomic additions)."""

    pending: int = 0
    retrying: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    scheduled: int = 0

    def of(self, status: DeliveryStatus) -> int:
        value: int = getattr(self, status.value)
        return value

    @property
    def total(self) -> int:
        return sum(self.of(status) for status in DeliveryStatus)

    @property
    def open(self) -> int:
        return self.pending + self.retrying + self.scheduled


class Fanout(Stored):
    """Progress of a topic notification's expansion into deliveries, page by page."""

    # The last recipient id whose deliveries are written and counted (None: none yet).
    cursor: str | None = None
    # Set to the cursor a page started from while its deliveries are being written: a page
    # found so marked was cut short by a crash and is redone without overwriting.
    writing: str | None = None
    done: bool = False
    pages: int = 0
    error: str | None = None


class Notification(Stored):
    tenant_id: str
    id: str
    created_at: Timestamp
    recipient_id: str | None = None
    topic: str | None = None
    # The channels asked for (None: each recipient's default channels).
    channels: list[Channel] | None = None
    content: Content
    idempotency_key: str | None = None
    counts: Counts = Field(default_factory=Counts)
    # Distinct recipients with at least one delivery.
    recipients: int = 0
    # Deliveries whose first attempt has been recorded: before any, the notification is
    # ``accepted`` (or ``scheduled``); after, ``processing`` until every delivery is final.
    attempted: int = 0
    fanout: Fanout | None = None
    # A one-recipient notification's deliveries as of their last write (None for a topic's).
    deliveries: list[Delivery] | None = None
    cancelled_at: Timestamp | None = None
    # Not sent before this time (api.md, Scheduling).
    deliver_at: Timestamp | None = None
    # The template its content was rendered from, and the sources as they were then (a topic's
    # fan-out renders them again for each recipient).
    template: str | None = None
    template_parts: dict[str, str] | None = None
    digest: DigestSpec | None = None
    digest_of: DigestOf | None = None
    # When the sweeper should look at this notification while its fan-out is unfinished.
    sweep_at: Timestamp | None = None
    sweeps: int = 0


class Attempt(Stored):
    """One attempt of a delivery, as the console's timeline shows it."""

    at: Timestamp
    # The delivery's status after this attempt: delivered, retrying or failed.
    outcome: DeliveryStatus
    # Where it went: a URL's scheme and host (never its path or query, which may hold a
    # secret), or the email address or phone number.
    endpoint: str | None = None
    http_status: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    next_attempt_at: Timestamp | None = None


# The attempts a delivery keeps (the most recent); ``attempts`` counts them all.
MAX_ATTEMPT_LOG = 30


class Delivery(Stored):
    """One channel x one recipient of a notification, with its attempt bookkeeping."""

    tenant_id: str
    notification_id: str
    recipient_id: str
    channel: Channel
    # Snapshot of the address at acceptance: later edits of the recipient do not redirect
    # a notification already accepted.
    address: str | None = None
    # A channel with several targets (push tokens as ``platform:token``, Apprise URLs): the
    # targets not reached yet, snapshot at acceptance; an attempt that reaches some of them
    # leaves the rest for the next, so a retry never sends to a target twice.
    targets: list[str] | None = None
    targets_reached: int = 0
    # Standard Webhooks message id: the same on every attempt of this delivery.
    webhook_id: str | None = None
    status: DeliveryStatus = DeliveryStatus.PENDING
    reason: Reason | None = None
    # The status it was written with by a topic's fan-out (what its page counted).
    planned: DeliveryStatus | None = None
    # This recipient's own rendering of the notification's template (a topic notification
    # whose template depends on the recipient); None: the notification's content.
    content: Content | None = None
    attempts: int = 0
    # The most recent attempts (at most MAX_ATTEMPT_LOG), oldest first. Kept on the delivery's
    # own item only, never in a notification's inline copy.
    attempt_log: list[Attempt] = Field(default_factory=list)
    # Attempts since the last manual retry: the retry schedule counts these.
    budget_attempts: int = 0
    last_error: str | None = None
    delivered_at: Timestamp | None = None
    failed_at: Timestamp | None = None
    next_attempt_at: Timestamp | None = None
    lease_token: str | None = None
    lease_until: Timestamp | None = None
    # The endpoint was failing when this delivery was planned: its sends take a slot of the
    # endpoint's capped concurrency.
    endpoint_failing: bool = False
    # Inbox deliveries: the notification's time (the inbox's order) and when it was read.
    created_at: Timestamp | None = None
    read_at: Timestamp | None = None
    # When the sweeper should look at it if it is still open (None once final).
    sweep_at: Timestamp | None = None
    sweeps: int = 0
    # A delivery of a one-recipient notification: the notification keeps a copy of its state
    # (updated in the same write), so that reading it needs no query of its deliveries.
    inline: bool = False

    @property
    def key(self) -> DeliveryKey:
        return DeliveryKey(self.tenant_id, self.notification_id, self.recipient_id, self.channel)


class DeliveryKey(tuple[str, str, str, Channel]):
    """(tenant, notification, recipient, channel): names one delivery."""

    def __new__(
        cls, tenant_id: str, notification_id: str, recipient_id: str, channel: Channel
    ) -> DeliveryKey:
        return super().__new__(cls, (tenant_id, notification_id, recipient_id, channel))

    @property
    def tenant_id(self) -> str:
        return self[0]

    @property
    def notification_id(self) -> str:
        return self[1]

    @property
    def recipient_id(self) -> str:
        return self[2]

    @property
    def channel(self) -> Channel:
        return self[3]

    def subject(self) -> str:
        return f"{self.notification_id}/{self.recipient_id}/{self.channel.value}"


class InboxItem(Stored):
    tenant_id: str
    recipient_id: str
    notification_id: str
    content: Content
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
