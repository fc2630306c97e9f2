"""The local cloud's SQS under concurrent producers and consumers (tocsin_local.emulator.moto_sqs):
moto's own receive and delete are not thread-safe, and the emulator's pollers, a function's
own sends and the test's all hit one queue at once."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from tests.emulator.backend import Clients
from tests.harness import poll

PRODUCERS = 4
PER_PRODUCER = 300
CONSUMERS = 4


def test_concurrent_sends_receives_and_deletes_lose_nothing(moto_endpoint: str) -> None:
    aws = Clients(moto_endpoint)
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=f"concurrency-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    received: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    failures: list[BaseException] = []

    def produce(producer: int) -> None:
        for start in range(0, PER_PRODUCER, 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(index), "MessageBody": f"{producer}-{start + index}"}
                    for index in range(10)
                ],
            )

    def consume() -> None:
        try:
            while not done.is_set():
                messages: list[dict[str, Any]] = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                if not messages:
                    continue
                with lock:
                    received.extend(message["Body"] for message in messages)
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                    ],
                )
        except BaseException as failure:
            failures.append(failure)

    consumers = [threading.Thread(target=consume) for _ in range(CONSUMERS)]
    producers = [threading.Thread(target=produce, args=(index,)) for index in range(PRODUCERS)]
    for thread in consumers + producers:
        thread.start()
    for thread in producers:
        thread.join()
    try:
        poll(lambda: len(received) >= PRODUCERS * PER_PRODUCER or failures, timeout=60)
    finally:
        done.set()
        for thread in consumers:
            thread.join()

    assert not failures
    assert sorted(received) == sorted(
        f"{producer}-{index}" for producer in range(PRODUCERS) for index in range(PER_PRODUCER)
    )
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
