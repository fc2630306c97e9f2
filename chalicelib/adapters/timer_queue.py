"""The timers queue: each timer due within SQS's longest delay (15 minutes) is sent with a delay
that ends at its due time, so its function looks at it then; later ones wait for a scan."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.models.scheduling import Timer
from chalicelib.ports import PublishFailed

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_DELAY_SECONDS = 900
BATCH_ENTRIES = 10


def delay_of(timer: Timer, now: datetime) -> int | None:
    """Seconds until the timer is due (rounded up); None beyond SQS's reach."""
    seconds = max(0, math.ceil((timer.due - now).total_seconds()))
    return None if seconds > MAX_DELAY_SECONDS else seconds


class SqsTimerQueue:
    def __init__(self, *, sqs: SQSClient, queue_name: Callable[[], str]) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._url = cache(lambda: self._sqs.get_queue_url(QueueName=self._queue_name())["QueueUrl"])

    def hint(self, timers: Sequence[Timer], *, now: datetime) -> None:
        entries = [
            {"Id": str(index), "MessageBody": timer.model_dump_json(), "DelaySeconds": delay}
            for index, timer in enumerate(timers)
            if (delay := delay_of(timer, now)) is not None
        ]
        try:
            for start in range(0, len(entries), BATCH_ENTRIES):
                response = self._sqs.send_message_batch(
                    QueueUrl=self._url(),
                    Entries=entries[start : start + BATCH_ENTRIES],  # type: ignore[arg-type]
                )
                if response.get("Failed"):
                    raise PublishFailed(f"{len(response['Failed'])} timers not queued")
        except (BotoCoreError, ClientError) as error:
            raise PublishFailed(str(error)) from error
