"""The sweep on its EventBridge rule: a notification whose queue message was lost (as after a
crash between the table write and the publish) is republished by the scheduled sweep and
delivered, with no other help."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.deployed.deployment import DeployedStack
from tests.harness import Api, Receiver, poll

# The rule fires once a minute; the local stage's grace is 10 s.
SWEEP_SECONDS = 150


def mapped_queues(stack: DeployedStack) -> dict[str, str]:
    """Event source mapping id -> the URL of the queue it reads."""
    lam, sqs = stack.aws("lambda"), stack.aws("sqs")
    mapped = {}
    for uuid_ in stack.resources("AWS::Lambda::EventSourceMapping"):
        arn = lam.get_event_source_mapping(UUID=uuid_)["EventSourceArn"]
        mapped[uuid_] = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
    return mapped


@contextmanager
def queue_triggers_paused(stack: DeployedStack, mappings: list[str]) -> Iterator[None]:
    lam = stack.aws("lambda")

    def set_all(enabled: bool) -> None:
        for mapping in mappings:
            lam.update_event_source_mapping(UUID=mapping, Enabled=enabled)
        state = "Enabled" if enabled else "Disabled"
        for mapping in mappings:
            poll(
                lambda mapping=mapping: (  # type: ignore[misc]
                    lam.get_event_source_mapping(UUID=mapping)["State"] == state
                ),
                timeout=60,
                interval=0.2,
                what=f"mapping {mapping} {state}",
            )

    set_all(False)
    try:
        yield
    finally:
        set_all(True)


def take_messages(stack: DeployedStack, queue_urls: set[str], notification_id: str) -> int:
    """Receives and deletes what the queues hold until the notification's message is gone."""
    sqs = stack.aws("sqs")
    taken = 0

    def drain() -> bool:
        nonlocal taken
        received = 0
        for url in queue_urls:
            messages: list[dict[str, Any]] = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            received += len(messages)
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                taken += notification_id in message["Body"]
        return taken > 0 and received == 0

    poll(drain, timeout=60, interval=0, what=f"the message of {notification_id} taken")
    return taken


def test_a_notification_whose_message_was_lost_is_delivered_by_the_scheduled_sweep(
    stack: DeployedStack, api: Api, hook: Receiver
) -> None:
    # GIVEN a notification accepted while the queue triggers were paused, its message removed
    rid = f"r-{uuid.uuid4().hex[:10]}"
    assert api.put_recipient(rid, webhook_url=hook.url).status_code == 200
    queues = mapped_queues(stack)
    with queue_triggers_paused(stack, list(queues)):
        created = api.notify(recipient_id=rid, channels=["webhook"])
        assert created.status_code == 202, created.text
        notification_id = created.json()["id"]
        taken = take_messages(stack, set(queues.values()), notification_id)
    assert taken >= 1
    assert api.notification(notification_id)["status"] == "accepted"

    # WHEN the sweep's EventBridge rule fires (nothing else is done)
    final = api.wait_final(notification_id, timeout=SWEEP_SECONDS)

    # THEN the notification is delivered, once
    assert final["status"] == "delivered"
    assert len(hook.for_notification(notification_id)) == 1
    assert hook.bad_signatures == 0
