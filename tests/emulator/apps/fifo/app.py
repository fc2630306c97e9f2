"""Conformance fixture: FIFO queues. A message whose body ends in '!' fails on its first
receive; each function records, in order, what it processed and what it handed back."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, SQSEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-fifo")


def _first_receive(record: dict[str, Any]) -> float:
    return int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) / 1000


def _fails(record: dict[str, Any]) -> bool:
    return bool(
        record["body"].endswith("!") and record["attributes"]["ApproximateReceiveCount"] == "1"
    )


@app.on_sqs_message(queue="cf-order.fifo", batch_size=1, name="fifo_single")
def fifo_single(event: SQSEvent) -> None:
    """Batches of one: a failure raises."""
    record = next(iter(event)).to_dict()
    first_receive = {record["body"]: _first_receive(record)}
    if _fails(record):
        observe("fifo_single", processed=[], failed=[record["body"]], first_receive=first_receive)
        raise RuntimeError(f"{record['body']} fails on its first receive")
    observe("fifo_single", processed=[record["body"]], failed=[], first_receive=first_receive)


@app.on_sqs_message(queue="cf-order-batch.fifo", batch_size=10, name="fifo_batch")
def fifo_batch(event: SQSEvent) -> dict[str, Any]:
    """Batches of up to ten, several groups per batch: after a failure, the rest of that
    message's group is handed back unprocessed, and the other groups go on."""
    processed: list[str] = []
    failed: list[dict[str, str]] = []
    blocked: set[str] = set()
    for item in event:
        record = item.to_dict()
        group = record["attributes"]["MessageGroupId"]
        if group in blocked or _fails(record):
            blocked.add(group)
            failed.append({"itemIdentifier": record["messageId"], "body": record["body"]})
            continue
        processed.append(record["body"])
    observe(
        "fifo_batch",
        processed=processed,
        failed=[item["body"] for item in failed],
        first_receive={item.body: _first_receive(item.to_dict()) for item in event},
        batch=[item.body for item in event],
    )
    return {"batchItemFailures": [{"itemIdentifier": item["itemIdentifier"]} for item in failed]}
