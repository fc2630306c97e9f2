"""SQS queue -> function, as Lambda's event source mapping does it.

Per mapping: up to ``concurrency`` pollers, each holding one invocation slot while it long-polls
(so no message is received that no instance could take). A batch is whatever one receive
returns, or, with a batching window, what arrives until the window closes or the batch is full
(up to the batch size, which may then exceed ten). One poller at a time gathers a windowed
batch: otherwise messages that trickle in would be spread over every idle poller's batch. FIFO
queues have no batching window (AWS refuses one), so it is ignored there, and their pollers
receive one at a time (a group's messages then never go to two invocations at once).
A queue whose visibility timeout is shorter than the function's timeout is refused, as AWS
refuses that event source mapping. On success the messages are deleted (all but the reported
failures, with partial batch responses); on an error or a timeout none is, and SQS makes them
visible again after the queue's visibility timeout, counting receives toward the queue's
redrive policy.
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
SHORT_POLL_PAUSE_SECONDS = 0.05
FIFO_PAUSE_SECONDS = 0.05
MAX_RECEIVE = 10


class MappingRefused(ValueError):
    """An event source mapping AWS would refuse to create."""


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
        self._gathering = threading.Lock()
        queue = source.params.get("queue_arn") or source.params["queue"]
        # A queue created here gets the visibility timeout AWS asks for (at least the
        # function's timeout); an existing one is checked as AWS checks it.
        self.url, self.arn, attributes = cloud.queue(queue, max(30.0, source.function.timeout))
        self.fifo = attributes.get("FifoQueue") == "true"
        self.visibility_timeout = float(attributes.get("VisibilityTimeout", "30"))
        if self.visibility_timeout < source.function.timeout:
            raise MappingRefused(
                "InvalidParameterValueException: Queue visibility timeout: "
                f"{self.visibility_timeout:.0f} seconds is less than Function timeout: "
                f"{source.function.timeout:.0f} seconds"
            )
        self._fifo_lock = threading.Lock()
        self._held = 0
        self._blocked_until = 0.0
        if self.fifo and source.params.get("maximum_batching_window_in_seconds"):
            log.warning("%s: FIFO queues have no batching window; ignoring it", self.name)

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
                        kept = len(messages)
                        try:
                            kept = self._run(messages)
                        finally:
                            self._release(messages, kept)
            except Exception:
                log.exception("poller of %s failed; retrying in 1 s", self.name)
                self._stop.wait(1.0)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        if not self.fifo:
            return self._receive_now(count, wait)
        # Two things of moto's SQS make FIFO receives one at a time here: concurrent receives
        # can each take messages of the same group (its group lock is not thread-safe), and a
        # long poll spins at full CPU while the only visible messages belong to a group with a
        # message in flight. So: one receive at a time per mapping, and a long poll only while
        # no message of this mapping is in flight; otherwise short polls with a pause.
        with self._fifo_lock:
            quiet = self._held == 0 and time.monotonic() >= self._blocked_until
            messages = self._receive_now(count, wait if quiet else 0)
            self._held += len(messages)
        if not messages and not quiet:
            self._stop.wait(FIFO_PAUSE_SECONDS)
        return messages

    def _release(self, messages: list[dict[str, Any]], kept: int) -> None:
        """The invocation of ``messages`` is over; ``kept`` of them were not deleted and stay
        in flight until the visibility timeout."""
        if not self.fifo:
            return
        with self._fifo_lock:
            self._held -= len(messages)
            if kept:
                self._blocked_until = max(
                    self._blocked_until, time.monotonic() + self.visibility_timeout
                )

    def _receive_now(self, count: int, wait: int) -> list[dict[str, Any]]:
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

    def _batching(self) -> tuple[int, float]:
        batch_size = int(self.source.params.get("batch_size") or 1)
        window = float(self.source.params.get("maximum_batching_window_in_seconds") or 0)
        if self.fifo:
            return min(batch_size, MAX_RECEIVE), 0.0
        return batch_size, window

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch_size, window = self._batching()
        if window <= 0:
            return self._receive(batch_size, LONG_POLL_SECONDS)
        if not self._gathering.acquire(timeout=LONG_POLL_SECONDS):
            return []
        try:
            batch = self._receive(batch_size, LONG_POLL_SECONDS)
            if not batch:
                return batch
            closes = time.monotonic() + window
            while len(batch) < batch_size and not self._stop.is_set():
                remaining = closes - time.monotonic()
                if remaining <= 0:
                    break
                # SQS waits in whole seconds: below one second left, short polls close the
                # window on time instead of up to a second late.
                wait = min(20, int(remaining))
                more = self._receive(batch_size - len(batch), wait)
                batch += more
                if not more and wait == 0:
                    self._stop.wait(min(remaining, SHORT_POLL_PAUSE_SECONDS))
            return batch
        finally:
            self._gathering.release()

    def _run(self, messages: list[dict[str, Any]]) -> int:
        """Invokes the function with ``messages``; returns how many were not deleted."""
        event = {
            "Records": [sqs_record(message, self.arn, self._cloud.region) for message in messages]
        }
        self._cloud.count(f"{self.name}.invocations")
        self._cloud.count(f"{self.name}.records", len(messages))
        try:
            result = self._pool.invoke(event)
        except Exception:
            log.exception("could not invoke %s", self.name)
            return len(messages)
        return self._settle(messages, result)

    def _settle(self, messages: list[dict[str, Any]], result: Invocation) -> int:
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
            return len(messages)
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
                return len(messages)
            failed = reported
        done = [message for message in messages if message["MessageId"] not in failed]
        self._cloud.count(f"{self.name}.failed_records", len(messages) - len(done))
        self._delete(done)
        return len(messages) - len(done)

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
