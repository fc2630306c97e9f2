"""The delivery handler on real adapters against moto server, with a real webhook receiver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Response

from chalicelib import triggers
from chalicelib.domain.notifications import SendNotification
from chalicelib.domain.recipients import RecipientDetails
from chalicelib.models.common import Channel
from chalicelib.models.stored import Content
from chalicelib.settings import Settings, Stage
from chalicelib.wiring import Services, build_services, use_services
from infra.provision import Provisioned
from tests.harness import Receiver, poll, receiver
from tests.integration.conftest import Moto
from tocsin_local.emulator.events import sqs_record


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def services(moto: Moto, provisioned: Provisioned) -> Iterator[Services]:
    settings = Settings(
        stage=Stage.LOCAL, notifications_topic_arn=next(iter(provisioned.topic_arns.values()))
    )
    built = build_services(settings)
    use_services(built)
    yield built
    use_services(None)


@pytest.fixture
def tenant(services: Services) -> tuple[str, str]:
    issued = services.tenants.issue_key(f"t-{uuid.uuid4().hex[:8]}")
    return issued.tenant, issued.webhook_secret


@pytest.fixture
def hook(tenant: tuple[str, str]) -> Iterator[Receiver]:
    with receiver(tenant[1]) as instance:
        yield instance


def deliveries_queue(provisioned: Provisioned) -> tuple[str, str]:
    name = Settings(stage=Stage.LOCAL).delivery_queue(Channel.WEBHOOK)
    return provisioned.queue_urls[name], provisioned.queue_arns[name]


def receive(
    moto: Moto, provisioned: Provisioned, notification_id: str, wait: float = 5.0
) -> dict[str, Any]:
    url, _ = deliveries_queue(provisioned)
    sqs = moto.client("sqs")

    def one() -> dict[str, Any] | None:
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", []):
            if notification_id in message["Body"]:
                return dict(message)
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return None

    return poll(one, timeout=wait, what="the notification's message")


def send_notification(services: Services, tenant: str, hook: Receiver) -> str:
    services.recipients.put(tenant, "alice", RecipientDetails(webhook_url=hook.url))
    command = SendNotification(
        content=Content(title="Disk almost full"),
        recipient_id="alice",
        channels=[Channel.WEBHOOK],
        fingerprint=str(uuid.uuid4()),
    )
    return services.notifications.accept(tenant, command).notification.id


def test_redelivering_the_same_message_sends_no_second_webhook(
    moto: Moto,
    provisioned: Provisioned,
    services: Services,
    tenant: tuple[str, str],
    hook: Receiver,
) -> None:
    notification_id = send_notification(services, tenant[0], hook)
    message = receive(moto, provisioned, notification_id)
    _, arn = deliveries_queue(provisioned)
    event = {"Records": [sqs_record(message, arn, "us-east-1")]}
    assert triggers.deliver(Channel.WEBHOOK, event, Context()) == {"batchItemFailures": []}
    assert triggers.deliver(Channel.WEBHOOK, event, Context()) == {"batchItemFailures": []}
    received = hook.for_notification(notification_id)
    assert len(received) == 1
    assert received[0].webhook_id == f"msg_{notification_id}"
    assert hook.bad_signatures == 0


def test_a_retry_is_scheduled_through_the_messages_visibility(
    moto: Moto,
    provisioned: Provisioned,
    services: Services,
    tenant: tuple[str, str],
    hook: Receiver,
) -> None:
    hook.respond = lambda _: Response("", status=503)
    notification_id = send_notification(services, tenant[0], hook)
    message = receive(moto, provisioned, notification_id)
    _, arn = deliveries_queue(provisioned)
    result = triggers.deliver(
        Channel.WEBHOOK, {"Records": [sqs_record(message, arn, "us-east-1")]}, Context()
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    again = receive(moto, provisioned, notification_id, wait=10.0)
    assert again["MessageId"] == message["MessageId"]
    assert int(again["Attributes"]["ApproximateReceiveCount"]) == 2
