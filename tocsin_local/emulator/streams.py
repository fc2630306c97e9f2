"""DynamoDB stream and Kinesis stream -> function: batches of records per shard, in order.

A batch that fails is retried, whole and in order, until it succeeds (Lambda's default of
unlimited retries for stream sources); the shard waits meanwhile, with a growing pause.
A DynamoDB stream is found by its table: Chalice names a stream ARN, but a local table's stream
label changes with every run, so the table's current stream is used. A Kinesis stream is named
by its name, as Chalice names it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.events import dynamodb_record, kinesis_record
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


class _ShardSource:
    """Follows every shard of a stream from the source's starting position."""

    stream_arn: str

    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        self.source = source
        self._pool = pool
        self._cloud = cloud
        self._stop = threading.Event()

    @property
    def name(self) -> str:
        return self.source.function.name

    def _iterators(self, position: str) -> list[tuple[str, str]]:
        """(shard id, shard iterator) for each shard."""
        raise NotImplementedError

    def _get_records(self, iterator: str, limit: int) -> dict[str, Any]:
        raise NotImplementedError

    def _event_record(self, record: dict[str, Any], shard: str) -> dict[str, Any]:
        raise NotImplementedError

    def start(self) -> None:
        """Positions a reader on every shard before returning: a change made once the source
        has started is delivered, even from the LATEST position."""
        position = str(self.source.params.get("starting_position") or "LATEST")
        for shard, iterator in self._iterators(position):
            threading.Thread(
                target=self._follow, args=(shard, iterator), daemon=True, name=f"shard-{self.name}"
            ).start()

    def stop(self) -> None:
        self._stop.set()

    def reload(self, source: EventSource) -> None:
        self.source = source

    def _follow(self, shard: str, iterator: str | None) -> None:
        pending: list[dict[str, Any]] = []
        while iterator and not self._stop.is_set():
            batch_size = int(self.source.params.get("batch_size") or 100)
            window = float(self.source.params.get("maximum_batching_window_in_seconds") or 0)
            closes = time.monotonic() + window
            while len(pending) < batch_size and not self._stop.is_set():
                response = self._get_records(iterator, batch_size - len(pending))
                pending += response.get("Records", [])
                iterator = response.get("NextShardIterator")
                if not iterator or (pending and time.monotonic() >= closes):
                    break
                self._stop.wait(POLL_INTERVAL_SECONDS)
                if not pending:
                    closes = time.monotonic() + window
            if pending:
                self._deliver(pending, shard)
                pending = []

    def _deliver(self, records: list[dict[str, Any]], shard: str) -> None:
        event = {"Records": [self._event_record(record, shard) for record in records]}
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


class DynamoDBStreamSource(_ShardSource):
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        super().__init__(source, pool, cloud)
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

    def _iterators(self, position: str) -> list[tuple[str, str]]:
        streams = self._cloud.client("dynamodbstreams")
        shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        return [
            (
                shard["ShardId"],
                streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
                )["ShardIterator"],
            )
            for shard in shards
        ]

    def _get_records(self, iterator: str, limit: int) -> dict[str, Any]:
        response: dict[str, Any] = self._cloud.client("dynamodbstreams").get_records(
            ShardIterator=iterator, Limit=limit
        )
        return response

    def _event_record(self, record: dict[str, Any], shard: str) -> dict[str, Any]:
        return dynamodb_record(record, self.stream_arn, self._cloud.region)


class KinesisStreamSource(_ShardSource):
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        super().__init__(source, pool, cloud)
        self.stream = str(source.params["stream"])
        kinesis = cloud.client("kinesis")
        try:
            summary = kinesis.describe_stream_summary(StreamName=self.stream)
        except kinesis.exceptions.ResourceNotFoundException:
            raise LookupError(f"Kinesis stream {self.stream!r} does not exist") from None
        self.stream_arn = str(summary["StreamDescriptionSummary"]["StreamARN"])
        self._invoke_identity = f"arn:aws:iam::{cloud.account}:role/{source.function.lambda_name}"

    def _iterators(self, position: str) -> list[tuple[str, str]]:
        kinesis = self._cloud.client("kinesis")
        shards = kinesis.list_shards(StreamName=self.stream)["Shards"]
        return [
            (
                shard["ShardId"],
                kinesis.get_shard_iterator(
                    StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType=position
                )["ShardIterator"],
            )
            for shard in shards
        ]

    def _get_records(self, iterator: str, limit: int) -> dict[str, Any]:
        response: dict[str, Any] = self._cloud.client("kinesis").get_records(
            ShardIterator=iterator, Limit=limit
        )
        return response

    def _event_record(self, record: dict[str, Any], shard: str) -> dict[str, Any]:
        return kinesis_record(
            record, shard, self.stream_arn, self._cloud.region, self._invoke_identity
        )
