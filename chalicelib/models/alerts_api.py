"""Request and response bodies of alerting's routes: alerts, silences, escalation policies,
integrations, and the bodies of PagerDuty's Events API v2 and Alertmanager's webhook, which are
taken as those tools send them."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from chalicelib.models.alerts import (
    AlertSeverity,
    AlertStatus,
    IntegrationKind,
    TimelineType,
)
from chalicelib.models.api import (
    MAX_JSON_DEPTH,
    ShallowObject,
    SingleLine,
    WriteModel,
    _omit_none,
    json_depth,
)
from chalicelib.models.common import Model, RecipientId, Timestamp, TopicName

MAX_DETAILS_BYTES = 32 * 1024
MAX_LABELS = 64
# api.md's labels are `{str: str}`: any one-line name (Kubernetes' `app.kubernetes.io/name`,
# Alertmanager's UTF-8 label names), not only Prometheus' classic `[A-Za-z_][A-Za-z0-9_]*`.
LabelName = Annotated[SingleLine, Field(min_length=1, max_length=128)]
LabelValue = Annotated[str, Field(max_length=1024)]
DedupKey = Annotated[str, Field(min_length=1, max_length=255)]


def _details_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_DETAILS_BYTES:
            raise ValueError(
                f"details are {size} bytes serialized; the limit is {MAX_DETAILS_BYTES}"
            )
    return value


def _labels_count(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is not None and len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    return value


# --- alerts -----------------------------------------------------------------------------------
class AlertEventIn(WriteModel):
    action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: DedupKey | None = Field(
        default=None,
        validate_default=True,
        description="Generated on a trigger without one; required otherwise",
    )
    summary: str | None = Field(
        default=None,
        validate_default=True,
        min_length=1,
        max_length=1024,
        description="Required to trigger",
    )
    source: SingleLine | None = Field(default=None, min_length=1, max_length=1024)
    severity: AlertSeverity | None = Field(default=None, description="Default: critical")
    labels: dict[LabelName, LabelValue] | None = None
    details: ShallowObject | None = None
    topic: TopicName | None = Field(default=None, description="Default: alerts")
    escalation_policy: RecipientId | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _labels_count(value)

    @field_validator("details")
    @classmethod
    def _details(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _details_size(value)

    # Field validators (not one of the model), so that a missing field is reported at its
    # own loc; ``action`` is declared first, so it is known here when it was valid.
    @field_validator("dedup_key")
    @classmethod
    def _key_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        action = info.data.get("action")
        if value is None and action is not None and action != "trigger":
            raise ValueError(f"required to {action}")
        return value

    @field_validator("summary")
    @classmethod
    def _summary_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("action") == "trigger":
            raise ValueError("required to trigger")
        return value


class AlertEventOut(Model):
    status: Literal["success"] = "success"
    dedup_key: str
    alert_id: str | None = Field(description="None when nothing was open under the key")


class TimelineEntryOut(Model):
    at: Timestamp
    type: TimelineType
    detail: str | None


class AlertNotificationOut(Model):
    notification_id: str
    recipient_id: str | None = Field(default=None, exclude_if=_omit_none)
    topic: str | None = Field(default=None, exclude_if=_omit_none)
    kind: Literal["step", "resolution"]
    step: int | None = Field(default=None, exclude_if=_omit_none, description="1-based")
    at: Timestamp


class AlertOut(Model):
    id: str
    dedup_key: str
    status: AlertStatus
    summary: str
    source: str | None
    severity: AlertSeverity
    labels: dict[str, str]
    details: dict[str, Any] | None
    topic: str
    created_at: Timestamp
    acknowledged_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    resolved_at: Timestamp | None = Field(default=None, exclude_if=_omit_none)
    trigger_count: int
    timeline: list[TimelineEntryOut]
    escalation_policy: str | None = Field(default=None, exclude_if=_omit_none)
    integration_id: str | None = Field(default=None, exclude_if=_omit_none)
    notifications: list[AlertNotificationOut] = Field(
        description="What the alert sent, oldest first (each an ordinary notification)"
    )


class AlertPage(Model):
    items: list[AlertOut]
    next: str | None


# --- silences ---------------------------------------------------------------------------------
class MatcherIn(WriteModel):
    name: LabelName
    value: LabelValue
    is_regex: bool = Field(default=False, description="RE2, anchored at both ends")
    is_equal: bool = Field(default=True, description="false: the matcher is negated")


class SilenceIn(WriteModel):
    matchers: list[MatcherIn] = Field(min_length=1, max_length=32)
    starts_at: Timestamp | None = Field(default=None, description="Default: now")
    ends_at: Timestamp
    comment: str | None = Field(default=None, max_length=1024)


class SilenceOut(Model):
    id: str
    matchers: list[MatcherIn]
    starts_at: Timestamp
    ends_at: Timestamp
    comment: str | None
    created_at: Timestamp
    status: Literal["pending", "active", "expired"]


class SilencePage(Model):
    items: list[SilenceOut]
    next: str | None


# --- escalation policies ----------------------------------------------------------------------
class TargetIn(WriteModel):
    recipient_id: RecipientId | None = None
    topic: TopicName | None = None

    @model_validator(mode="after")
    def _one(self) -> TargetIn:
        if (self.recipient_id is None) == (self.topic is None):
            raise ValueError("exactly one of recipient_id and topic is required")
        return self


class StepIn(WriteModel):
    delay_seconds: int = Field(
        default=0,
        ge=0,
        le=7 * 24 * 3600,
        description="Wait after the step before (step 1 goes at once)",
    )
    targets: list[TargetIn] = Field(min_length=1, max_length=10)


class PolicyIn(WriteModel):
    steps: list[StepIn] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=9, description="Times the steps run again")


class TargetOut(Model):
    recipient_id: str | None = Field(default=None, exclude_if=_omit_none)
    topic: str | None = Field(default=None, exclude_if=_omit_none)


class StepOut(Model):
    delay_seconds: int
    targets: list[TargetOut]


class PolicyOut(Model):
    id: str
    steps: list[StepOut]
    repeat: int
    created_at: Timestamp
    updated_at: Timestamp


class PolicyPage(Model):
    items: list[PolicyOut]
    next: str | None


# --- integrations -----------------------------------------------------------------------------
class IntegrationIn(WriteModel):
    kind: IntegrationKind
    topic: TopicName | None = Field(default=None, description="Default: alerts")
    escalation_policy: RecipientId | None = None


class IntegrationOut(Model):
    id: str
    kind: IntegrationKind
    routing_key: str | None = Field(
        default=None, exclude_if=_omit_none, description="Shown once, when created"
    )
    routing_key_prefix: str | None = Field(default=None, exclude_if=_omit_none)
    topic: str
    escalation_policy: str | None = Field(default=None, exclude_if=_omit_none)
    created_at: Timestamp


class IntegrationPage(Model):
    items: list[IntegrationOut]
    next: str | None


# --- PagerDuty Events API v2 ------------------------------------------------------------------
class PagerDutyPayload(Model):
    """PagerDuty's ``payload`` (PD-CEF); fields it may add later are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=1024)
    severity: AlertSeverity
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None

    @field_validator("custom_details")
    @classmethod
    def _shallow_details(cls, value: Any) -> Any:
        if json_depth(value) > MAX_JSON_DEPTH:
            raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels")
        return value


