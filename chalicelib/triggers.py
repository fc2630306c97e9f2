"""Entry points of the queue- and schedule-triggered functions, free of Chalice's event classes.

Each channel's deliveries queue, and the fan-out queue, answer partial batch responses: only
the records that need another look return to the queue. A delivery batch's records are handled
concurrently, so that one slow receiver never holds up the rest of its batch. A record whose delivery is waiting for a retry is not slept on: its message's visibility
is set to the wait, so SQS itself brings it back when the next attempt is due.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import aws, logs
from chalicelib.domain.deliveries import Progress
from chalicelib.models.common import Channel
from chalicelib.models.messages import DeliveryMessage, FanoutMessage
from chalicelib.models.scheduling import Timer
from chalicelib.models.stored import DeliveryKey
from chalicelib.ports import Outgoing
from chalicelib.wiring import services

log = logging.getLogger(__name__)

# SQS refuses a visibility timeout reaching past 12 h after the message was sent; longer waits
# are bridged by sending the message again.
MAX_VISIBILITY_SECONDS = 12 * 3600
VISIBILITY_MARGIN_SECONDS = 60
# Leave a record for a later invocation when less than this remains of the function's time
# (a delivery takes at most the webhook deadline; a fan-out page a few seconds).
MIN_REMAINING_MS = 15_000
FANOUT_MIN_REMAINING_MS = 5_000
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


def _each_record(
    event: dict[str, Any],
    context: Any,
    handle: Callable[[SQSRecord], Progress],
    *,
    min_remaining_ms: int = MIN_REMAINING_MS,
    concurrently: bool = False,
) -> dict[str, Any]:
    """Handles each record of the batch and answers a partial batch response: the records that
    failed, or need another look later (their visibility set to the wait), stay queued.

    ``concurrently``: each record on a thread of its own (records are independent deliveries,
    so one slow receiver in a batch never holds up the others in it)."""
    later = LookLater()
    records = [SQSRecord(raw) for raw in event.get("Records", [])]

    def succeeded(record: SQSRecord) -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", lambda: min_remaining_ms)()
        try:
            if remaining < min_remaining_ms:
                later.add(record, 0)
            progress = handle(record)
            if not progress.finished:
                later.add(record, progress.wake_in or 0.0)
        except NotYet:
            return False
        except Exception:
            # The record goes back to its queue (a partial batch failure); say why.
            log.exception("record %s failed", record.message_id)
            return False
        return True

    if concurrently and len(records) > 1:
        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            outcomes = list(pool.map(succeeded, records))
    else:
        outcomes = [succeeded(record) for record in records]
    later.apply()
    return {
        "batchItemFailures": [
            {"itemIdentifier": record.message_id}
            for record, ok in zip(records, outcomes, strict=True)
            if not ok
        ]
    }


def deliver(channel: Channel, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The deliveries queue of one channel: each record names a recipient's delivery on it."""

    def handle(record: SQSRecord) -> Progress:
        message = DeliveryMessage.model_validate_json(record.body)
        key = DeliveryKey(message.tenant_id, message.notification_id, message.recipient_id, channel)
        outgoing = None
        if message.content is not None and message.created_at is not None:
            outgoing = Outgoing(
                notification_id=message.notification_id,
                created_at=datetime.fromisoformat(message.created_at),
                content=message.content,
                topic=message.topic,
            )
        with logs.bound(
            correlation_id=record.message_id,
            notification_id=message.notification_id,
            tenant=message.tenant_id,
            channel=channel.value,
        ):
            return services().deliveries.process(key, outgoing)

    return _each_record(event, context, handle, concurrently=True)


def fanout(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The fan-out queue: each record is a topic notification with recipients left to expand;
    it comes straight back after each page until the last."""

    def handle(record: SQSRecord) -> Progress:
        message = FanoutMessage.model_validate_json(record.body)
        with logs.bound(
            correlation_id=record.message_id,
            notification_id=message.notification_id,
            tenant=message.tenant_id,
        ):
            return services().fanout.expand(message.tenant_id, message.notification_id)

    return _each_record(event, context, handle, min_remaining_ms=FANOUT_MIN_REMAINING_MS)


def timers(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The timers queue: each record is a timer, delayed until it is due; done, then deleted."""

    def handle(record: SQSRecord) -> Progress:
        timer = Timer.model_validate_json(record.body)
        with logs.bound(
            correlation_id=record.message_id,
            notification_id=timer.notification_id or timer.window_id,
            tenant=timer.tenant_id,
        ):
            return services().scheduler.fire(timer)

    return _each_record(event, context, handle, min_remaining_ms=FANOUT_MIN_REMAINING_MS)


def find_timers(context: Any = None) -> dict[str, int]:
    """Every minute: timers due within the next few minutes go to the timers queue."""
    return {"hinted": services().scheduler.scan()}


def sweep(context: Any = None) -> dict[str, int]:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: 60_000)()
    budget = timedelta(milliseconds=max(0, remaining_ms - SWEEP_MARGIN_MS))
    report = services().sweeper.sweep(budget)
    return {"republished": report.republished, "abandoned": report.abandoned}
