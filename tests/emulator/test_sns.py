"""SNS topic -> function: filter policies (attribute and body scope), the SNS event envelope,
and the two retries of an asynchronous invoke."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment

pytestmark = pytest.mark.xdist_group("sns")


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("sns")


def topic_arn(app: Deployment, name: str) -> str:
    return str(app.aws("sns").create_topic(Name=name)["TopicArn"])


def publish(app: Deployment, topic: str, message: str, **attributes: str) -> str:
    response = app.aws("sns").publish(
        TopicArn=topic_arn(app, topic),
        Message=message,
        Subject="conformance",
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    )
    return str(response["MessageId"])


def messages(items: list[dict[str, Any]]) -> list[str]:
    return [item["message"] for item in items]


def test_filter_policy_on_message_attributes(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    publish(app, "cf-alerts", f"info-{run}", kind="info")
    publish(app, "cf-alerts", f"alert-{run}", kind="alert")
    publish(app, "cf-alerts", f"unlabelled-{run}")
    publish(app, "cf-alerts", f"last-alert-{run}", kind="alert")

    wanted = {f"alert-{run}", f"last-alert-{run}"}
    # Asynchronous invokes: deliveries may land in any order.
    items = app.await_observed("sns_attributes", lambda items: wanted <= set(messages(items)))

    assert sorted(message for message in messages(items) if run in message) == [
        f"alert-{run}",
        f"last-alert-{run}",
    ]


def test_filter_policy_on_message_body(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    info = json.dumps({"kind": "info", "run": run})
    alert = json.dumps({"kind": "alert", "run": run})
    # The attribute says "alert", the body does not: a body-scoped policy looks at the body.
    publish(app, "cf-alerts", info, kind="alert")
    publish(app, "cf-alerts", alert)

    items = app.await_observed("sns_body", lambda items: alert in messages(items))

    assert [message for message in messages(items) if run in message] == [alert]


def test_sns_event_envelope(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    message_id = publish(app, "cf-alerts", f"envelope-{run}", kind="alert", team="ops")

    items = app.await_observed("sns_attributes", lambda items: f"envelope-{run}" in messages(items))

    item = next(item for item in items if item["message"] == f"envelope-{run}")
    assert item["subject"] == "conformance"
    record = item["record"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(topic_arn(app, "cf-alerts") + ":")
    sns = record["Sns"]
    assert sns["Type"] == "Notification"
    assert sns["MessageId"] == message_id
    assert sns["TopicArn"] == topic_arn(app, "cf-alerts")
    assert sns["Subject"] == "conformance"
    assert sns["Message"] == f"envelope-{run}"
    assert sns["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "alert"},
        "team": {"Type": "String", "Value": "ops"},
    }
    assert sns["Timestamp"].endswith("Z")
    for key in ("SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl"):
        assert sns[key], key


def deliveries_of(items: list[dict[str, Any]], message_id: str) -> list[dict[str, Any]]:
    return [item for item in items if item["record"]["Sns"]["MessageId"] == message_id]


def test_failed_invocation_is_retried_and_succeeds(app: Deployment) -> None:
    message_id = publish(app, "cf-flaky", f"flaky-{uuid.uuid4().hex[:8]}")

    items = app.await_observed(
        "sns_retry",
        lambda items: len(deliveries_of(items, message_id)) >= 3,
        timeout=app.async_retry_seconds * 3,
    )

    attempts = deliveries_of(items, message_id)
    assert len(attempts) == 3
    assert len({item["record"]["Sns"]["Timestamp"] for item in attempts}) == 1


def test_failing_function_gets_exactly_two_retries(app: Deployment) -> None:
    message_id = publish(app, "cf-doomed", f"doomed-{uuid.uuid4().hex[:8]}")

    app.await_observed(
        "sns_exhausted",
        lambda items: len(deliveries_of(items, message_id)) >= 3,
        timeout=app.async_retry_seconds * 3,
    )
    # A fourth attempt would come at most one retry interval after the third.
    time.sleep(app.async_retry_seconds)

    assert len(deliveries_of(app.observed("sns_exhausted"), message_id)) == 3
