"""The API outside the local stage, in-process (moto's mock, the gateway's WSGI app): webhook
targets that are not public https are refused, and /health reports an unreachable table."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from werkzeug.test import Client

from chalicelib import aws
from chalicelib.adapters.dynamodb import DynamoStore
from chalicelib.wiring import Services, use_services


def put(
    client: Client, key: str, url: str, field: str = "webhook_url"
) -> tuple[int, dict[str, Any]]:
    response = client.put(
        "/v1/recipients/alice",
        data=json.dumps({field: url}),
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


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("slack_webhook_url", "https://hooks.example.com/services/T/B/X"),
        ("slack_webhook_url", "http://127.0.0.1:9000/slack"),
        ("teams_webhook_url", "https://169.254.169.254/webhookb2/x"),
        ("discord_webhook_url", "https://discord.com.evil.example/api/webhooks/1/x"),
    ],
)
def test_outside_local_a_chat_url_off_its_platform_is_422(
    dev_services: Services, client: Client, field: str, url: str
) -> None:
    key = dev_services.tenants.issue_key("acme").api_key
    status, body = put(client, key, url, field)
    assert status == 422
    assert body["errors"][0]["loc"] == ["body", field]


def test_health_is_503_when_the_table_is_unreachable(
    dev_services: Services, client: Client
) -> None:
    use_services(replace(dev_services, health=DynamoStore(aws.dynamodb(), "no-such-table")))
    response = client.get("/health")
    assert response.status_code == 503, response.get_data(as_text=True)
    assert json.loads(response.get_data(as_text=True)) == {"status": "unavailable"}
