"""Email through Amazon SES: a plain-text and an HTML part."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.models.common import Channel
from chalicelib.models.stored import Content, Delivery, Tenant
from chalicelib.ports import Outgoing, SendOutcome

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient

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


class SesEmailSender:
    channel = Channel.EMAIL

    def __init__(self, *, ses: SESClient, sender: str) -> None:
        self._ses = ses
        self._sender = sender

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        assert delivery.address is not None
        content = outgoing.content
        subject = content.title
        if content.severity.value == "critical":
            subject = f"[CRITICAL] {subject}"
        try:
            self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [delivery.address]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": render_text(content), "Charset": "UTF-8"},
                        "Html": {"Data": render_html(content), "Charset": "UTF-8"},
                    },
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
