"""Tocsin's own stack with LocalStack as the cloud: ``tocsin run --endpoint-url`` (our API and
trigger runner, LocalStack's DynamoDB, SNS and SQS), one notification, one signed webhook."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.harness import Api, receiver
from tocsin_local.stack import StackProcess


@pytest.fixture(scope="module")
def stack_on_localstack(
    localstack: tuple[str, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, str]]:
    endpoint, _ = localstack
    stack = StackProcess(tmp_path_factory.mktemp("tocsin-on-localstack"), endpoint_url=endpoint)
    try:
        info = stack.wait_ready()
        assert info.aws_endpoint_url == endpoint
        yield Api(info.api_url, info.api_key), info.webhook_secret
    finally:
        stack.stop()


def test_notification_reaches_a_signed_webhook(stack_on_localstack: tuple[Api, str]) -> None:
    api, secret = stack_on_localstack
    with receiver(secret) as hook:
        recipient = f"r-{uuid.uuid4().hex[:10]}"
        assert api.put_recipient(recipient, webhook_url=hook.url).status_code in (200, 201)
        created = api.notify(recipient_id=recipient, channels=["webhook"])
        assert created.status_code == 202, created.text

        final = api.wait_final(created.json()["id"], timeout=60)

        assert final["status"] == "delivered"
        received = hook.for_notification(created.json()["id"])
        assert len(received) == 1
        assert hook.bad_signatures == 0
