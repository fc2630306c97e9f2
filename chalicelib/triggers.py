"""Entry points of the queue- and schedule-triggered functions, free of Chalice's event classes.

The deliveries queue is handled with Powertools' batch processor (partial batch responses:
only the records that need another look return to the queue). A record whose notification is
waiting for a retry is not slept on: its message's visibility is set to the wait, so SQS itself
brings it back when the next attempt is due.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib import aws, logs
from chalicelib.models.messages import NotificationEvent
from chalicelib.wiring import services

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# SQS refuses a visibility timeout reaching past 12 h after the message was sent; longer waits
# are bridged by sending the message again.
MAX_VISIBILITY_SECONDS = 12 * 3600
VISIBILITY_MARGIN_SECONDS = 60
# Leave a record for a later invocation when less than this remains of the function's time.
MIN_REMAINING_MS = 15_000
# Time the sweep leaves unused at the end of its invocation.
SWEEP_MARGIN_MS = 5_000


class NotYet(Exception):
    """The notification needs another look later; its message's visibility is set for it."""


@lru_cache(maxsize=16)
def _queue_url(queue_arn: str) -> str:
    _, _, _, _, account, name = queue_arn.split(":", 5)
    return aws.sqs().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


class LookLater:
    """The records of one invocation that need another look, and when. Their visibility is
    changed in batches of ten once the invocation has seen every record."""

    def __init__(self) -> None:
        self._waits: list[tuple[SQSRecord, int]] = []

    def add(self, record: SQSRecord, wait_seconds: float) -> None:
        """Raises NotYet (the record stays queued), except for a wait longer than SQS allows
        for this message: then a fresh copy (its clock restarts) is sent and this one goes.
        The copy comes straight back, sees it is early, and waits in turn."""
        elapsed = time.time() - int(record.attributes.sent_timestamp) / 1000
        allowed = MAX_VISIBILITY_SECONDS - VISIBILITY_MARGIN_SECONDS - elapsed
        wait = max(0, math.ceil(wait_seconds))
        if wait > allowed:
            aws.sqs().send_message(
                QueueUrl=_queue_url(record.event_source_arn), MessageBody=record.body
            )
            return
        self._waits.append((record, wait))
        raise NotYet(f"next look in {wait} s")

    def apply(self) -> None:
        by_queue: dict[str, list[tuple[SQSRecord, int]]] = {}
        for record, wait in self._waits:
            by_queue.setdefault(_queue_url(record.event_source_arn), []).append((record, wait))
        for queue_url, waits in by_queue.items():
            for start in range(0, len(waits), 10):
                # A change that fails (an expired receipt) only means the message comes back
                # after its visibility timeout instead.
                aws.sqs().change_message_visibility_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": record.receipt_handle,
                            "VisibilityTimeout": wait,
                        }
                        for index, (record, wait) in enumerate(waits[start : start + 10])
                    ],
                )


def deliver(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported here: every function imports app.py, and only this one needs Powertools' batch
    # machinery (a cold start of the API function would pay for it otherwise).
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    later = LookLater()

    def handle(record: SQSRecord) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", lambda: MIN_REMAINING_MS)()
        if remaining < MIN_REMAINING_MS:
            later.add(record, 0)
        message = NotificationEvent.model_validate_json(record.body)
        with logs.bound(
            correlation_id=record.message_id,
            notification_id=message.notification_id,
            tenant=message.tenant_id,
        ):
            progress = services().deliveries.process(message.tenant_id, message.notification_id)
        if not progress.finished:
            later.add(record, progress.wake_in or 0.0)

    response = process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )
    later.apply()
    return dict(response)


def sweep(context: Any = None) -> dict[str, int]:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: 60_000)()
    budget = timedelta(milliseconds=max(0, remaining_ms - SWEEP_MARGIN_MS))
    report = services().sweeper.sweep(budget)
    return {"republished": report.republished, "abandoned": report.abandoned}