class PagerDutyEvent(Model):
    """An Events API v2 alert event, as PagerDuty takes it."""

    model_config = ConfigDict(extra="ignore")

    routing_key: str = Field(min_length=1, max_length=128)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: DedupKey | None = None
    payload: PagerDutyPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[Any] | None = None
    images: list[Any] | None = None

    @model_validator(mode="after")
    def _needs(self) -> PagerDutyEvent:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("payload is required to trigger")
        if self.event_action != "trigger" and self.dedup_key is None:
            raise ValueError(f"dedup_key is required to {self.event_action}")
        return self


class PagerDutyAccepted(Model):
    status: Literal["success"] = "success"
    message: Literal["Event processed"] = "Event processed"
    dedup_key: str


class PagerDutyInvalid(Model):
    status: Literal["invalid event"] = "invalid event"
    message: Literal["Event object is invalid"] = "Event object is invalid"
    errors: list[str]


class PagerDutyThrottled(Model):
    status: Literal["throttle event"] = "throttle event"
    message: str = "Requests for this service are arriving too quickly. Please retry later."


# --- Alertmanager -----------------------------------------------------------------------------
class AlertmanagerAlert(Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str | None = Field(default=None, alias="startsAt")
    ends_at: str | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=255)


class AlertmanagerWebhook(Model):
    """Alertmanager's webhook body (version 4); fields it may add later are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: str = "4"
    group_key: str | None = Field(default=None, alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str | None = Field(default=None, alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(max_length=1000)


class AlertmanagerResult(Model):
    fingerprint: str
    action: Literal["trigger", "resolve"]
    alert_id: str | None


class AlertmanagerOut(Model):
    status: Literal["success"] = "success"
    alerts: list[AlertmanagerResult]
