"""Alerting's stored items as the API shows them, and its requests as the domain's commands."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.alerts import AlertAction, AlertEvent
from chalicelib.domain.escalation import PolicyDetails
from chalicelib.domain.integrations import DEFAULT_TOPIC
from chalicelib.domain.silences import SilenceDetails
from chalicelib.models.alerts import (
    Alert,
    AlertSeverity,
    EscalationPolicy,
    EscalationStep,
    Integration,
    Matcher,
    Silence,
    Target,
)
from chalicelib.models.alerts_api import (
    AlertEventIn,
    AlertNotificationOut,
    AlertOut,
    IntegrationOut,
    MatcherIn,
    PolicyIn,
    PolicyOut,
    SilenceIn,
    SilenceOut,
    StepOut,
    TargetOut,
    TimelineEntryOut,
)


def alert_event(request: AlertEventIn, *, base_url: str | None) -> AlertEvent:
    return AlertEvent(
        action=AlertAction(request.action),
        dedup_key=request.dedup_key,
        summary=request.summary,
        source=request.source,
        severity=request.severity or AlertSeverity.CRITICAL,
        labels=request.labels or {},
        details=request.details,
        topic=request.topic or DEFAULT_TOPIC,
        escalation_policy=request.escalation_policy,
        base_url=base_url,
        origin="events API",
    )


def alert_out(alert: Alert) -> AlertOut:
    steps = len(alert.steps)
    return AlertOut(
        id=alert.id,
        dedup_key=alert.dedup_key,
        status=alert.status,
        summary=alert.summary,
        source=alert.source,
        severity=alert.severity,
        labels=alert.labels,
        details=alert.details,
        topic=alert.topic,
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
        resolved_at=alert.resolved_at,
        trigger_count=alert.trigger_count,
        timeline=[
            TimelineEntryOut(at=entry.at, type=entry.type, detail=entry.detail)
            for entry in alert.timeline
        ],
        escalation_policy=alert.escalation_policy,
        integration_id=alert.integration_id,
        notifications=[
            AlertNotificationOut(
                notification_id=item.notification_id,
                recipient_id=item.target.recipient_id,
                topic=item.target.topic,
                kind="resolution" if item.step is None else "step",
                step=None if item.step is None else item.step % steps + 1,
                at=item.at,
            )
            for item in alert.sent
        ],
    )


def silence_details(request: SilenceIn) -> SilenceDetails:
    return SilenceDetails(
        matchers=[Matcher.model_validate(m.model_dump()) for m in request.matchers],
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        comment=request.comment,
    )


def silence_out(silence: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=silence.id,
        matchers=[MatcherIn.model_validate(m.model_dump()) for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        comment=silence.comment,
        created_at=silence.created_at,
        status=silence.state(now),
    )


def policy_details(request: PolicyIn) -> PolicyDetails:
    return PolicyDetails(
        steps=[
            EscalationStep(
                delay_seconds=step.delay_seconds,
                targets=[
                    Target(recipient_id=target.recipient_id, topic=target.topic)
                    for target in step.targets
                ],
            )
            for step in request.steps
        ],
        repeat=request.repeat,
    )


def policy_out(policy: EscalationPolicy) -> PolicyOut:
    return PolicyOut(
        id=policy.policy_id,
        steps=[
            StepOut(
                delay_seconds=step.delay_seconds,
                targets=[
                    TargetOut(recipient_id=target.recipient_id, topic=target.topic)
                    for target in step.targets
                ],
            )
            for step in policy.steps
        ],
        repeat=policy.repeat,
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


def integration_out(integration: Integration, routing_key: str | None = None) -> IntegrationOut:
    return IntegrationOut(
        id=integration.id,
        kind=integration.kind,
        routing_key=routing_key,
        routing_key_prefix=integration.routing_key_prefix,
        topic=integration.topic,
        escalation_policy=integration.escalation_policy,
        created_at=integration.created_at,
    )
