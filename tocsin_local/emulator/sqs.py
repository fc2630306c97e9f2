"""SQS queue -> function, as Lambda's event source mapping does it.

Per mapping: up to ``concurrency`` pollers, each holding one invocation slot while it long-polls
(so no message is received that no instance could take). A batch is whatever one receive
returns, or, with a batching window, what arrives until the window closes or the batch is full.
On success the messages are deleted (all but the reported failures, with partial batch
responses); on an error or a timeout none is, and SQS makes them visible again after the
queue's visibility timeout, counting receives toward the queue's redrive policy.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.events import batch_item_failures, sqs_record
from tocsin_local.emulator.functions import FunctionPool, Invocation
from tocsin_local.emulator.project import DEFAULT_SQS_CONCURRENCY, EventSource

log = logging.getLogger("tocsin.emulator")

LONG_POLL_SECONDS = 2
MAX_RECEIVE = 10


def concurrency_of(source: EventSource) -> int:
    maximum = source.params.get("maximum_concurrency")
    reserved = source.function.reserved_concurrency
    limits = [limit for limit in (maximum, reserved) if limit]
    return min(limits) if limits else DEFAULT_SQS_CONCURRENCY


class SqsSource:
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        self.source = source
        self._pool = pool
        self._cloud = cloud
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        queue = source.params.get("queue_arn") or source.params["queue"]
        self.url, self.arn, _ = cloud.queue(queue)

    @property
    def name(self) -> str:
        return self.source.function.name

    def start(self) -> None:
        for index in range(self._pool.concurrency):
            thread = threading.Thread(
                target=self._poll, daemon=True, name=f"sqs-{self.name}-{index}"
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def reload(self, source: EventSource) -> None:
        self.source = source

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                with self._pool.slot(timeout=1.0) as acquired:
                    if not acquired:
                        continue
                    messages = self._receive_batch()
                    if messages:
                        self._run(messages)
            except Exception:
                log.exception("poller of %s failed; retrying in 1 s", self.name)
                self._stop.wait(1.0)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self._cloud.client("sqs").receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(MAX_RECEIVE, count)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch_size = int(self.source.params.get("batch_size") or 1)
        window = float(self.source.params.get("maximum_batching_window_in_seconds") or 0)
        batch = self._receive(batch_size, LONG_POLL_SECONDS)
        if not batch or window <= 0:
            return batch
        closes = time.monotonic() + window
        while len(batch) < batch_size and not self._stop.is_set():
            remaining = closes - time.monotonic()
            if remaining <= 0:
                break
            batch += self._receive(batch_size - len(batch), max(1, min(20, int(remaining))))
        return batch

    def _run(self, messages: list[dict[str, Any]]) -> None:
        event = {
            "Records": [sqs_record(message, self.arn, self._cloud.region) for message in messages]
        }
        self._cloud.count(f"{self.name}.invocations")
        self._cloud.count(f"{self.name}.records", len(messages))
        try:
            result = self._pool.invoke(event)
        except Exception:
            log.exception("could not invoke %s", self.name)
            return
        self._settle(messages, result)

    def _settle(self, messages: list[dict[str, Any]], result: Invocation) -> None:
        if not result.ok:
            self._cloud.count(f"{self.name}.errors")
            if result.timed_out:
                self._cloud.count(f"{self.name}.timeouts")
            log.warning(
                "%s failed (%s: %s); %d message(s) return after the visibility timeout",
                self.name,
                result.error_type,
                (result.error or {}).get("errorMessage"),
                len(messages),
            )
            return
        ids = {message["MessageId"] for message in messages}
        failed: set[str] = set()
        if self.source.function.report_batch_item_failures:
            reported = batch_item_failures(result.result, ids)
            if reported is None:
                self._cloud.count(f"{self.name}.invalid_responses")
                log.warning(
                    "%s returned an invalid partial batch response; the whole batch fails",
                    self.name,
                )
                return
            failed = reported
        done = [message for message in messages if message["MessageId"] not in failed]
        self._cloud.count(f"{self.name}.failed_records", len(messages) - len(done))
        self._delete(done)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        sqs = self._cloud.client("sqs")
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            response = sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(chunk)
                ],
            )
            for failure in response.get("Failed", []):
                log.warning(
                    "could not delete a message of %s: %s", self.name, failure.get("Message")
                )
            self._cloud.count(f"{self.name}.deleted", len(response.get("Successful", [])))
