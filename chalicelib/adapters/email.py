"""Email through Amazon SES: a plain-text and an HTML part."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.models.common import Channel
from chalicelib.models.scheduling import DigestEntry
from chalicelib.models.stored import Content, Delivery, EmailContent, Tenant
from chalicelib.ports import Outgoing, SendOutcome

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_ses.type_defs import BodyTypeDef

# SES answers these when the message itself can never be sent as it is.
PERMANENT_SES_ERRORS = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "InvalidParameterValue",
        "AccountSendingPausedException",
    }
)


def render_text(content: Content) -> str:
    lines = [content.title]
    if content.body:
        lines += ["", content.body]
    lines += ["", f"Severity: {content.severity.value}"]
    if content.alert is not None:
        lines += [f"Alert: {content.alert.id} ({content.alert.status})"]
        if content.alert.ack_url and content.alert.status != "resolved":
            lines += [f"Acknowledge: {content.alert.ack_url}"]
    return "\n".join(lines) + "\n"


def render_html(content: Content) -> str:
    body = f"<p>{html.escape(content.body)}</p>" if content.body else ""
    alert = ""
    if content.alert is not None:
        alert = f"<p>Alert {html.escape(content.alert.id)} ({content.alert.status})</p>"
        if content.alert.ack_url and content.alert.status != "resolved":
            url = html.escape(content.alert.ack_url, quote=True)
            alert += f'<p><a href="{url}">Acknowledge</a></p>'
    return (
        f"<html><body><h1>{html.escape(content.title)}</h1>{body}{alert}"
        f"<p><small>Severity: {content.severity.value}</small></p></body></html>"
    )


def digest_text(entries: Sequence[DigestEntry]) -> str:
    return "\n\n".join(render_text(entry.content).rstrip("\n") for entry in entries) + "\n"


def digest_html(entries: Sequence[DigestEntry]) -> str:
    items = "".join(
        f"<li><strong>{html.escape(entry.content.title)}</strong>"
        + (f"<br>{html.escape(entry.content.body)}" if entry.content.body else "")
        + "</li>"
        for entry in entries
    )
    return f"<html><body><ul>{items}</ul></body></html>"


def body_of(text: str, html_part: str | None) -> BodyTypeDef:
    body: BodyTypeDef = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html_part is not None:
        body["Html"] = {"Data": html_part, "Charset": "UTF-8"}
    return body


class SesEmailSender:
    channel = Channel.EMAIL

    def __init__(self, *, ses: SESClient, sender: str) -> None:
        self._ses = ses
        self._sender = sender

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        assert delivery.address is not None
        content = outgoing.content
        parts = content.email or EmailContent()
        subject = parts.subject or content.title
        if content.severity.value == "critical":
            subject = f"[CRITICAL] {subject}"
        text: str = render_text(content)
        html_part: str | None = render_html(content)
        if outgoing.digest is not None:
            entries = outgoing.digest.on(Channel.EMAIL)
            text, html_part = digest_text(entries), digest_html(entries)
        elif parts.text is not None or parts.html is not None:
            # A template's own parts: the text one (else the body), the HTML one if it has one.
            text = parts.text if parts.text is not None else (content.body or content.title)
            html_part = parts.html
        try:
            self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [delivery.address]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": body_of(text, html_part),
                },
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = f"SES {code}: {error.response.get('Error', {}).get('Message', '')}"
            if code in PERMANENT_SES_ERRORS:
                return SendOutcome.permanent_failure(message)
            return SendOutcome.transient(message)
        except BotoCoreError as error:
            return SendOutcome.transient(f"SES unreachable: {error}")
        return SendOutcome.ok()
