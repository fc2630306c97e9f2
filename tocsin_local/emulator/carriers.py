"""Asynchronous invokes carried by a queue: what AWS queues inside Lambda, the emulator keeps in
an SQS queue of its own per function, so that an event survives a restart of the runner.

Everything that invokes a function asynchronously goes through its carrier: the Lambda API's
``InvocationType=Event``, S3 notifications and EventBridge rules (the local cloud's moto server
puts their events there, see ``tocsin_local.moto_lambda``), and SNS subscriptions (whose queue
carries SNS envelopes). Each message is handed to the function once, with Lambda's two retries
on error (1 s and 2 s apart here; about 1 and 2 minutes on AWS), then deleted. The queue only
carries: a message is not a second place for an event to wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from tocsin_local.emulator.asynchronous import ASYNC_ATTEMPTS, DEFAULT_RETRY_DELAYS
from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.functions import FunctionPool

log = logging.getLogger("tocsin.emulator")

CARRIER_PREFIX = "tocsin-local-invoke-"
MAX_QUEUE_NAME = 80


def carrier_queue_name(lambda_name: str) -> str:
    """The carrier queue of the function deployed as ``lambda_name`` (SQS names: 80 chars)."""
    name = CARRIER_PREFIX + lambda_name
    if len(name) <= MAX_QUEUE_NAME:
        return name
    digest = hashlib.sha256(lambda_name.encode()).hexdigest()[:12]
    return name[: MAX_QUEUE_NAME - len(digest) - 1] + "-" + digest


def carrier_url(cloud: Cloud, lambda_name: str, visibility_timeout: float) -> str:
    """The carrier queue's URL, created if needed."""
    sqs = cloud.client("sqs")
    name = carrier_queue_name(lambda_name)
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        attributes = {"VisibilityTimeout": str(int(visibility_timeout))}
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


class Carrier:
    """Hands each message of ``url`` to the function as one asynchronous invoke of
    ``to_event(body)``."""

    def __init__(
        self,
        name: str,
        url: str,
        pool: FunctionPool,
        cloud: Cloud,
        to_event: Callable[[dict[str, Any]], Any] = lambda body: body,
    ) -> None:
        self.name = name
        self.url = url
        self._pool = pool
        self._cloud = cloud
        self._to_event = to_event
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._poll, daemon=True, name=f"carrier-{self.name}").start()

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        sqs = self._cloud.client("sqs")
        while not self._stop.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=2,
                    VisibilityTimeout=int(self._pool.function.timeout) + 30,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
                for message in response.get("Messages", []):
                    threading.Thread(
                        target=self._hand_over,
                        args=(message,),
                        daemon=True,
                        name=f"carrier-{self.name}",
                    ).start()
            except Exception:
                log.exception("the carrier of %s failed; retrying in 1 s", self.name)
                self._stop.wait(1.0)

    def _hand_over(self, message: dict[str, Any]) -> None:
        """One attempt. The message stays in the queue until the function took it or its
        retries ran out, so a runner that dies meanwhile loses nothing."""
        sqs = self._cloud.client("sqs")
        event = self._to_event(json.loads(message["Body"]))
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        with self._pool.slot():
            result = self._pool.invoke(event)
        self._cloud.count(f"{self.name}.invocations")
        if not result.ok:
            self._cloud.count(f"{self.name}.errors")
            log.warning(
                "%s failed (attempt %d/%d): %s",
                self.name,
                attempt,
                ASYNC_ATTEMPTS,
                (result.error or {}).get("errorMessage"),
            )
            if attempt < ASYNC_ATTEMPTS:
                delay = DEFAULT_RETRY_DELAYS[min(attempt, len(DEFAULT_RETRY_DELAYS)) - 1]
                sqs.change_message_visibility(
                    QueueUrl=self.url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=max(1, round(delay)),
                )
                return
            self._cloud.count(f"{self.name}.dropped")
        sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
