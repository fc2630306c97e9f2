"""Every table, topic, queue, DLQ and subscription Tocsin uses, defined once.

Names come from ``chalicelib.settings`` (what the deployed code reads); function timeouts come
from ``.chalice/config.json`` (what Chalice deploys), and queue visibility timeouts follow them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice.config import Config

from chalicelib.domain.planning import QUEUED_CHANNELS
from chalicelib.settings import Settings, Stage

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str
    sort_key_type: str = "S"
    projection: str = "ALL"


@dataclass(frozen=True)
class Table:
    name: str
    partition_key: str
    sort_key: str
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None

    # The key shapes below are the same in the DynamoDB API (CreateTable) and in
    # CloudFormation (AWS::DynamoDB::Table): provisioning and the template share them.
    def attribute_definitions(self) -> list[dict[str, str]]:
        kinds = {self.partition_key: "S", self.sort_key: "S"}
        for index in self.indexes:
            kinds[index.partition_key] = "S"
            kinds[index.sort_key] = index.sort_key_type
        return [{"AttributeName": name, "AttributeType": kind} for name, kind in kinds.items()]

    def key_schema(self) -> list[dict[str, str]]:
        return [
            {"AttributeName": self.partition_key, "KeyType": "HASH"},
            {"AttributeName": self.sort_key, "KeyType": "RANGE"},
        ]

    def global_secondary_indexes(self) -> list[dict[str, Any]]:
        return [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index.projection},
            }
            for index in self.indexes
        ]


@dataclass(frozen=True)
class Queue:
    name: str
    visibility_timeout: int
    retention_seconds: int = 14 * 24 * 3600
    dead_letter_queue: str | None = None
    max_receive_count: int | None = None

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


@dataclass(frozen=True)
class Topic:
    name: str


@dataclass(frozen=True)
class Subscription:
    topic: str
    queue: str
    filter_policy: dict[str, Any] | None = None
    raw_message_delivery: bool = True


@dataclass(frozen=True)
class Definition:
    stage: Stage
    tables: tuple[Table, ...]
    topics: tuple[Topic, ...]
    queues: tuple[Queue, ...]
    subscriptions: tuple[Subscription, ...]
    email_identities: tuple[str, ...] = ()
    function_timeouts: dict[str, int] = field(default_factory=dict)

    def queue(self, name: str) -> Queue:
        return next(queue for queue in self.queues if queue.name == name)


def chalice_config(stage: Stage, function_name: str, project_dir: Path = PROJECT_DIR) -> Config:
    raw = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return Config(chalice_stage=stage.value, function_name=function_name, config_from_disk=raw)


def function_timeout(stage: Stage, function_name: str) -> int:
    timeout = chalice_config(stage, function_name).lambda_timeout
    # Chalice's own default when config.json sets none.
    return int(timeout) if timeout is not None else 60


def stage_settings(stage: Stage) -> Settings:
    """The settings the deployed functions of ``stage`` run with (from .chalice/config.json)."""
    environment = chalice_config(stage, "api_handler").environment_variables
    values = {
        key.removeprefix("TOCSIN_").lower(): value
        for key, value in environment.items()
        if key.startswith("TOCSIN_")
    }
    return Settings.model_validate(values)


# A healthy delivery uses at most one receive per attempt (8); the rest is room for crashes and
# lease collisions before a message counts as poison.
MAX_RECEIVES = 20


def queue_visibility(stage: Stage, function_name: str) -> int:
    """AWS advises a queue visibility of six times the function timeout, so that a batch is not
    handed out twice while Lambda still retries a throttled invoke. The local runner invokes at
    once, so one timeout is enough there, and crashed batches come back sooner."""
    timeout = function_timeout(stage, function_name)
    return timeout if stage is Stage.LOCAL else 6 * timeout


def _queue_with_dlq(name: str, dlq: str, visibility: int) -> tuple[Queue, Queue]:
    return (
        Queue(dlq, visibility_timeout=visibility),
        Queue(
            name,
            visibility_timeout=visibility,
            dead_letter_queue=dlq,
            max_receive_count=MAX_RECEIVES,
        ),
    )


def definition(stage: Stage) -> Definition:
    settings = stage_settings(stage)
    queues: list[Queue] = []
    subscriptions: list[Subscription] = []
    functions = ["api_handler", "sweep", "fanout", "timers", "find_timers", "alert_timers"]
    for channel in QUEUED_CHANNELS:
        function = f"deliver_{channel.value}"
        functions.append(function)
        queues += _queue_with_dlq(
            settings.delivery_queue(channel),
            settings.delivery_dlq(channel),
            queue_visibility(stage, function),
        )
        subscriptions.append(
            Subscription(
                topic=settings.notifications_topic_name,
                queue=settings.delivery_queue(channel),
                filter_policy={"kind": ["delivery"], "channel": [channel.value]},
            )
        )
    queues += _queue_with_dlq(
        settings.fanout_queue_name, settings.fanout_dlq_name, queue_visibility(stage, "fanout")
    )
    subscriptions.append(
        Subscription(
            topic=settings.notifications_topic_name,
            queue=settings.fanout_queue_name,
            filter_policy={"kind": ["fanout"]},
        )
    )
    queues += _queue_with_dlq(
        settings.timers_queue_name, settings.timers_dlq_name, queue_visibility(stage, "timers")
    )
    return Definition(
        stage=stage,
        tables=(
            Table(
                name=settings.table_name,
                partition_key="pk",
                sort_key="sk",
                indexes=(
                    # Keys only: a list reads its items after the index (one batch read), so
                    # that no write of a non-key attribute (counts, leases, outcomes) is
                    # repeated into an index.
                    Index("gsi1", "gsi1pk", "gsi1sk", projection="KEYS_ONLY"),
                    Index("gsi2", "gsi2pk", "gsi2sk", projection="KEYS_ONLY"),
                    Index(
                        "sweep", "sweep_pk", "sweep_at", sort_key_type="N", projection="KEYS_ONLY"
                    ),
                ),
                ttl_attribute="expires_at_epoch",
            ),
        ),
        topics=(Topic(settings.notifications_topic_name),),
        queues=tuple(queues),
        subscriptions=tuple(subscriptions),
        email_identities=(settings.email_sender,),
        function_timeouts={name: function_timeout(stage, name) for name in functions},
    )
