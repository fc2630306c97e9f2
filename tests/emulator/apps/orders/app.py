"""A Chalice app that knows nothing of Tocsin (nor of the conformance suite): an order API,
a queue worker, an SNS subscriber, a DynamoDB stream auditor and a scheduled tick.

Queues and topics are created by ``tocsin local --create-missing``; the ``orders`` table (with
its stream) by whoever deploys it.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from typing import Any

import boto3
from chalice.app import Chalice, CloudWatchEvent, DynamoDBEvent, SNSEvent, SQSEvent

app = Chalice(app_name="orders")

ORDERS_STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/latest"


@functools.cache
def client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]


def put(key: str, **fields: str) -> None:
    item = {"id": {"S": key}, **{name: {"S": value} for name, value in fields.items()}}
    client("dynamodb").put_item(TableName="orders", Item=item)


@app.route("/orders", methods=["POST"])
def create_order() -> dict[str, str]:
    request = app.current_request
    order = (request.json_body if request else None) or {}
    queue_url = client("sqs").get_queue_url(QueueName="incoming-orders")["QueueUrl"]
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(order))
    return {"accepted": str(order.get("id"))}


@app.on_sqs_message(queue="incoming-orders", batch_size=5)
def take_order(event: SQSEvent) -> None:
    topic = client("sns").create_topic(Name="order-events")["TopicArn"]
    for record in event:
        order = json.loads(record.body)
        put(f"order#{order['id']}", status="taken")
        client("sns").publish(TopicArn=topic, Message=json.dumps(order))


@app.on_sns_message(topic="order-events")
def notify(event: SNSEvent) -> None:
    put(f"notified#{json.loads(event.message)['id']}")


@app.on_dynamodb_record(stream_arn=ORDERS_STREAM)
def audit(event: DynamoDBEvent) -> None:
    for record in event:
        key = record.keys["id"]["S"]
        if not key.startswith("audit#"):
            put(f"audit#{key}", change=record.event_name)


@app.schedule("rate(1 hour)")
def tick(event: CloudWatchEvent) -> None:
    put(f"tick#{uuid.uuid4().hex[:8]}", at=str(time.time()))
