"""The pipeline's transport: SNS for what is accepted, each channel's SQS queue for what is
due again, each channel's DLQ for a copy of its dead letters.

One SNS publish carries a one-recipient notification to every channel queue it needs: the
message's ``channel`` attribute lists them and each queue's subscription filters on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.models.common import Channel
from chalicelib.models.messages import DeadLetterMessage, DeliveryMessage, FanoutMessage
from chalicelib.ports import PublishFailed

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# SQS's limits on one SendMessageBatch.
BATCH_ENTRIES = 10
BATCH_BYTES = 256 * 1024


class SnsSqsPublisher:
    def __init__(
        self,
        *,
        sns: SNSClient,
        sqs: SQSClient,
        topic_arn: Callable[[], str],
        queue_name: Callable[[Channel], str],
        dead_letter_queue_name: Callable[[Channel], str],
    ) -> None:
        self._sns = sns
        self._sqs = sqs
        self._topic_arn = topic_arn
        self._queue_name = queue_name
        self._dlq_name = dead_letter_queue_name
        self._url = cache(self._lookup_url)

    def announce(self, message: DeliveryMessage, channels: Sequence[Channel]) -> None:
        self._publish(
            message.model_dump_json(exclude_none=True),
            {
                "kind": {"DataType": "String", "StringValue": "delivery"},
                "channel": {
                    "DataType": "String.Array",
                    "StringValue": json.dumps([channel.value for channel in channels]),
                },
            },
        )

    def start_fanout(self, message: FanoutMessage) -> None:
        self._publish(
            message.model_dump_json(),
            {"kind": {"DataType": "String", "StringValue": "fanout"}},
        )

    def enqueue(self, channel: Channel, messages: Sequence[DeliveryMessage]) -> None:
        url = self._url(self._queue_name(channel))
        bodies = [message.model_dump_json(exclude_none=True) for message in messages]
        batch: list[str] = []
        size = 0
        try:
            for body in bodies:
                if batch and (len(batch) == BATCH_ENTRIES or size + len(body) > BATCH_BYTES):
                    self._send_batch(url, batch)
                    batch, size = [], 0
                batch.append(body)
                size += len(body.encode())
            if batch:
                self._send_batch(url, batch)
        except (BotoCoreError, ClientError) as error:
            raise PublishFailed(str(error)) from error

    def dead_letter(self, channel: Channel, message: DeadLetterMessage) -> None:
        self._sqs.send_message(
            QueueUrl=self._url(self._dlq_name(channel)), MessageBody=message.model_dump_json()
        )

    def _publish(self, body: str, attributes: dict[str, dict[str, str]]) -> None:
        try:
            self._sns.publish(
                TopicArn=self._topic_arn(),
                Message=body,
                MessageAttributes=attributes,  # type: ignore[arg-type]
            )
        except (BotoCoreError, ClientError) as error:
            raise PublishFailed(str(error)) from error

    def _send_batch(self, url: str, bodies: list[str]) -> None:
        pending = {str(index): body for index, body in enumerate(bodies)}
        for _ in range(3):
            response = self._sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()],
            )
            pending = {
                failure["Id"]: pending[failure["Id"]] for failure in response.get("Failed", [])
            }
            if not pending:
                return
        raise PublishFailed(f"{len(pending)} messages not queued")

    def _lookup_url(self, name: str) -> str:
        return self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
