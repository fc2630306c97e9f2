"""What alerting keeps in the table: alerts with their timeline, silences, escalation policies
and integrations. An alert is a record of its own; the notifications it sends are ordinary
notifications (same pipeline, same deliveries), and the alert keeps their ids."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from chalicelib.models.common import Severity, Timestamp
from chalicelib.models.stored import Stored


class AlertStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertSeverity(StrEnum):
    """PagerDuty's severities; a notification has three (api.md, Alerts)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def notification_severity(self) -> Severity:
        return _NOTIFICATION_SEVERITY[self]


_NOTIFICATION_SEVERITY = {
    AlertSeverity.CRITICAL: Severity.CRITICAL,
    AlertSeverity.ERROR: Severity.WARNING,
    AlertSeverity.WARNING: Severity.WARNING,
    AlertSeverity.INFO: Severity.INFO,
}


class TimelineType(StrEnum):
    TRIGGERED = "triggered"
    RETRIGGERED = "retriggered"
    NOTIFIED = "notified"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SILENCED = "silenced"


class TimelineEntry(Stored):
    at: Timestamp
    type: TimelineType
    detail: str | None = None


class Target(Stored):
    """Who a step notifies: one recipient, or a topic's subscribers."""

    recipient_id: str | None = None
    topic: str | None = None

    def describe(self) -> str:
        if self.recipient_id is not None:
            return f"recipient {self.recipient_id}"
        return f"topic {self.topic}"

    @property
    def key(self) -> str:
        return f"r:{self.recipient_id}" if self.recipient_id is not None else f"t:{self.topic}"


class EscalationStep(Stored):
    delay_seconds: int = 0
    targets: list[Target]


class EscalationPolicy(Stored):
    tenant_id: str
    policy_id: str
    steps: list[EscalationStep]
    # How many times the steps run again after the last one, while nobody acknowledges.
    repeat: int = 0
    created_at: Timestamp
    updated_at: Timestamp


class SentNotification(Stored):
    """A notification an alert sent: for a step of its schedule, or (``step`` None) the
    notice of its resolution."""

    notification_id: str
    target: Target
    step: int | None = None
    at: Timestamp


class Alert(Stored):
    tenant_id: str
    id: str
    dedup_key: str
    status: AlertStatus = AlertStatus.TRIGGERED
    summary: str
    source: str | None = None
    severity: AlertSeverity = AlertSeverity.CRITICAL
    labels: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] | None = None
    topic: str
    escalation_policy: str | None = None
    integration_id: str | None = None
    # Who it notifies, in order: a snapshot of its escalation policy's steps taken when it was
    # triggered (later edits of the policy leave it alone), or one step to its topic.
    steps: list[EscalationStep]
    repeat: int = 0
    # Where its acknowledge links point (the API's public address).
    base_url: str | None = None
    created_at: Timestamp
    acknowledged_at: Timestamp | None = None
    resolved_at: Timestamp | None = None
    trigger_count: int = 1
    timeline: list[TimelineEntry] = Field(default_factory=list)
    sent: list[SentNotification] = Field(default_factory=list)
    # Progress: the next step of the schedule (round x steps + index), when something is due
    # (the next step, the end of a silence, the resolution's notices), and the timer that wakes
    # it then. ``version`` grows with each change of progress or status: writes of progress
    # are conditioned on it.
    next_step: int = 0
    due_at: Timestamp | None = None
    timer: str | None = None
    silenced_by: str | None = None
    resolve_sent: bool = False
    version: int = 0

    @property
    def schedule_length(self) -> int:
        return len(self.steps) * (self.repeat + 1)

    def step_at(self, position: int) -> EscalationStep:
        return self.steps[position % len(self.steps)]


class Matcher(Stored):
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


class Silence(Stored):
    tenant_id: str
    id: str
    matchers: list[Matcher]
    starts_at: Timestamp
    ends_at: Timestamp
    comment: str | None = None
    created_at: Timestamp

    def state(self, now: datetime) -> Literal["pending", "active", "expired"]:
        if now >= self.ends_at:
            return "expired"
        if now < self.starts_at:
            return "pending"
        return "active"


class IntegrationKind(StrEnum):
    PAGERDUTY = "pagerduty"
    ALERTMANAGER = "alertmanager"


class Integration(Stored):
    tenant_id: str
    id: str
    kind: IntegrationKind
    topic: str
    escalation_policy: str | None = None
    # PagerDuty integrations: the routing key's SHA-256 (the key itself is shown once) and its
    # first characters, for listings.
    routing_key_hash: str | None = None
    routing_key_prefix: str | None = None
    created_at: Timestamp


class AlertTimer(Stored):
    """A wake-up call: the alert has something due at ``due_at``. ``key`` is opaque; the alert
    names the timer it currently relies on (``Alert.timer``), any other is stale."""

    tenant_id: str
    alert_id: str
    due_at: Timestamp
    key: str
