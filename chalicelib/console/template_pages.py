"""The console's templates (edit, preview as each channel would send it) and the tenant's
default preferences. Each action calls the service its API route calls."""

from __future__ import annotations

import json
import re
from typing import Any

from chalice.app import Blueprint, Request, Response
from pydantic import ValidationError

from chalicelib.console import web
from chalicelib.console.pages import PAGE_SIZE, form_errors, page, query_value, routes
from chalicelib.console.web import field, html, redirect
from chalicelib.domain.errors import Invalid
from chalicelib.domain.sessions import Session
from chalicelib.domain.templates import Preview, TemplateDetails
from chalicelib.models.common import RECIPIENT_ID_PATTERN, Severity
from chalicelib.models.preferences import TenantPreferences
from chalicelib.models.templates import PreviewIn, Template, TemplateIn
from chalicelib.ports import InvalidCursor
from chalicelib.wiring import services

console_templates = Blueprint(__name__)
_route = routes(console_templates)


def _template_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    def value(name: str) -> str | None:
        return field(fields, name) or None

    body: dict[str, Any] = {
        "title": field(fields, "title"),
        "body": value("body"),
        "description": value("description"),
    }
    email = {
        part: value(f"email_{part}")
        for part in ("subject", "text", "html")
        if value(f"email_{part}")
    }
    if email:
        body["email"] = email
    if value("sms_text"):
        body["sms"] = {"text": value("sms_text")}
    return body


def _values_of(template: Template | None) -> dict[str, str]:
    if template is None:
        return {}
    values = {
        "name": template.name,
        "title": template.title,
        "body": template.body or "",
        "description": template.description or "",
    }
    if template.email is not None:
        for part in ("subject", "text", "html"):
            values[f"email_{part}"] = getattr(template.email, part) or ""
    if template.sms is not None:
        values["sms_text"] = template.sms.text
    return values


@_route("/console/templates")
@page
def templates_list(request: Request) -> Response:
    session = web.current_session(request)
    return _list_page(request, session)


def _list_page(
    request: Request,
    session: Session,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    try:
        found = services().templates.list(
            session.tenant, limit=PAGE_SIZE, cursor=query_value(request, "cursor") or None
        )
        items, next_cursor = found.items, found.next_cursor
    except InvalidCursor:
        items, next_cursor = [], None
    return html(
        request,
        "templates.html",
        status,
        session=session,
        nav="templates",
        items=items,
        next_cursor=next_cursor,
        errors=errors or [],
        values=values or {},
    )


@_route("/console/templates", ["POST"])
@page
def template_save(request: Request) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    name = field(fields, "name")
    try:
        if not re.fullmatch(RECIPIENT_ID_PATTERN, name):
            raise Invalid(["name"], "1-128 characters of A-Z a-z 0-9 . _ : @ -")
        request_body = TemplateIn.model_validate(_template_form(fields))
        services().templates.put(
            session.tenant,
            name,
            TemplateDetails(
                title=request_body.title,
                body=request_body.body,
                email=request_body.email,
                sms=request_body.sms,
                description=request_body.description,
            ),
        )
    except (ValidationError, Invalid) as error:
        shown = {key: field(fields, key) for key in fields}
        if field(fields, "editing"):
            return _template_page(
                request, session, name, 422, errors=form_errors(error), values=shown
            )
        return _list_page(request, session, 422, form_errors(error), shown)
    return redirect(request, f"/console/templates/{name}?saved=1")


def _template_page(
    request: Request,
    session: Session,
    name: str,
    status: int = 200,
    *,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
    preview: Preview | None = None,
    preview_errors: list[str] | None = None,
    preview_values: dict[str, str] | None = None,
) -> Response:
    template = services().templates.get(session.tenant, name)
    return html(
        request,
        "template.html",
        status,
        session=session,
        nav="templates",
        name=name,
        values=values or _values_of(template),
        errors=errors or [],
        preview=preview,
        preview_errors=preview_errors or [],
        preview_values=preview_values or {"data": '{\n  "host": "db-1"\n}'},
        severities=list(Severity),
        saved=query_value(request, "saved"),
    )


@_route("/console/templates/{name}")
@page
def template_detail(request: Request, name: str) -> Response:
    session = web.current_session(request)
    return _template_page(request, session, name)


@_route("/console/templates/{name}/preview", ["POST"])
@page
def template_preview(request: Request, name: str) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    shown = {key: field(fields, key) for key in ("data", "recipient_id", "severity")}
    try:
        data_text = field(fields, "data")
        try:
            data = json.loads(data_text) if data_text else None
        except ValueError as error:
            raise Invalid(["data"], f"not valid JSON: {error}") from None
        body = PreviewIn.model_validate(
            {
                "data": data,
                "recipient_id": field(fields, "recipient_id") or None,
                "severity": field(fields, "severity") or None,
            }
        )
        preview = services().templates.preview(
            session.tenant,
            name,
            data=body.data,
            recipient_id=body.recipient_id,
            severity=body.severity or Severity.INFO,
            category=body.category,
        )
    except (ValidationError, Invalid) as error:
        return _template_page(
            request, session, name, 422, preview_errors=form_errors(error), preview_values=shown
        )
    return _template_page(request, session, name, preview=preview, preview_values=shown)


@_route("/console/templates/{name}/delete", ["POST"])
@page
def template_delete(request: Request, name: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    services().templates.delete(session.tenant, name)
    return redirect(request, "/console/templates")


# --- the tenant's default preferences -------------------------------------------------------
@_route("/console/preferences")
@page
def preferences(request: Request) -> Response:
    session = web.current_session(request)
    current = services().preferences.tenant(session.tenant)
    text = json.dumps(current.model_dump(mode="json", exclude_none=True), indent=2)
    return html(
        request,
        "preferences.html",
        session=session,
        nav="recipients",
        text=text,
        errors=[],
        saved=query_value(request, "saved"),
    )


@_route("/console/preferences", ["POST"])
@page
def preferences_save(request: Request) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    text = field(fields, "preferences") or "{}"
    try:
        try:
            parsed = json.loads(text)
        except ValueError as error:
            raise Invalid(["preferences"], f"not valid JSON: {error}") from None
        services().preferences.put_tenant(session.tenant, TenantPreferences.model_validate(parsed))
    except (ValidationError, Invalid) as error:
        return html(
            request,
            "preferences.html",
            422,
            session=session,
            nav="recipients",
            text=text,
            errors=form_errors(error),
            saved="",
        )
    return redirect(request, "/console/preferences?saved=1")
