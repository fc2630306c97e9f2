"""Creates the definition's resources in whatever AWS endpoint boto3 is pointed at (moto server,
LocalStack or an account). Idempotent: what exists is left as it is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.resources import Definition, Queue, Table


@dataclass(frozen=True)
class Provisioned:
    topic_arns: dict[str, str]
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]


def _create_table(client: Any, table: Table) -> None:
    try:
        client.create_table(
            TableName=table.name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=table.attribute_definitions(),
            KeySchema=table.key_schema(),
            GlobalSecondaryIndexes=table.global_secondary_indexes(),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 0.2})
    if table.ttl_attribute:
        try:
            client.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        except ClientError as error:
            if "already enabled" not in str(error).lower():
                raise


def _queue_attributes(queue: Queue, arns: dict[str, str]) -> dict[str, str]:
    attributes = {
        "VisibilityTimeout": str(queue.visibility_timeout),
        "MessageRetentionPeriod": str(queue.retention_seconds),
    }
    if queue.fifo:
        attributes["FifoQueue"] = "true"
    if queue.dead_letter_queue:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": arns[queue.dead_letter_queue],
                "maxReceiveCount": queue.max_receive_count or 5,
            }
        )
    return attributes


def provision(definition: Definition, session: boto3.session.Session | None = None) -> Provisioned:
    session = session or boto3.session.Session()
    dynamodb: Any = session.client("dynamodb")
    sqs: Any = session.client("sqs")
    sns: Any = session.client("sns")
    ses: Any = session.client("ses")
    for table in definition.tables:
        _create_table(dynamodb, table)
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    # Dead-letter queues first: a redrive policy names its target's ARN.
    for queue in sorted(definition.queues, key=lambda queue: queue.dead_letter_queue is not None):
        url = sqs.create_queue(QueueName=queue.name, Attributes=_queue_attributes(queue, arns))[
            "QueueUrl"
        ]
        urls[queue.name] = url
        arns[queue.name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    topics = {
        topic.name: sns.create_topic(Name=topic.name)["TopicArn"] for topic in definition.topics
    }
    for subscription in definition.subscriptions:
        topic_arn, queue_arn = topics[subscription.topic], arns[subscription.queue]
        sqs.set_queue_attributes(
            QueueUrl=urls[subscription.queue],
            Attributes={
                "Policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "sns.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": queue_arn,
                                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                            }
                        ],
                    }
                )
            },
        )
        existing = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        if any(item["Endpoint"] == queue_arn for item in existing):
            continue
        attributes = {
            "RawMessageDelivery": "true" if subscription.raw_message_delivery else "false"
        }
        if subscription.filter_policy:
            attributes["FilterPolicy"] = json.dumps(subscription.filter_policy)
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
    for identity in definition.email_identities:
        ses.verify_email_identity(EmailAddress=identity)
    return Provisioned(topic_arns=topics, queue_urls=urls, queue_arns=arns)
