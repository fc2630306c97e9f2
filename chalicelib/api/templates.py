"""Templates and their preview."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.operations import Call, operation, reply
from chalicelib.api.queries import PageQuery
from chalicelib.domain.templates import Preview, TemplateDetails
from chalicelib.models.common import RecipientId, Severity
from chalicelib.models.templates import (
    EmailPreview,
    PreviewIn,
    PreviewOut,
    SmsPreview,
    Template,
    TemplateIn,
    TemplateOut,
    TemplatePage,
)
from chalicelib.wiring import services

templates = Blueprint(__name__)

TEMPLATE = "/v1/templates/{name}"
BY_NAME = {"name": RecipientId}


def template_out(template: Template) -> TemplateOut:
    return TemplateOut.model_validate(template.model_dump(exclude={"tenant_id"}))


def preview_out(preview: Preview) -> PreviewOut:
    email = preview.email
    return PreviewOut(
        title=preview.title,
        body=preview.body,
        email=EmailPreview(subject=email.subject, text=email.text, html=email.html),
        sms=SmsPreview(text=preview.sms.text),
    )


@operation(
    templates,
    TEMPLATE,
    "PUT",
    summary="Create or replace a template (Jinja2, sandboxed, strict undefined variables)",
    tag="templates",
    success={200: TemplateOut},
    body=TemplateIn,
    path_params=BY_NAME,
)
def put_template(call: Call, name: str) -> Response:
    request: TemplateIn = call.body
    template = services().templates.put(
        call.tenant,
        name,
        TemplateDetails(
            title=request.title,
            body=request.body,
            email=request.email,
            sms=request.sms,
            description=request.description,
        ),
    )
    return reply(200, template_out(template))


@operation(
    templates,
    TEMPLATE,
    "GET",
    summary="Read a template",
    tag="templates",
    success={200: TemplateOut},
    path_params=BY_NAME,
)
def get_template(call: Call, name: str) -> Response:
    return reply(200, template_out(services().templates.get(call.tenant, name)))


@operation(
    templates,
    TEMPLATE,
    "DELETE",
    summary="Delete a template",
    tag="templates",
    success={204: None},
    path_params=BY_NAME,
)
def delete_template(call: Call, name: str) -> Response:
    services().templates.delete(call.tenant, name)
    return reply(204)


@operation(
    templates,
    "/v1/templates",
    "GET",
    summary="List templates by name",
    tag="templates",
    success={200: TemplatePage},
    query=PageQuery,
)
def list_templates(call: Call) -> Response:
    query: PageQuery = call.query
    page = services().templates.list(call.tenant, limit=query.limit, cursor=query.cursor)
    return reply(
        200, TemplatePage(items=[template_out(t) for t in page.items], next=page.next_cursor)
    )


@operation(
    templates,
    TEMPLATE + "/preview",
    "POST",
    summary="Render a template as each channel would send it (422 when it does not render)",
    tag="templates",
    success={200: PreviewOut},
    body=PreviewIn,
    body_required=False,
    path_params=BY_NAME,
)
def preview_template(call: Call, name: str) -> Response:
    request: PreviewIn = call.body
    preview = services().templates.preview(
        call.tenant,
        name,
        data=request.data,
        recipient_id=request.recipient_id,
        severity=request.severity or Severity.INFO,
        category=request.category,
    )
    return reply(200, preview_out(preview))
