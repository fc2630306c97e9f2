"""Lambda's event shapes, built from what the AWS APIs return."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any


def _b64(value: bytes | str) -> str:
    raw = value if isinstance(value, bytes) else value.encode()
    return base64.b64encode(raw).decode()


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS ReceiveMessage message as a Lambda SQS event record."""
    attributes = {
        key: value
        for key, value in message.get("Attributes", {}).items()
        if key
        in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "SequenceNumber",
            "MessageGroupId",
            "MessageDeduplicationId",
            "AWSTraceHeader",
            "DeadLetterQueueSourceArn",
        )
    }
    message_attributes = {}
    for name, value in message.get("MessageAttributes", {}).items():
        entry: dict[str, Any] = {
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [_b64(item) for item in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = _b64(value["BinaryValue"])
        message_attributes[name] = entry
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sns_record(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """An SNS-to-SQS envelope (the JSON body SNS puts in a queue) as a Lambda SNS record."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope["TopicArn"],
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": envelope["Timestamp"],
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", "EXAMPLE"),
            "SigningCertUrl": envelope.get("SigningCertURL", envelope.get("SigningCertUrl", "")),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", envelope.get("UnsubscribeUrl", "")),
            "MessageAttributes": envelope.get("MessageAttributes", {}),
        },
    }


def scheduled_event(rule_name: str, region: str, account: str, now: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule_name}"],
        "detail": {},
    }


def dynamodb_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A DynamoDB Streams GetRecords record as a Lambda DynamoDB event record."""
    change = dict(record.get("dynamodb", {}))
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    # Images come back from boto3 already in DynamoDB JSON ({"S": ...}); bytes need base64.
    shaped = json.loads(
        json.dumps(
            change, default=lambda value: _b64(value) if isinstance(value, bytes) else str(value)
        )
    )
    # Lambda's record always carries SizeBytes; some emulators leave it out.
    shaped.setdefault(
        "SizeBytes", len(json.dumps(shaped.get("NewImage") or shaped.get("Keys") or {}))
    )
    return {
        "eventID": record.get("eventID", str(uuid.uuid4())),
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": shaped,
        "eventSourceARN": stream_arn,
    }


def kinesis_record(
    record: dict[str, Any], shard: str, stream_arn: str, region: str, invoke_identity: str
) -> dict[str, Any]:
    """A Kinesis GetRecords record as a Lambda Kinesis event record."""
    arrived = record.get("ApproximateArrivalTimestamp")
    arrival = arrived.timestamp() if isinstance(arrived, datetime) else float(arrived or 0)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": _b64(record["Data"]),
            "approximateArrivalTimestamp": round(arrival, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": invoke_identity,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def batch_item_failures(result: Any, message_ids: set[str]) -> set[str] | None:
    """Failed message ids from a partial batch response, or None when the response is invalid
    (Lambda then fails the whole batch). No response, an empty object or an empty or null
    ``batchItemFailures`` means the whole batch succeeded."""
    if result is None or result == "":
        return set()
    if not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for item in failures:
        if not isinstance(item, dict) or set(item) != {"itemIdentifier"}:
            return None
        identifier = item["itemIdentifier"]
        if not isinstance(identifier, str) or identifier not in message_ids:
            return None
        failed.add(identifier)
    return failed
