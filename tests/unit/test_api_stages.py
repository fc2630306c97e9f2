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
from chalicelib.adapters.runtime import SystemClock
from chalicelib.domain.recipients import RecipientService
from chalicelib.settings import Stage
from chalicelib.wiring import Services, use_services
from infra.resources import stage_settings


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


def test_secret_addresses_show_whole_only_in_the_reply_of_the_put_that_stored_them(
    dev_services: Services, client: Client
) -> None:
    # GIVEN a recipient stored with a Slack URL and two Apprise URLs (its hosts resolve public)
    store = DynamoStore(aws.dynamodb(), stage_settings(Stage.DEV).table_name)
    use_services(
        replace(
            dev_services,
            recipients=RecipientService(
                recipients=store,
                endpoints=store,
                clock=SystemClock(),
                allow_private_webhooks=False,
                resolve=lambda host, port: ["93.184.216.34"],
            ),
        )
    )
    key = dev_services.tenants.issue_key("acme").api_key
    slack = "https://hooks.slack.com/services/T0/B0/secret"
    apprise = ["tgram://123456789:secret/-100", "ntfy://ntfy.sh/secret-topic"]
    stored = put_json(client, key, {"slack_webhook_url": slack, "apprise_urls": apprise})
    assert (stored["slack_webhook_url"], stored["apprise_urls"]) == (slack, apprise)
    # WHEN it is read, and PUT back as read with one Apprise URL replaced
    shown = get_json(client, key)
    new_apprise = "ntfy://ntfy.sh/other-secret"
    again = put_json(
        client,
        key,
        {
            "name": "Alice",
            "slack_webhook_url": shown["slack_webhook_url"],
            "apprise_urls": [shown["apprise_urls"][0], new_apprise],
        },
    )
    # THEN the reads and the second PUT's reply mask what the second PUT did not give whole,
    # and the stored URLs are kept
    assert shown["slack_webhook_url"] == "https://hooks.slack.com/****"
    assert shown["apprise_urls"] == ["tgram://****", "ntfy://****"]
    assert again["slack_webhook_url"] == "https://hooks.slack.com/****"
    assert again["apprise_urls"] == ["tgram://****", new_apprise]
    kept = store.get_recipient("acme", "alice")
    assert kept is not None
    assert (kept.slack_webhook_url, kept.apprise_urls) == (slack, [apprise[0], new_apprise])


def put_json(client: Client, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.put(
        "/v1/recipients/alice",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return result


def get_json(client: Client, key: str) -> dict[str, Any]:
    response = client.get("/v1/recipients/alice", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return result


def test_push_is_unavailable_in_a_stage_without_platform_applications(
    dev_services: Services, client: Client
) -> None:
    # GIVEN a stage whose settings name no push platform application, and a recipient with a token
    assert stage_settings(Stage.DEV).push_applications == {}
    key = dev_services.tenants.issue_key("acme").api_key
    put_json(client, key, {"push_tokens": [{"platform": "fcm", "token": "device-1"}]})
    # WHEN a notification goes to its default channels
    response = client.post(
        "/v1/notifications",
        data=json.dumps({"recipient_id": "alice", "title": "Deploy done"}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    # THEN push is a channel this deployment does not send: skipped, never failed
    assert response.status_code == 202, response.get_data(as_text=True)
    push = {
        item["channel"]: item for item in json.loads(response.get_data(as_text=True))["deliveries"]
    }["push"]
    assert (push["status"], push.get("reason")) == ("skipped", "channel_unavailable")
