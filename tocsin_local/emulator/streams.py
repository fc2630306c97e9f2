"""DynamoDB stream -> function: batches of stream records per shard, in order.

A batch that fails is retried, whole and in order, until it succeeds (Lambda's default of
unlimited retries for stream sources); the shard waits meanwhile, with a growing pause.
The stream is found by its table: Chalice names a stream ARN, but a local table's stream label
changes with every run, so the table's current stream is used.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.events import dynamodb_record
from tocsin_local.emulator.functions import FunctionPool
from tocsin_local.emulator.project import EventSource

log = logging.getLogger("tocsin.emulator")

POLL_INTERVAL_SECONDS = 0.1
MAX_RETRY_PAUSE_SECONDS = 5.0


def table_of(stream_arn: str) -> str:
    # arn:aws:dynamodb:region:account:table/NAME/stream/LABEL
    resource = stream_arn.split(":", 5)[-1]
    parts = resource.split("/")
    if len(parts) < 2 or parts[0] != "table":
        raise ValueError(f"not a DynamoDB stream ARN: {stream_arn}")
    return parts[1]


class DynamoDBStreamSource:
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        self.source = source
        self._pool = pool
        self._cloud = cloud
        self._stop = threading.Event()
        table = table_of(source.params["stream_arn"])
        dynamodb = cloud.client("dynamodb")
        try:
            description = dynamodb.describe_table(TableName=table)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            raise LookupError(f"table {table!r} does not exist") from None
        arn = description.get("LatestStreamArn")
        if not arn or not description.get("StreamSpecification", {}).get("StreamEnabled"):
            raise LookupError(f"table {table!r} has no stream enabled")
        self.stream_arn: str = arn

    @property
    def name(self) -> str:
        return self.source.function.name

    def start(self) -> None:
        """Positions a reader on every shard before returning: a change made once the source
        has started is delivered, even from the LATEST position."""
        streams = self._cloud.client("dynamodbstreams")
        shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        position = str(self.source.params.get("starting_position") or "LATEST")
        for shard in shards:
            iterator = streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
            )["ShardIterator"]
            threading.Thread(
                target=self._follow, args=(iterator,), daemon=True, name=f"ddb-{self.name}"
            ).start()

    def stop(self) -> None:
        self._stop.set()

    def reload(self, source: EventSource) -> None:
        self.source = source

    def _follow(self, iterator: str | None) -> None:
        streams = self._cloud.client("dynamodbstreams")
        pending: list[dict[str, Any]] = []
        while iterator and not self._stop.is_set():
            batch_size = int(self.source.params.get("batch_size") or 100)
            window = float(self.source.params.get("maximum_batching_window_in_seconds") or 0)
            closes = time.monotonic() + window
            while len(pending) < batch_size and not self._stop.is_set():
                response = streams.get_records(
                    ShardIterator=iterator, Limit=batch_size - len(pending)
                )
                pending += response.get("Records", [])
                iterator = response.get("NextShardIterator")
                if not iterator or (pending and time.monotonic() >= closes):
                    break
                self._stop.wait(POLL_INTERVAL_SECONDS)
                if not pending:
                    closes = time.monotonic() + window
            if pending:
                self._deliver(pending)
                pending = []

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        event = {
            "Records": [
                dynamodb_record(record, self.stream_arn, self._cloud.region) for record in records
            ]
        }
        pause = 0.2
        while not self._stop.is_set():
            with self._pool.slot():
                result = self._pool.invoke(event)
            self._cloud.count(f"{self.name}.invocations")
            if result.ok:
                self._cloud.count(f"{self.name}.records", len(records))
                return
            self._cloud.count(f"{self.name}.errors")
            log.warning(
                "%s failed on %d stream record(s) (%s); retrying the batch in %.1f s",
                self.name,
                len(records),
                (result.error or {}).get("errorMessage"),
                pause,
            )
            self._stop.wait(pause)
            pause = min(MAX_RETRY_PAUSE_SECONDS, pause * 2)
