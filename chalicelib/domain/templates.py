"""Templates: Jinja2 in its sandbox, with strict undefined variables.

A template is parsed when it is stored (a syntax error is a ``422`` naming the part) and rendered
when a notification is accepted, for its recipient, so that a template that cannot render is
refused at the ``POST`` and never fails later. HTML parts are autoescaped; text parts are not.

A render has a budget: its output is cut off past a size, and a deadline stops a template that
loops without writing anything (the sandbox bounds ``range`` but not loops nested over data).

Context: ``data`` (the notification's), ``recipient`` (its id and fields; a field it does not
have is an empty string, so a template that names one never fails for its absence),
``notification`` (``id``, ``severity``, ``category``, ``topic``, ``recipient_id``,
``created_at``, ``deliver_at``).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from types import FrameType
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.models.common import Severity, format_timestamp
from chalicelib.models.stored import Content, EmailContent, Recipient
from chalicelib.models.templates import EmailTemplate, SmsTemplate, Template
from chalicelib.ports import Clock, Page, RecipientStore, TemplateStore

if TYPE_CHECKING:
    from jinja2 import Template as JinjaTemplate
    from jinja2.sandbox import SandboxedEnvironment

MAX_TITLE = 200
MAX_BODY = 4000
MAX_SMS = 1600
MAX_SUBJECT = 200
MAX_EMAIL_TEXT = 64 * 1024
MAX_EMAIL_HTML = 128 * 1024
RENDER_SECONDS = 1.0
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Each part's rendered length limit.
LIMITS = {
    "title": MAX_TITLE,
    "body": MAX_BODY,
    "email.subject": MAX_SUBJECT,
    "email.text": MAX_EMAIL_TEXT,
    "email.html": MAX_EMAIL_HTML,
    "sms.text": MAX_SMS,
}
ONE_LINE = ("title", "email.subject")
# What Jinja2 names the code it compiles from a string: the deadline traces those frames only.
TEMPLATE_FILENAME = "<template>"


class RenderFailed(Exception):
    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part
        self.message = message


class _OutOfTime(Exception):
    pass


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@cache
def _environment(html: bool) -> SandboxedEnvironment:
    # Imported on first use: functions that never render a template do not pay for Jinja2.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=html,
        finalize=_finalize,
        keep_trailing_newline=False,
    )


def _env_for(part: str) -> SandboxedEnvironment:
    return _environment(part.endswith("html"))


def check_syntax(parts: Mapping[str, str]) -> None:
    """Raises Invalid naming the first part that does not parse."""
    from jinja2 import TemplateSyntaxError

    for part, source in parts.items():
        try:
            _env_for(part).parse(source)
        except TemplateSyntaxError as error:
            raise Invalid(part.split("."), f"line {error.lineno}: {error.message}") from None


def names_recipient(parts: Mapping[str, str]) -> bool:
    """Whether any part reads ``recipient`` (its rendering then differs per recipient)."""
    from jinja2 import meta

    return any(
        "recipient" in meta.find_undeclared_variables(_env_for(part).parse(source))
        for part, source in parts.items()
    )


class _Deadline:
    """Stops a render that runs past its time: a trace on the template's own frames only."""

    def __init__(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def __enter__(self) -> _Deadline:
        self._previous = sys.gettrace()
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)

    def _call(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if frame.f_code.co_filename != TEMPLATE_FILENAME:
            return None
        return self._line

    def _line(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if time.monotonic() > self._until:
            raise _OutOfTime
        return self._line


@lru_cache(maxsize=256)
def _compiled(html: bool, source: str) -> JinjaTemplate:
    return _environment(html).from_string(source)


def _render_part(part: str, source: str, context: Mapping[str, Any], seconds: float) -> str:
    from jinja2 import TemplateError

    limit = LIMITS[part]
    try:
        template = _compiled(part.endswith("html"), source)
    except TemplateError as error:
        raise RenderFailed(part, str(error)) from None
    chunks: list[str] = []
    size = 0
    try:
        with _Deadline(seconds):
            for chunk in template.generate(**context):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit * 4 + 1024:
                    break
    except _OutOfTime:
        raise RenderFailed(part, f"took longer than {seconds:g} s") from None
    except TemplateError as error:
        raise RenderFailed(part, error.message or type(error).__name__) from None
    except Exception as error:  # a sandbox refusal, a failing filter: the template's fault
        raise RenderFailed(part, f"{type(error).__name__}: {error}") from None
    text = "".join(chunks)
    if part in ONE_LINE:
        text = text.strip()
        if _LINE_BREAKING.search(text):
            raise RenderFailed(part, "renders to more than one line")
        if not text and part == "title":
            raise RenderFailed(part, "renders empty")
    if len(text) > limit:
        raise RenderFailed(part, f"renders to {len(text)} characters; the limit is {limit}")
    return text


def recipient_context(recipient: Recipient | None) -> dict[str, str]:
    """A recipient as templates see it: every field present (empty when not set)."""
    fields = ("recipient_id", "name", "email", "phone", "webhook_url")
    if recipient is None:
        return dict.fromkeys(fields, "")
    return {name: str(getattr(recipient, name) or "") for name in fields}


@dataclass(frozen=True)
class Occasion:
    """The notification a template renders for."""

    notification_id: str
    created_at: datetime
    severity: Severity
    category: str | None
    data: Mapping[str, Any] | None
    topic: str | None = None
    recipient_id: str | None = None
    deliver_at: datetime | None = None

    def context(self, recipient: Recipient | None) -> dict[str, Any]:
        return {
            "data": dict(self.data or {}),
            "recipient": recipient_context(recipient),
            "notification": {
                "id": self.notification_id,
                "severity": self.severity.value,
                "category": self.category,
                "topic": self.topic,
                "recipient_id": self.recipient_id,
                "created_at": format_timestamp(self.created_at),
                "deliver_at": format_timestamp(self.deliver_at) if self.deliver_at else None,
            },
        }


def render(
    parts: Mapping[str, str],
    occasion: Occasion,
    recipient: Recipient | None,
    *,
    seconds: float = RENDER_SECONDS,
) -> Content:
    """The content ``parts`` make for ``recipient``. Raises RenderFailed."""
    context = occasion.context(recipient)
    out = {part: _render_part(part, source, context, seconds) for part, source in parts.items()}
    email = None
    if any(part.startswith("email.") for part in parts):
        email = EmailContent(
            subject=out.get("email.subject") or None,
            text=out.get("email.text") or None,
            html=out.get("email.html") or None,
        )
    return Content(
        title=out.get("title", ""),
        body=out.get("body") or None,
        severity=occasion.severity,
        category=occasion.category,
        data=dict(occasion.data) if occasion.data is not None else None,
        email=email,
        sms=out.get("sms.text") or None,
    )


def with_overrides(rendered: Content, title: str | None, body: str | None) -> Content:
    """A request's own title and body win over the template's."""
    return rendered.model_copy(
        update={
            "title": title or rendered.title,
            "body": body if body is not None else rendered.body,
        }
    )


@dataclass(frozen=True)
class EmailPreview:
    subject: str
    text: str | None
    html: str | None


@dataclass(frozen=True)
class SmsPreview:
    text: str


@dataclass(frozen=True)
class Preview:
    """A template's parts as each channel would send them."""

    title: str
    body: str | None
    email: EmailPreview
    sms: SmsPreview


def preview_of(content: Content) -> Preview:
    """The parts as each channel sends them (the senders' defaults filled in)."""
    email = content.email or EmailContent()
    sms = content.sms or (content.title if not content.body else f"{content.title}: {content.body}")
    return Preview(
        title=content.title,
        body=content.body,
        email=EmailPreview(
            subject=email.subject or content.title,
            text=email.text if email.text is not None else content.body,
            html=email.html,
        ),
        sms=SmsPreview(text=sms[:MAX_SMS]),
    )


@dataclass(frozen=True)
class TemplateDetails:
    title: str
    body: str | None = None
    email: EmailTemplate | None = None
    sms: SmsTemplate | None = None
    description: str | None = None


class TemplateService:
    def __init__(
        self, *, templates: TemplateStore, recipients: RecipientStore, clock: Clock
    ) -> None:
        self._templates = templates
        self._recipients = recipients
        self._clock = clock

    def put(self, tenant_id: str, name: str, details: TemplateDetails) -> Template:
        now = self._clock.now()
        existing = self._templates.get_template(tenant_id, name)
        template = Template(
            tenant_id=tenant_id,
            name=name,
            title=details.title,
            body=details.body,
            email=details.email,
            sms=details.sms,
            description=details.description,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        check_syntax(template.parts())
        self._templates.put_template(template)
        return template

    def get(self, tenant_id: str, name: str) -> Template:
        template = self._templates.get_template(tenant_id, name)
        if template is None:
            raise NotFound("template")
        return template

    def delete(self, tenant_id: str, name: str) -> None:
        if not self._templates.delete_template(tenant_id, name):
            raise NotFound("template")

    def list(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Template]:
        return self._templates.list_templates(tenant_id, limit=limit, cursor=cursor)

    def preview(
        self,
        tenant_id: str,
        name: str,
        *,
        data: Mapping[str, Any] | None,
        recipient_id: str | None,
        severity: Severity,
        category: str | None,
    ) -> Preview:
        template = self.get(tenant_id, name)
        recipient = None
        if recipient_id is not None:
            recipient = self._recipients.get_recipient(tenant_id, recipient_id)
            if recipient is None:
                raise Invalid(["recipient_id"], "no recipient with this id")
        now = self._clock.now()
        occasion = Occasion(
            notification_id="preview",
            created_at=now,
            severity=severity,
            category=category,
            data=data,
            recipient_id=recipient_id,
        )
        try:
            content = render(template.parts(), occasion, recipient)
        except RenderFailed as failed:
            raise Invalid(["data"], f"the template does not render: {failed}") from None
        return preview_of(content)

    def source(self, tenant_id: str, name: str) -> dict[str, str]:
        """A template's parts, for a notification that names it (422 when there is none)."""
        template = self._templates.get_template(tenant_id, name)
        if template is None:
            raise Invalid(["template"], f"no template named {name!r}")
        return template.parts()


def first_failure(
    parts: Mapping[str, str], occasion: Occasion, recipients: Iterable[Recipient | None]
) -> tuple[Recipient | None, RenderFailed] | None:
    """The first of ``recipients`` the template does not render for, with why."""
    for recipient in recipients:
        try:
            render(parts, occasion, recipient)
        except RenderFailed as failed:
            return recipient, failed
    return None
