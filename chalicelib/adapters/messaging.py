"""The pipeline's transport: notification events on SNS, dead letters on the SQS DLQ."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.models.messages import DeadLetterMessage, NotificationEvent
from chalicelib.ports import PublishFailed

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


class SnsSqsPublisher:
    def __init__(
        self,
        *,
        sns: SNSClient,
        sqs: SQSClient,
        topic_arn: Callable[[], str],
        dead_letter_queue: str,
    ) -> None:
        self._sns = sns
        self._sqs = sqs
        self._topic_arn = topic_arn
        self._dlq_name = dead_letter_queue

    def publish(self, event: NotificationEvent) -> None:
        try:
            self._sns.publish(
                TopicArn=self._topic_arn(),
                Message=event.model_dump_json(),
                # Subscribers filter on this (attribute-scope filter policies).
                MessageAttributes={"kind": {"DataType": "String", "StringValue": event.kind}},
            )
        except (BotoCoreError, ClientError) as error:
            raise PublishFailed(str(error)) from error

    def dead_letter(self, message: DeadLetterMessage) -> None:
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=message.model_dump_json())

    @cached_property
    def _dlq_url(self) -> str:
        return self._sqs.get_queue_url(QueueName=self._dlq_name)["QueueUrl"]
