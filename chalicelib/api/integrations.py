"""Where alerts come in from other tools: PagerDuty's Events API v2 (``POST /v2/enqueue``, its
bodies and answers unchanged), Alertmanager's webhook, and the tenant's integrations."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Response
from pydantic import Field, ValidationError

from chalicelib.api.alert_representations import integration_out
from chalicelib.api.alerts import request_base_url
from chalicelib.api.operations import Call, operation, reply
from chalicelib.api.problems import single_error
from chalicelib.domain.alerts import AlertAction, AlertEvent
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.domain.rate_limits import RateLimited
from chalicelib.models.alerts import AlertSeverity, Integration, IntegrationKind
from chalicelib.models.alerts_api import (
    AlertmanagerAlert,
    AlertmanagerOut,
    AlertmanagerResult,
    AlertmanagerWebhook,
    IntegrationIn,
    IntegrationOut,
    IntegrationPage,
    PagerDutyAccepted,
    PagerDutyEvent,
    PagerDutyInvalid,
    PagerDutyThrottled,
)
from chalicelib.models.common import Model, RecipientId, TopicName
from chalicelib.wiring import services

integrations = Blueprint(__name__)

# Alerts of one webhook call whose first notifications are sent before it is answered.
ALERTS_SENT_AT_ONCE = 10
ALERTMANAGER_SEVERITIES = {severity.value: severity for severity in AlertSeverity}
ALERTMANAGER_SEVERITIES |= {"page": AlertSeverity.CRITICAL, "none": AlertSeverity.INFO}


# --- PagerDuty Events API v2 ------------------------------------------------------------------
def _pagerduty_invalid(*errors: str) -> Response:
    return reply(400, PagerDutyInvalid(errors=list(errors)))


def _pagerduty_errors(error: ValidationError) -> list[str]:
    found = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"] if part != "class_") or "event"
        found.append(f"{where}: {item['msg']}")
    return found


def _pagerduty_labels(event: PagerDutyEvent) -> dict[str, str]:
    payload = event.payload
    if payload is None:
        return {}
    named = {
        "source": payload.source,
        "component": payload.component,
        "group": payload.group,
        "class": payload.class_,
    }
    return {name: value[:1024] for name, value in named.items() if value}


def _pagerduty_details(event: PagerDutyEvent) -> dict[str, Any] | None:
    payload = event.payload
    details: dict[str, Any] = {}
    if payload is not None and payload.custom_details is not None:
        custom = payload.custom_details
        details = dict(custom) if isinstance(custom, dict) else {"custom_details": custom}
    extra = {
        "timestamp": payload.timestamp if payload else None,
        "client": event.client,
        "client_url": event.client_url,
        "links": event.links,
        "images": event.images,
    }
    details |= {f"pagerduty_{name}": value for name, value in extra.items() if value}
    if len(json.dumps(details, default=str)) > 32 * 1024:
        return {"truncated": "the event's details were larger than 32 KiB"}
    return details or None


@operation(
    integrations,
    "/v2/enqueue",
    "POST",
    summary="PagerDuty Events API v2: the routing key names tenant and topic",
    tag="integrations",
    success={202: PagerDutyAccepted, 400: PagerDutyInvalid, 429: PagerDutyThrottled},
    body=PagerDutyEvent,
    raw_body=True,
    auth=False,
)
def pagerduty_enqueue(call: Call) -> Response:
    try:
        parsed = json.loads(call.raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _pagerduty_invalid("the body is not valid JSON")
    if not isinstance(parsed, dict):
        return _pagerduty_invalid("the body must be a JSON object")
    try:
        event = PagerDutyEvent.model_validate(parsed)
    except ValidationError as error:
        return _pagerduty_invalid(*_pagerduty_errors(error))
    alerting = services().alerting
    integration = alerting.integrations.by_routing_key(event.routing_key)
    if integration is None:
        return _pagerduty_invalid("routing_key: no integration has this routing key")
    try:
        alerting.rate_limits.admit(integration.tenant_id, integration.id)
    except RateLimited as limited:
        return reply(429, PagerDutyThrottled(), {"Retry-After": str(limited.retry_after)})
    payload = event.payload
    alert_event = AlertEvent(
        action=AlertAction(event.event_action),
        dedup_key=event.dedup_key,
        summary=payload.summary if payload else None,
        source=payload.source if payload else None,
        severity=payload.severity if payload else AlertSeverity.CRITICAL,
        labels=_pagerduty_labels(event),
        details=_pagerduty_details(event),
        topic=integration.topic,
        escalation_policy=integration.escalation_policy,
        integration_id=integration.id,
        base_url=request_base_url(integrations.current_request),
        origin=f"PagerDuty integration {integration.id}",
    )
    try:
        ingested = alerting.alerts.ingest(integration.tenant_id, alert_event)
    except Invalid as invalid:
        return _pagerduty_invalid(f"{'.'.join(str(p) for p in invalid.loc)}: {invalid.msg}")
    return reply(202, PagerDutyAccepted(dedup_key=ingested.dedup_key))


# --- Alertmanager -----------------------------------------------------------------------------
class AlertmanagerQuery(Model):
    topic: TopicName | None = Field(
        default=None, description="Default: the integration's, or alerts"
    )
    integration: str | None = Field(
        default=None,
        max_length=64,
        description="An alertmanager integration of the tenant: its topic, policy and rate limit",
    )


def _alertmanager_event(
    alert: AlertmanagerAlert,
    webhook: AlertmanagerWebhook,
    *,
    topic: str,
    integration: Integration | None,
    base_url: str | None,
) -> AlertEvent:
    annotations = alert.annotations
    labels = alert.labels
    summary = (
        annotations.get("summary")
        or annotations.get("description")
        or labels.get("alertname")
        or alert.fingerprint
    )
    details: dict[str, Any] = {
        "annotations": annotations,
        "startsAt": alert.starts_at,
        "endsAt": alert.ends_at,
        "generatorURL": alert.generator_url,
        "receiver": webhook.receiver,
        "externalURL": webhook.external_url,
        "groupKey": webhook.group_key,
    }
    return AlertEvent(
        action=AlertAction.TRIGGER if alert.status == "firing" else AlertAction.RESOLVE,
        dedup_key=alert.fingerprint,
        summary=summary[:1024],
        source=labels.get("instance") or labels.get("job") or alert.generator_url,
        severity=ALERTMANAGER_SEVERITIES.get(
            labels.get("severity", "").lower(), AlertSeverity.CRITICAL
        ),
        labels=dict(list(labels.items())[:64]),
        details={key: value for key, value in details.items() if value},
        topic=topic,
        escalation_policy=integration.escalation_policy if integration else None,
        integration_id=integration.id if integration else None,
        base_url=base_url,
        origin="Alertmanager" + (f" integration {integration.id}" if integration else ""),
    )


@operation(
    integrations,
    "/v1/integrations/alertmanager",
    "POST",
    summary="Alertmanager's webhook: each alert keyed by its fingerprint",
    tag="integrations",
    success={200: AlertmanagerOut},
    body=AlertmanagerWebhook,
    query=AlertmanagerQuery,
    errors=(429,),
)
def alertmanager_webhook(call: Call) -> Response:
    alerting = services().alerting
    query: AlertmanagerQuery = call.query
    integration = None
    if query.integration is not None:
        try:
            integration = alerting.integrations.of_tenant(
                call.tenant, query.integration, IntegrationKind.ALERTMANAGER
            )
        except NotFound:
            raise single_error(
                ["query", "integration"], "no alertmanager integration with this id"
            ) from None
    alerting.rate_limits.admit(call.tenant, integration.id if integration else None)
    webhook: AlertmanagerWebhook = call.body
    topic = query.topic or (integration.topic if integration else "alerts")
    base_url = request_base_url(integrations.current_request)
    # A large group is answered before its alerts notify: their timers send (seconds later).
    run_now = len(webhook.alerts) <= ALERTS_SENT_AT_ONCE
    results = []
    for alert in webhook.alerts:
        event = _alertmanager_event(
            alert, webhook, topic=topic, integration=integration, base_url=base_url
        )
        ingested = alerting.alerts.ingest(call.tenant, event, run_now=run_now)
        results.append(
            AlertmanagerResult(
                fingerprint=alert.fingerprint,
                action="trigger" if event.action is AlertAction.TRIGGER else "resolve",
                alert_id=ingested.alert_id,
            )
        )
    return reply(200, AlertmanagerOut(alerts=results))


# --- the tenant's integrations ----------------------------------------------------------------
@operation(
    integrations,
    "/v1/integrations",
    "POST",
    summary="Create an integration (a PagerDuty one's routing key is shown only here)",
    tag="integrations",
    success={201: IntegrationOut},
    body=IntegrationIn,
)
def create_integration(call: Call) -> Response:
    request: IntegrationIn = call.body
    created = services().alerting.integrations.create(
        call.tenant,
        request.kind,
        topic=request.topic,
        escalation_policy=request.escalation_policy,
    )
    return reply(201, integration_out(created.integration, created.routing_key))


@operation(
    integrations,
    "/v1/integrations",
    "GET",
    summary="List the tenant's integrations",
    tag="integrations",
    success={200: IntegrationPage},
)
def list_integrations(call: Call) -> Response:
    found = services().alerting.integrations.list(call.tenant)
    return reply(200, IntegrationPage(items=[integration_out(i) for i in found], next=None))


@operation(
    integrations,
    "/v1/integrations/{integration_id}",
    "DELETE",
    summary="Revoke an integration: its routing key stops working",
    tag="integrations",
    success={204: None},
    path_params={"integration_id": RecipientId},
)
def revoke_integration(call: Call, integration_id: str) -> Response:
    alerting = services().alerting
    integration = alerting.integrations.get(call.tenant, integration_id)
    alerting.integrations.revoke(integration.id)
    return reply(204)
