"""Conformance fixture: SQS batching, deletion and concurrency. Each function records the
batch it received."""

from __future__ import annotations

import time

from chalice.app import Chalice, SQSEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-sqs-batching")


def _record(function: str, event: SQSEvent) -> None:
    observe(function, bodies=[record.body for record in event], event=event.to_dict())


@app.on_sqs_message(queue="cf-batch-size", batch_size=3, name="batch_size")
def batch_size(event: SQSEvent) -> None:
    _record("batch_size", event)


@app.on_sqs_message(
    queue="cf-window", batch_size=10, maximum_batching_window_in_seconds=3, name="window"
)
def window(event: SQSEvent) -> None:
    _record("window", event)


@app.on_sqs_message(
    queue="cf-large-batch", batch_size=25, maximum_batching_window_in_seconds=3, name="large_batch"
)
def large_batch(event: SQSEvent) -> None:
    _record("large_batch", event)


@app.on_sqs_message(queue="cf-delete", batch_size=10, name="delete_on_success")
def delete_on_success(event: SQSEvent) -> None:
    _record("delete_on_success", event)


@app.on_sqs_message(
    queue="cf-concurrency", batch_size=1, maximum_concurrency=2, name="max_concurrency"
)
def max_concurrency(event: SQSEvent) -> None:
    started = time.time()
    time.sleep(0.5)
    observe(
        "max_concurrency",
        bodies=[record.body for record in event],
        started=started,
        ended=time.time(),
    )
