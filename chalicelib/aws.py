"""The only place that builds boto3 clients.

Endpoints come from botocore's standard configuration (``AWS_ENDPOINT_URL`` and the
per-service ``AWS_ENDPOINT_URL_<SERVICE>`` variables), so the same code talks to moto server,
LocalStack or AWS with no change. Clients are built lazily, once per process.
"""

from __future__ import annotations

import threading
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

_CONFIG = Config(
    retries={"max_attempts": 4, "mode": "standard"},
    max_pool_connections=32,
    connect_timeout=5,
    read_timeout=30,
)
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def _client(service: str) -> Any:
    # boto3's client creation is not thread-safe on a shared session.
    with _LOCK:
        return _session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb")
    return client


@lru_cache(maxsize=1)
def dynamodb_probe() -> DynamoDBClient:
    """A DynamoDB client that gives up fast (2 s, one try): /health must answer, not hang."""
    with _LOCK:
        client: DynamoDBClient = _session().client(
            "dynamodb",
            config=Config(connect_timeout=2, read_timeout=2, retries={"max_attempts": 1}),
        )
    return client


def sns() -> SNSClient:
    client: SNSClient = _client("sns")
    return client


def sqs() -> SQSClient:
    client: SQSClient = _client("sqs")
    return client


def ses() -> SESClient:
    client: SESClient = _client("ses")
    return client


def sts() -> STSClient:
    client: STSClient = _client("sts")
    return client


def forget_clients() -> None:
    """Drops the cached session and clients (a process whose endpoint changed, e.g. tests)."""
    _client.cache_clear()
    dynamodb_probe.cache_clear()
    _session.cache_clear()


def region() -> str:
    return _session().region_name or "us-east-1"
