"""Alerts, silences, escalation policies, and the one-click acknowledge page."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated

from chalice.app import Blueprint, Request, Response
from pydantic import StringConstraints

from chalicelib.api.alert_representations import (
    alert_event,
    alert_out,
    policy_details,
    policy_out,
    silence_details,
    silence_out,
)
from chalicelib.api.operations import Call, operation, reply
from chalicelib.api.queries import PageQuery
from chalicelib.domain.ack_links import TOKEN_PATTERN
from chalicelib.models.alerts import Alert, AlertStatus
from chalicelib.models.alerts_api import (
    AlertEventIn,
    AlertEventOut,
    AlertOut,
    AlertPage,
    PolicyIn,
    PolicyOut,
    PolicyPage,
    SilenceIn,
    SilenceOut,
    SilencePage,
)
from chalicelib.models.common import RecipientId, format_timestamp
from chalicelib.settings import get_settings
from chalicelib.wiring import services

alerts = Blueprint(__name__)

BY_ALERT = {"alert_id": RecipientId}
BY_SILENCE = {"silence_id": RecipientId}
BY_POLICY = {"policy_id": RecipientId}
BY_TOKEN = {"token": Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]}
HTML = "text/html; charset=utf-8"
# The page holds a capability in its URL: no caching, no referrer, never framed (a click
# on a button in a hidden frame must not acknowledge anything), no script.
PAGE_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": HTML,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


class AlertListQuery(PageQuery):
    status: AlertStatus | None = None


def request_base_url(request: Request | None) -> str | None:
    """The API's address as this request reached it: API Gateway's default host carries the
    stage in the path; a custom domain or the local gateway does not."""
    if request is None:
        return None
    headers = {key.lower(): value for key, value in request.headers.items()}
    host = headers.get("host")
    if not host:
        return None
    scheme = headers.get("x-forwarded-proto") or ("http" if get_settings().is_local else "https")
    stage = request.context.get("stage")
    prefix = f"/{stage}" if stage and host.endswith(".amazonaws.com") else ""
    return f"{scheme}://{host}{prefix}"


# --- alerts -----------------------------------------------------------------------------------
@operation(
    alerts,
    "/v1/alerts/events",
    "POST",
    summary="Trigger, acknowledge or resolve an alert by its dedup_key",
    tag="alerts",
    success={202: AlertEventOut},
    body=AlertEventIn,
    errors=(429,),
)
def post_alert_event(call: Call) -> Response:
    alerting = services().alerting
    alerting.rate_limits.admit(call.tenant)
    request: AlertEventIn = call.body
    ingested = alerting.alerts.ingest(
        call.tenant, alert_event(request, base_url=request_base_url(alerts.current_request))
    )
    return reply(
        202,
        AlertEventOut(
            dedup_key=ingested.dedup_key,
            alert_id=ingested.alert_id,
        ),
    )


@operation(
    alerts,
    "/v1/alerts",
    "GET",
    summary="List alerts, newest first",
    tag="alerts",
    success={200: AlertPage},
    query=AlertListQuery,
)
def list_alerts(call: Call) -> Response:
    query: AlertListQuery = call.query
    page = services().alerting.alerts.list(
        call.tenant, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return reply(
        200, AlertPage(items=[alert_out(item) for item in page.items], next=page.next_cursor)
    )


@operation(
    alerts,
    "/v1/alerts/{alert_id}",
    "GET",
    summary="Read an alert and its timeline",
    tag="alerts",
    success={200: AlertOut},
    path_params=BY_ALERT,
)
def get_alert(call: Call, alert_id: str) -> Response:
    return reply(200, alert_out(services().alerting.alerts.get(call.tenant, alert_id)))


@operation(
    alerts,
    "/v1/alerts/{alert_id}/acknowledge",
    "POST",
    summary="Acknowledge: every pending step and unsent delivery stops at once",
    tag="alerts",
    success={200: AlertOut},
    path_params=BY_ALERT,
    errors=(409,),
)
def acknowledge_alert(call: Call, alert_id: str) -> Response:
    alert = services().alerting.alerts.acknowledge(call.tenant, alert_id, by="API")
    return reply(200, alert_out(alert))


@operation(
    alerts,
    "/v1/alerts/{alert_id}/resolve",
    "POST",
    summary="Resolve: stops the alert and tells those it notified",
    tag="alerts",
    success={200: AlertOut},
    path_params=BY_ALERT,
    errors=(409,),
)
def resolve_alert(call: Call, alert_id: str) -> Response:
    alert = services().alerting.alerts.resolve(call.tenant, alert_id, by="API")
    return reply(200, alert_out(alert))


# --- silences ---------------------------------------------------------------------------------
@operation(
    alerts,
    "/v1/silences",
    "POST",
    summary="Silence the alerts whose labels match every matcher, for a time",
    tag="alerts",
    success={201: SilenceOut},
    body=SilenceIn,
    response_headers={"Location": "/v1/silences/{id}"},
)
def create_silence(call: Call) -> Response:
    silence = services().alerting.silences.create(call.tenant, silence_details(call.body))
    return reply(
        201,
        silence_out(silence, datetime.now(UTC)),
        {"Location": f"/v1/silences/{silence.id}"},
    )


@operation(
    alerts,
    "/v1/silences",
    "GET",
    summary="List silences, newest first (expired ones for 5 days)",
    tag="alerts",
    success={200: SilencePage},
    query=PageQuery,
)
def list_silences(call: Call) -> Response:
    query: PageQuery = call.query
    page = services().alerting.silences.list(call.tenant, limit=query.limit, cursor=query.cursor)
    now = datetime.now(UTC)
    return reply(
        200,
        SilencePage(items=[silence_out(item, now) for item in page.items], next=page.next_cursor),
    )


@operation(
    alerts,
    "/v1/silences/{silence_id}",
    "GET",
    summary="Read a silence",
    tag="alerts",
    success={200: SilenceOut},
    path_params=BY_SILENCE,
)
def get_silence(call: Call, silence_id: str) -> Response:
    silence = services().alerting.silences.get(call.tenant, silence_id)
    return reply(200, silence_out(silence, datetime.now(UTC)))


@operation(
    alerts,
    "/v1/silences/{silence_id}",
    "DELETE",
    summary="Expire a silence now; the alerts it held back that still fire notify",
    tag="alerts",
    success={204: None},
    path_params=BY_SILENCE,
)
def expire_silence(call: Call, silence_id: str) -> Response:
    services().alerting.alerts.expire_silence(call.tenant, silence_id)
    return reply(204)


# --- escalation policies ----------------------------------------------------------------------
@operation(
    alerts,
    "/v1/escalation-policies/{policy_id}",
    "PUT",
    summary="Create or replace an escalation policy",
    tag="alerts",
    success={200: PolicyOut},
    body=PolicyIn,
    path_params=BY_POLICY,
)
def put_policy(call: Call, policy_id: str) -> Response:
    policy = services().alerting.policies.put(call.tenant, policy_id, policy_details(call.body))
    return reply(200, policy_out(policy))


@operation(
    alerts,
    "/v1/escalation-policies/{policy_id}",
    "GET",
    summary="Read an escalation policy",
    tag="alerts",
    success={200: PolicyOut},
    path_params=BY_POLICY,
)
def get_policy(call: Call, policy_id: str) -> Response:
    return reply(200, policy_out(services().alerting.policies.get(call.tenant, policy_id)))


@operation(
    alerts,
    "/v1/escalation-policies/{policy_id}",
    "DELETE",
    summary="Delete an escalation policy (alerts already triggered keep their steps)",
    tag="alerts",
    success={204: None},
    path_params=BY_POLICY,
)
def delete_policy(call: Call, policy_id: str) -> Response:
    services().alerting.policies.delete(call.tenant, policy_id)
    return reply(204)


@operation(
    alerts,
    "/v1/escalation-policies",
    "GET",
    summary="List escalation policies (by id)",
    tag="alerts",
    success={200: PolicyPage},
    query=PageQuery,
)
def list_policies(call: Call) -> Response:
    query: PageQuery = call.query
    page = services().alerting.policies.list(call.tenant, limit=query.limit, cursor=query.cursor)
    return reply(
        200, PolicyPage(items=[policy_out(item) for item in page.items], next=page.next_cursor)
    )


# --- the acknowledge page ---------------------------------------------------------------------
@operation(
    alerts,
    "/ack/{token}",
    "GET",
    summary="The page of an alert's acknowledge link: one button, nothing acknowledged",
    tag="alerts",
    success={200: None},
    path_params=BY_TOKEN,
    auth=False,
    errors=(410,),
    media_types={200: HTML},
)
def ack_page(call: Call, token: str) -> Response:
    return _page(services().alerting.alerts.linked(token), done=False)


@operation(
    alerts,
    "/ack/{token}",
    "POST",
    summary="Acknowledge the alert of the link (the page's button)",
    tag="alerts",
    success={200: None},
    path_params=BY_TOKEN,
    auth=False,
    errors=(409, 410),
    media_types={200: HTML},
)
def ack_by_link(call: Call, token: str) -> Response:
    return _page(services().alerting.alerts.acknowledge_by_link(token), done=True)


def _page(alert: Alert, *, done: bool) -> Response:
    summary = html.escape(alert.summary)
    state = alert.status.value
    if alert.status is AlertStatus.TRIGGERED:
        action = '<form method="post"><button type="submit">Acknowledge</button></form>'
    elif alert.status is AlertStatus.ACKNOWLEDGED:
        when = format_timestamp(alert.acknowledged_at) if alert.acknowledged_at else ""
        action = f"<p>{'Acknowledged' if done else 'Already acknowledged'} {when}.</p>"
    else:
        action = "<p>This alert is resolved: there is nothing to acknowledge.</p>"
    body = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Alert: {summary}</title></head>"
        '<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">'
        f"<h1>{summary}</h1>"
        f"<p>Status: <strong>{state}</strong> · severity {alert.severity.value}"
        f" · triggered {format_timestamp(alert.created_at)}</p>"
        f"{action}</body></html>"
    )
    return Response(body=body, status_code=200, headers=dict(PAGE_HEADERS))
