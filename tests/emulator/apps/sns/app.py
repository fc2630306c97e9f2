"""Conformance fixture: SNS topics -> functions, with filter policies (in .chalice/config.json)
and asynchronous retries. Each function records the SNS record it received."""

from __future__ import annotations

from chalice.app import Chalice, SNSEvent
from chalicelib.observations import observe, observed  # type: ignore[import-not-found]

app = Chalice(app_name="cf-sns")


def _seen(function: str, event: SNSEvent) -> int:
    """Records the delivery; returns how many deliveries of this message there have been."""
    record = event.to_dict()["Records"][0]
    message_id = record["Sns"]["MessageId"]
    observe(function, message=event.message, subject=event.subject, record=record)
    return sum(1 for item in observed(function) if item["record"]["Sns"]["MessageId"] == message_id)


@app.on_sns_message(topic="cf-alerts", name="sns_attributes")
def sns_attributes(event: SNSEvent) -> None:
    _seen("sns_attributes", event)


@app.on_sns_message(topic="cf-alerts", name="sns_body")
def sns_body(event: SNSEvent) -> None:
    _seen("sns_body", event)


@app.on_sns_message(topic="cf-flaky", name="sns_retry")
def sns_retry(event: SNSEvent) -> None:
    if _seen("sns_retry", event) < 3:
        raise RuntimeError("fails on the first two deliveries")


@app.on_sns_message(topic="cf-doomed", name="sns_exhausted")
def sns_exhausted(event: SNSEvent) -> None:
    _seen("sns_exhausted", event)
    raise RuntimeError("always fails")
