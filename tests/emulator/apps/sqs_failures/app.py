"""Conformance fixture: what happens to SQS messages when a function fails. Each function
records what it received, and fails on purpose, depending on the body and the receive count."""

from __future__ import annotations

import time
from typing import Any

from chalice.app import Chalice, SQSEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-sqs-failures")


def _seen(function: str, event: SQSEvent) -> list[dict[str, Any]]:
    records = [
        {
            "id": record.to_dict()["messageId"],
            "body": record.body,
            "receive_count": int(record.to_dict()["attributes"]["ApproximateReceiveCount"]),
            "first_receive": int(record.to_dict()["attributes"]["ApproximateFirstReceiveTimestamp"])
            / 1000,
        }
        for record in event
    ]
    observe(function, records=records)
    return records


@app.on_sqs_message(queue="cf-raise", batch_size=10, name="raise_once")
def raise_once(event: SQSEvent) -> None:
    """Fails the whole batch while any of its messages is on its first receive."""
    records = _seen("raise_once", event)
    if any(record["receive_count"] == 1 for record in records):
        raise RuntimeError("first receive fails")


def _report_failures(function: str, event: SQSEvent) -> dict[str, Any]:
    """Reports the messages whose body starts with 'fail' as failed, on their first receive."""
    records = _seen(function, event)
    failed = [
        {"itemIdentifier": record["id"]}
        for record in records
        if record["body"].startswith("fail") and record["receive_count"] == 1
    ]
    return {"batchItemFailures": failed}


@app.on_sqs_message(queue="cf-partial", batch_size=10, name="partial")
def partial(event: SQSEvent) -> dict[str, Any]:
    return _report_failures("partial", event)


@app.on_sqs_message(queue="cf-partial-off", batch_size=10, name="partial_off")
def partial_off(event: SQSEvent) -> dict[str, Any]:
    return _report_failures("partial_off", event)


@app.on_sqs_message(queue="cf-receive-count", batch_size=1, name="receive_count")
def receive_count(event: SQSEvent) -> None:
    records = _seen("receive_count", event)
    if records[0]["receive_count"] < 3:
        raise RuntimeError("fails until the third receive")


@app.on_sqs_message(queue="cf-redrive", batch_size=1, name="redrive")
def redrive(event: SQSEvent) -> None:
    _seen("redrive", event)
    raise RuntimeError("always fails")


@app.on_sqs_message(queue="cf-timeout", batch_size=1, name="timeout")
def timeout(event: SQSEvent) -> None:
    """On the first receive, outlives its 1 s timeout, leaving a heartbeat every 0.2 s."""
    records = _seen("timeout", event)
    if records[0]["receive_count"] > 1:
        return
    started = time.time()
    while time.time() - started < 3:
        observe("timeout_heartbeat", body=records[0]["body"], started=started)
        time.sleep(0.2)
