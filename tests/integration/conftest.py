"""A real moto server on a free loopback port, and the process pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib.settings import Stage
from infra.provision import Provisioned, provision
from infra.resources import definition
from tocsin_local.moto_dynamodb import correct_dynamodb


@dataclass(frozen=True)
class Moto:
    endpoint: str
    session: boto3.session.Session

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    correct_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {
        key: os.environ.get(key)
        for key in (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
        )
    }
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    yield Moto(endpoint, boto3.session.Session(region_name="us-east-1"))
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


class _EndpointSession(boto3.session.Session):
    def __init__(self, endpoint: str) -> None:
        super().__init__(region_name="us-east-1")
        self._endpoint = endpoint

    def client(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("endpoint_url", self._endpoint)
        return super().client(*args, **kwargs)


@pytest.fixture
def provisioned(moto: Moto) -> Provisioned:
    # Per test, and idempotent: moto's backends are process-wide, and an in-process mock_aws
    # of a unit test in the same pytest worker resets them, this server's tables included.
    return provision(definition(Stage.LOCAL), _EndpointSession(moto.endpoint))
