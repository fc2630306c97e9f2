"""Mobile push through SNS platform applications (FCM, APNs, APNs sandbox).

The platform applications hold the credentials (an FCM service account, an APNs key): they are
made once per stage outside the repository, and their ARNs are stage settings
(``TOCSIN_PUSH_FCM_APPLICATION_ARN``, ...). Each token gets one platform endpoint, made on its
first send and kept (``PushEndpointStore``) for every later one. A token the platform reports
invalid (SNS disables its endpoint) is reported as such: the endpoint is deleted here, and the
delivery service removes the token from the recipient.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.chat import cut
from chalicelib.domain.targets import Fate, TargetResult, combine
from chalicelib.models.common import Channel, PushPlatform, Severity
from chalicelib.models.stored import Delivery, Tenant
from chalicelib.ports import Outgoing, PushEndpointStore, SendOutcome

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

# SNS's message key for each platform (FCM goes by its old name, GCM).
SNS_PLATFORM_KEYS = {
    PushPlatform.FCM: "GCM",
    PushPlatform.APNS: "APNS",
    PushPlatform.APNS_SANDBOX: "APNS_SANDBOX",
}
# APNs and FCM both refuse a payload over 4 KB.
MAX_PAYLOAD_BYTES = 4096
# SNS's answer to a CreatePlatformEndpoint for a token that has an endpoint with other
# attributes (e.g. disabled): the existing endpoint's ARN is in the message.
_EXISTING_ENDPOINT = re.compile(r"Endpoint (arn:[^\s]+) already exists")
_TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottledException", "InternalError", "InternalFailure", "KMSThrottling"}
)


def _size(payload: Mapping[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def platform_payload(outgoing: Outgoing, platform: PushPlatform) -> dict[str, Any]:
    """The platform's own message, its body cut so that the whole fits in 4 KB."""
    content = outgoing.content

    def build(body: str | None) -> dict[str, Any]:
        data = {"notification_id": outgoing.notification_id, "severity": content.severity.value}
        url = (content.data or {}).get("url")
        if isinstance(url, str) and len(url) < 1024:
            data["url"] = url
        if platform is PushPlatform.FCM:
            # FCM HTTP v1 through SNS (https://docs.aws.amazon.com/sns/latest/dg/sns-fcm-v1-payloads.html)
            notification = {"title": content.title}
            if body:
                notification["body"] = body
            priority = "high" if content.severity is not Severity.INFO else "normal"
            return {
                "fcmV1Message": {
                    "message": {
                        "notification": notification,
                        "data": data,
                        "android": {"priority": priority.upper()},
                    }
                }
            }
        alert = {"title": content.title}
        if body:
            alert["body"] = body
        level = "time-sensitive" if content.severity is Severity.CRITICAL else "active"
        return {"aps": {"alert": alert, "sound": "default", "interruption-level": level}, **data}

    payload = build(content.body)
    if content.body and _size(payload) > MAX_PAYLOAD_BYTES:
        # What the payload takes besides its body text (``"x"``: three bytes as JSON).
        room = MAX_PAYLOAD_BYTES - (_size(build("x")) - 3)
        payload = build(
            cut(content.body, room, lambda text: len(json.dumps(text, ensure_ascii=False).encode()))
        )
    return payload


class SnsPushSender:
    channel = Channel.PUSH

    def __init__(
        self,
        *,
        sns: SNSClient,
        endpoints: PushEndpointStore,
        applications: Mapping[PushPlatform, str],
    ) -> None:
        self._sns = sns
        self._endpoints = endpoints
        self._applications = dict(applications)

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        results = [self._send_one(outgoing, target) for target in delivery.targets or []]
        return combine(results, reached_before=delivery.targets_reached)

    def _send_one(self, outgoing: Outgoing, target: str) -> TargetResult:
        name, _, token = target.partition(":")
        shown = _shown(target)
        try:
            platform = PushPlatform(name)
        except ValueError:
            return TargetResult(target, Fate.PERMANENT, f"{shown}: unknown push platform")
        application = self._applications.get(platform)
        if not application:
            return TargetResult(
                target,
                Fate.PERMANENT,
                f"{shown}: push platform {platform.value} is not configured in this stage",
            )
        message = json.dumps(
            {
                "default": outgoing.content.title,
                SNS_PLATFORM_KEYS[platform]: json.dumps(
                    platform_payload(outgoing, platform), ensure_ascii=False
                ),
            },
            ensure_ascii=False,
        )
        try:
            for _ in range(2):
                endpoint = self._endpoint(target, application, token)
                if endpoint is None:
                    return TargetResult(target, Fate.INVALID, f"{shown}: token refused")
                try:
                    self._sns.publish(TargetArn=endpoint, Message=message, MessageStructure="json")
                except ClientError as error:
                    code = _code(error)
                    if code == "NotFound":
                        # The endpoint was deleted behind our back: make it again, once.
                        self._endpoints.delete_push_endpoint(target)
                        continue
                    if code == "EndpointDisabled":
                        self._forget(target, endpoint)
                        return TargetResult(target, Fate.INVALID, f"{shown}: endpoint disabled")
                    raise
                return TargetResult(target, Fate.REACHED)
            return TargetResult(target, Fate.TRANSIENT, f"{shown}: endpoint keeps vanishing")
        except ClientError as error:
            code = _code(error)
            fate = Fate.TRANSIENT if code in _TRANSIENT_CODES else Fate.PERMANENT
            return TargetResult(target, fate, f"{shown}: SNS {code}: {_message(error)}")
        except BotoCoreError as error:
            return TargetResult(target, Fate.TRANSIENT, f"{shown}: SNS unreachable: {error}")

    def _endpoint(self, target: str, application: str, token: str) -> str | None:
        """The token's endpoint ARN, made on first use; None when SNS refuses the token."""
        known = self._endpoints.get_push_endpoint(target)
        if known is not None:
            return known
        try:
            arn = self._sns.create_platform_endpoint(
                PlatformApplicationArn=application, Token=token
            )["EndpointArn"]
        except ClientError as error:
            existing = _EXISTING_ENDPOINT.search(_message(error))
            if existing is not None:
                arn = existing.group(1)
            elif _code(error) == "InvalidParameter":
                return None
            else:
                raise
        self._endpoints.put_push_endpoint(target, arn)
        return arn

    def _forget(self, target: str, endpoint: str) -> None:
        # Should SNS not delete it, the endpoint stays disabled: forgotten all the same.
        with contextlib.suppress(BotoCoreError, ClientError):
            self._sns.delete_endpoint(EndpointArn=endpoint)
        self._endpoints.delete_push_endpoint(target)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def _shown(target: str) -> str:
    """A token as errors show it: its platform and last characters only."""
    name, _, token = target.partition(":")
    return f"{name} token …{token[-6:]}"
