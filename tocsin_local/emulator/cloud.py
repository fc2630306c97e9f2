"""The emulated functions' view of the cloud: boto3 clients on the configured endpoint, and the
account and region that ARNs are built with."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    max_pool_connections=64,
    read_timeout=70,
)


@dataclass
class Cloud:
    session: boto3.session.Session
    create_missing: bool = False
    stats: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
            return self._clients[service]

    @property
    def region(self) -> str:
        return self.session.region_name or "us-east-1"

    @cached_property
    def deployer(self) -> Any:
        """Chalice's own AWS client, for wiring event sources exactly as ``chalice deploy``
        wires them."""
        from chalice.awsclient import TypedAWSClient

        return TypedAWSClient(self.session._session)

    def function_arn(self, lambda_name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{lambda_name}"

    @cached_property
    def account(self) -> str:
        account: str = self.client("sts").get_caller_identity()["Account"]
        return account

    def count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[key] += amount

    def queue(
        self, name_or_arn: str, visibility_timeout: float = 30
    ) -> tuple[str, str, dict[str, str]]:
        """(url, arn, attributes) of a queue named by name or ARN, created when missing and
        allowed (with ``visibility_timeout``)."""
        sqs = self.client("sqs")
        name = name_or_arn.rsplit(":", 1)[-1]
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            if not self.create_missing:
                raise LookupError(
                    f"queue {name!r} does not exist (pass --create-missing to create it)"
                ) from None
            attributes = {"VisibilityTimeout": str(int(visibility_timeout))}
            if name.endswith(".fifo"):
                attributes["FifoQueue"] = "true"
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return url, attributes["QueueArn"], attributes

    def topic_arn(self, name_or_arn: str) -> str:
        sns = self.client("sns")
        name = name_or_arn.rsplit(":", 1)[-1]
        paginator = sns.get_paginator("list_topics")
        for page in paginator.paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                    return str(topic["TopicArn"])
        if not self.create_missing:
            raise LookupError(f"topic {name!r} does not exist (pass --create-missing to create it)")
        return str(sns.create_topic(Name=name)["TopicArn"])
