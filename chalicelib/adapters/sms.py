"""SMS through Amazon SNS: one direct publish to the recipient's E.164 number."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.models.common import Channel, Severity
from chalicelib.models.stored import Content, Delivery, Tenant
from chalicelib.ports import Outgoing, SendOutcome

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SMS_MAX_CHARS = 1600
PERMANENT_SNS_ERRORS = frozenset({"InvalidParameter", "InvalidParameterValue", "OptedOut"})


def render_sms(content: Content) -> str:
    if content.sms is not None:
        return content.sms[:SMS_MAX_CHARS]  # a template's own SMS text
    text = content.title if not content.body else f"{content.title}: {content.body}"
    alert = content.alert
    if alert is not None and alert.ack_url and alert.status != "resolved":
        # The link must survive the cut: the text gives way to it.
        link = f" Ack: {alert.ack_url}"
        return text[: max(0, SMS_MAX_CHARS - len(link))] + link
    return text[:SMS_MAX_CHARS]


class SnsSmsSender:
    channel = Channel.SMS

    def __init__(self, *, sns: SNSClient) -> None:
        self._sns = sns

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        assert delivery.address is not None
        content = outgoing.content
        sms_type = "Transactional" if content.severity is Severity.CRITICAL else "Promotional"
        try:
            self._sns.publish(
                PhoneNumber=delivery.address,
                Message=render_sms(content),
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": sms_type}
                },
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = f"SNS {code}: {error.response.get('Error', {}).get('Message', '')}"
            if code in PERMANENT_SNS_ERRORS:
                return SendOutcome.permanent_failure(message)
            return SendOutcome.transient(message)
        except BotoCoreError as error:
            return SendOutcome.transient(f"SNS unreachable: {error}")
        return SendOutcome.ok()
