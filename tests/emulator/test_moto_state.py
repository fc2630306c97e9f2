"""The moto server's state across a restart (``tocsin run --persist``): kept in its state file
when asked, an empty cloud otherwise; a message in flight at the stop is visible again at once."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.emulator.backend import Clients, stop_process_group


@contextmanager
def moto_server(state_file: Path | None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    command = [sys.executable, "-m", "tocsin_local.moto_server", "--port", "0"]
    if state_file is not None:
        command += ["--state-file", str(state_file)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, "the moto server did not start"
        yield f"http://127.0.0.1:{json.loads(line)['port']}", process
    finally:
        stop_process_group(process)


def fill(endpoint: str) -> dict[str, Any]:
    """A table with an item, a topic delivering to a queue, two messages, one of them in flight."""
    aws = Clients(endpoint)
    dynamodb, sqs, sns = aws("dynamodb"), aws("sqs"), aws("sns")
    dynamodb.create_table(
        TableName="kept",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="kept", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    url = sqs.create_queue(QueueName="kept", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="kept")["TopicArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    sns.publish(TopicArn=topic, Message="first")
    sns.publish(TopicArn=topic, Message="second")
    in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert len(in_flight) == 1
    return {"url": url, "topic": topic}


def test_persisted_state_comes_back_after_a_stop_with_in_flight_messages_visible(
    tmp_path: Path,
) -> None:
    # GIVEN a moto server with a state file, a table, a topic -> queue, and two messages of
    # which one is in flight (received, not deleted, 600 s visibility timeout)
    state_file = tmp_path / "cloud.pickle"
    with moto_server(state_file) as (endpoint, process):
        names = fill(endpoint)
        # WHEN it is stopped (SIGTERM, as the stack stops it) and started again
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert state_file.exists()
    with moto_server(state_file) as (endpoint, _):
        aws = Clients(endpoint)
        # THEN the item, the topic, its subscription and both messages are there, visible now
        item = aws("dynamodb").get_item(TableName="kept", Key={"pk": {"S": "a"}})["Item"]
        assert item["n"] == {"N": "1"}
        sqs = aws("sqs")
        bodies: list[str] = []
        deadline = time.monotonic() + 10
        while len(bodies) < 2 and time.monotonic() < deadline:
            messages = sqs.receive_message(
                QueueUrl=names["url"], MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            bodies += [message["Body"] for message in messages]
        assert sorted(bodies) == ["first", "second"]
        aws("sns").publish(TopicArn=names["topic"], Message="third")
        third = sqs.receive_message(QueueUrl=names["url"], WaitTimeSeconds=2)["Messages"]
        assert [message["Body"] for message in third] == ["third"]


def test_without_a_state_file_each_start_is_an_empty_cloud(tmp_path: Path) -> None:
    with moto_server(None) as (endpoint, process):
        fill(endpoint)
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert not any(tmp_path.iterdir())
    with moto_server(None) as (endpoint, _):
        assert Clients(endpoint)("dynamodb").list_tables()["TableNames"] == []


def test_the_moto_server_exits_promptly_on_sigterm_during_a_long_poll(tmp_path: Path) -> None:
    # GIVEN a moto server with a consumer long-polling an empty queue
    with moto_server(tmp_path / "cloud.pickle") as (endpoint, process):
        sqs = Clients(endpoint)("sqs")
        url = sqs.create_queue(QueueName="idle")["QueueUrl"]

        def long_poll() -> None:
            with contextlib.suppress(Exception):  # the server goes away mid-poll
                sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)

        polling = threading.Thread(target=long_poll, daemon=True)
        polling.start()
        # WHEN it gets SIGTERM
        begun = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        # THEN it is gone well within a second (generous under load), its state saved
        assert time.monotonic() - begun < 1.5
        assert (tmp_path / "cloud.pickle").exists()
