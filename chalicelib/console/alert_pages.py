"""The console's alerting pages: alerts (acknowledge, resolve, timeline), silences and
integrations. Each action calls the alerting service its API route (or CLI command) calls."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from chalice.app import Blueprint, Request, Response
from pydantic import ValidationError

from chalicelib.api.alert_representations import silence_details
from chalicelib.console import web
from chalicelib.console.pages import PAGE_SIZE, form_errors, page, query_value, routes
from chalicelib.console.web import field, html, redirect
from chalicelib.domain.errors import Conflict, Invalid
from chalicelib.domain.sessions import Session
from chalicelib.models.alerts import AlertStatus, IntegrationKind
from chalicelib.models.alerts_api import SilenceIn
from chalicelib.models.common import TOPIC_PATTERN
from chalicelib.ports import InvalidCursor
from chalicelib.wiring import services

console_alerts = Blueprint(__name__)
_route = routes(console_alerts)

# The silence form offers durations rather than a calendar: an operator at night silences
# "for the next hour", not until a date.
SILENCE_HOURS = (1, 2, 4, 8, 24, 72)
MATCHER_ROWS = 3


def _actor(session: Session) -> str:
    return f"console ({session.key_prefix})"


@_route("/console/alerts")
@page
def alerts_list(request: Request) -> Response:
    session = web.current_session(request)
    status_text = query_value(request, "status")
    status = AlertStatus(status_text) if status_text in AlertStatus else None
    try:
        found = services().alerting.alerts.list(
            session.tenant,
            status=status,
            limit=PAGE_SIZE,
            cursor=query_value(request, "cursor") or None,
        )
        items, next_cursor = found.items, found.next_cursor
    except InvalidCursor:
        items, next_cursor = [], None
    return html(
        request,
        "alerts.html",
        session=session,
        nav="alerts",
        items=items,
        next_cursor=next_cursor,
        status_filter=status.value if status else "",
        statuses=list(AlertStatus),
    )


@_route("/console/alerts/{alert_id}")
@page
def alert_detail(request: Request, alert_id: str) -> Response:
    session = web.current_session(request)
    alert = services().alerting.alerts.get(session.tenant, alert_id)
    return html(
        request,
        "alert.html",
        session=session,
        nav="alerts",
        alert=alert,
        done=query_value(request, "done"),
        error=None,
    )


def _act(request: Request, alert_id: str, action: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    alerting = services().alerting.alerts
    act = alerting.acknowledge if action == "acknowledge" else alerting.resolve
    try:
        act(session.tenant, alert_id, by=_actor(session))
    except Conflict as conflict:
        return html(
            request,
            "alert.html",
            409,
            session=session,
            nav="alerts",
            alert=alerting.get(session.tenant, alert_id),
            done="",
            error=str(conflict) or "This alert is resolved: nothing more to do.",
        )
    done = "acknowledged" if action == "acknowledge" else "resolved"
    return redirect(request, f"/console/alerts/{alert_id}?done={done}")


@_route("/console/alerts/{alert_id}/acknowledge", ["POST"])
@page
def alert_acknowledge(request: Request, alert_id: str) -> Response:
    return _act(request, alert_id, "acknowledge")


@_route("/console/alerts/{alert_id}/resolve", ["POST"])
@page
def alert_resolve(request: Request, alert_id: str) -> Response:
    return _act(request, alert_id, "resolve")


# --- silences -------------------------------------------------------------------------------
@_route("/console/silences")
@page
def silences(request: Request) -> Response:
    session = web.current_session(request)
    return _silences_page(request, session)


def _silences_page(
    request: Request,
    session: Session,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    alerting = services().alerting
    try:
        found = alerting.silences.list(
            session.tenant, limit=PAGE_SIZE, cursor=query_value(request, "cursor") or None
        )
        items, next_cursor = found.items, found.next_cursor
    except InvalidCursor:
        items, next_cursor = [], None
    return html(
        request,
        "silences.html",
        status,
        session=session,
        nav="alerts",
        items=items,
        next_cursor=next_cursor,
        now=web.now(),
        errors=errors or [],
        values=values or {},
        hours=SILENCE_HOURS,
        rows=range(MATCHER_ROWS),
    )


@_route("/console/silences", ["POST"])
@page
def silence_create(request: Request) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    matchers = []
    for row in range(MATCHER_ROWS):
        name, value = field(fields, f"name{row}"), field(fields, f"value{row}")
        if not name and not value:
            continue
        matchers.append(
            {
                "name": name,
                "value": value,
                "is_regex": field(fields, f"regex{row}") == "on",
                "is_equal": field(fields, f"negate{row}") != "on",
            }
        )
    hours_text = field(fields, "hours")
    hours = int(hours_text) if hours_text.isdigit() and int(hours_text) in SILENCE_HOURS else 1
    ends_at = web.now() + timedelta(hours=hours)
    body = {"matchers": matchers, "ends_at": ends_at, "comment": field(fields, "comment") or None}
    try:
        silence = silence_details(SilenceIn.model_validate(body))
        services().alerting.silences.create(session.tenant, silence)
    except (ValidationError, Invalid) as error:
        shown = {name: field(fields, name) for name in fields}
        return _silences_page(request, session, 422, form_errors(error), shown)
    return redirect(request, "/console/silences")


@_route("/console/silences/{silence_id}/expire", ["POST"])
@page
def silence_expire(request: Request, silence_id: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    services().alerting.alerts.expire_silence(session.tenant, silence_id)
    return redirect(request, "/console/silences")


# --- integrations ---------------------------------------------------------------------------
@_route("/console/integrations")
@page
def integrations(request: Request) -> Response:
    session = web.current_session(request)
    return _integrations_page(request, session)


def _integrations_page(
    request: Request,
    session: Session,
    *,
    status: int = 200,
    routing_key: str | None = None,
    errors: list[str] | None = None,
) -> Response:
    return html(
        request,
        "integrations.html",
        status,
        session=session,
        nav="alerts",
        items=services().alerting.integrations.list(session.tenant),
        kinds=list(IntegrationKind),
        routing_key=routing_key,
        errors=errors or [],
    )


@_route("/console/integrations", ["POST"])
@page
def integration_create(request: Request) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    kind_text = field(fields, "kind")
    topic = field(fields, "topic")
    if kind_text not in IntegrationKind:
        return _integrations_page(request, session, status=422, errors=["kind: pick one"])
    if topic and (len(topic) > 128 or not re.fullmatch(TOPIC_PATTERN, topic)):
        return _integrations_page(
            request, session, status=422, errors=["topic: words of A-Z a-z 0-9 _ : @ - joined by ."]
        )
    try:
        created = services().alerting.integrations.create(
            session.tenant,
            IntegrationKind(kind_text),
            topic=topic or None,
            escalation_policy=field(fields, "escalation_policy") or None,
        )
    except Invalid as error:
        return _integrations_page(
            request, session, status=422, errors=[f"{'.'.join(map(str, error.loc))}: {error.msg}"]
        )
    # A PagerDuty routing key is shown once, on this answer only (the page is no-store).
    return _integrations_page(request, session, routing_key=created.routing_key)


@_route("/console/integrations/{integration_id}/revoke", ["POST"])
@page
def integration_revoke(request: Request, integration_id: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    integrations = services().alerting.integrations
    integrations.get(session.tenant, integration_id)  # NotFound for another tenant's
    integrations.revoke(integration_id)
    return redirect(request, "/console/integrations")
