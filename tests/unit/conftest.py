"""The API in-process outside the local stage: moto's mock behind the gateway's WSGI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws
from werkzeug.test import Client

from chalicelib import aws
from chalicelib.settings import Stage
from chalicelib.wiring import Services, build_services, use_services
from infra.provision import provision
from infra.resources import definition, stage_settings
from tocsin_local.emulator.gateway import Gateway


@pytest.fixture
def dev_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        aws.forget_clients()
        provisioned = provision(definition(Stage.DEV))
        settings = stage_settings(Stage.DEV).model_copy(
            update={"notifications_topic_arn": next(iter(provisioned.topic_arns.values()))}
        )
        services = build_services(settings)
        use_services(services)
        yield services
        use_services(None)
        aws.forget_clients()


@pytest.fixture
def client() -> Client:
    import app

    return Client(Gateway(app.app, "dev", 30.0))
