"""The API outside the local stage, in-process (moto's mock, the gateway's WSGI app): webhook
targets that are not public https are refused, and /health reports an unreachable table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws
from werkzeug.test import Client

from chalicelib import aws
from chalicelib.adapters.dynamodb import DynamoStore
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


def put(client: Client, key: str, url: str) -> tuple[int, dict[str, Any]]:
    response = client.put(
        "/v1/recipients/alice",
        data=json.dumps({"webhook_url": url}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    return response.status_code, json.loads(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "http://hooks.example.com/hook",
    ],
)
def test_outside_local_a_non_public_webhook_is_422(
    dev_services: Services, client: Client, url: str
) -> None:
    key = dev_services.tenants.issue_key("acme").api_key
    status, body = put(client, key, url)
    assert status == 422
    assert body["errors"][0]["loc"] == ["body", "webhook_url"]


def test_health_is_503_when_the_table_is_unreachable(
    dev_services: Services, client: Client
) -> None:
    use_services(replace(dev_services, health=DynamoStore(aws.dynamodb(), "no-such-table")))
    response = client.get("/health")
    assert response.status_code == 503, response.get_data(as_text=True)
    assert json.loads(response.get_data(as_text=True)) == {"status": "unavailable"}
