"""Templates: request and reply bodies, and what is stored (api.md, Templates)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from chalicelib.models.api import MAX_DATA_BYTES, MAX_JSON_DEPTH, json_depth
from chalicelib.models.common import Model, RecipientId, Severity, Timestamp
from chalicelib.models.stored import Stored

# Sources are bounded so that a template, its notification and its rendering fit one item.
MAX_TITLE_SOURCE = 1_000
MAX_TEXT_SOURCE = 20_000
MAX_HTML_SOURCE = 64 * 1024


def _omit_none(value: object) -> bool:
    return value is None


class TemplateWrite(Model):
    model_config = ConfigDict(extra="forbid")


class EmailTemplate(TemplateWrite):
    subject: str | None = Field(
        default=None, max_length=MAX_TITLE_SOURCE, description="Default: the title"
    )
    text: str | None = Field(
        default=None, max_length=MAX_TEXT_SOURCE, description="Default: the body"
    )
    html: str | None = Field(
        default=None, max_length=MAX_HTML_SOURCE, description="Autoescaped; default: none"
    )


class SmsTemplate(TemplateWrite):
    text: str = Field(max_length=MAX_TEXT_SOURCE)


class TemplateIn(TemplateWrite):
    """Each string is a Jinja2 template: ``{{ data.x }}``, ``{{ recipient.name }}``,
    ``{{ notification.severity }}``; a variable that is not defined is an error."""

    title: str = Field(min_length=1, max_length=MAX_TITLE_SOURCE)
    body: str | None = Field(default=None, max_length=MAX_TEXT_SOURCE)
    email: EmailTemplate | None = None
    sms: SmsTemplate | None = None
    description: str | None = Field(default=None, max_length=1_000)


class Template(Stored):
    tenant_id: str
    name: str
    title: str
    body: str | None = None
    email: EmailTemplate | None = None
    sms: SmsTemplate | None = None
    description: str | None = None
    created_at: Timestamp
    updated_at: Timestamp

    def parts(self) -> dict[str, str]:
        """Every source by its field path (``email.html``)."""
        found = {"title": self.title, "body": self.body}
        if self.email is not None:
            found |= {
                "email.subject": self.email.subject,
                "email.text": self.email.text,
                "email.html": self.email.html,
            }
        if self.sms is not None:
            found["sms.text"] = self.sms.text
        return {path: source for path, source in found.items() if source is not None}


class TemplateOut(Model):
    name: str
    title: str
    body: str | None = Field(default=None, exclude_if=_omit_none)
    email: EmailTemplate | None = Field(default=None, exclude_if=_omit_none)
    sms: SmsTemplate | None = Field(default=None, exclude_if=_omit_none)
    description: str | None = Field(default=None, exclude_if=_omit_none)
    created_at: Timestamp
    updated_at: Timestamp


class TemplatePage(Model):
    items: list[TemplateOut]
    next: str | None


class PreviewIn(TemplateWrite):
    data: dict[str, Any] | None = Field(default=None, description="As a notification's data")
    recipient_id: RecipientId | None = Field(
        default=None, description="Render for this recipient (else one with no fields set)"
    )
    severity: Severity | None = Field(
        default=None, description="notification.severity (default info)"
    )
    category: str | None = Field(default=None, max_length=128)

    @field_validator("data")
    @classmethod
    def _data_like_a_notification(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            if json_depth(value) > MAX_JSON_DEPTH:
                raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels")
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_DATA_BYTES:
                raise ValueError(f"data is {size} bytes serialized; the limit is {MAX_DATA_BYTES}")
        return value


class EmailPreview(Model):
    subject: str
    text: str | None
    html: str | None


class SmsPreview(Model):
    text: str


class PreviewOut(Model):
    """The parts as each channel would send them."""

    title: str
    body: str | None
    email: EmailPreview
    sms: SmsPreview
