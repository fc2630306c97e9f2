"""Defects found by a review as an attacker and as a careless client would be: each refused or
contained at the edge (in-process API outside the local stage, moto's mock)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import Client

from chalicelib.domain.errors import Invalid
from chalicelib.domain.webhook_targets import RefusedTarget, parse_webhook_url
from chalicelib.wiring import Services


def call(client: Client, key: str, method: str, path: str, body: Any = None) -> Any:
    response = client.open(
        path,
        method=method,
        headers={"Authorization": f"Bearer {key}"},
        data=None if body is None else json.dumps(body),
        content_type="application/json",
    )
    text = response.get_data(as_text=True)
    return response.status_code, json.loads(text) if text else None


@pytest.mark.parametrize("name", ["demo\n", "demo\r", " demo", "de mo"])
def test_a_tenant_name_must_match_in_full(dev_services: Services, name: str) -> None:
    with pytest.raises(Invalid):
        dev_services.tenants.issue_key(name)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Hi\r\nBcc: attacker@example.com"),
        ("title", "tab\there"),
        ("title", "line\u2028separator"),
        ("category", "ops\n"),
    ],
)
def test_single_line_fields_refuse_control_characters(
    dev_services: Services, client: Client, field: str, value: str
) -> None:
    key = dev_services.tenants.issue_key("acme").api_key
    assert call(client, key, "PUT", "/v1/recipients/alice", {"email": "a@example.com"})[0] == 200
    body = {"recipient_id": "alice", "title": "ok", field: value}
    status, problem = call(client, key, "POST", "/v1/notifications", body)
    assert status == 422
    assert problem["errors"][0]["loc"] == ["body", field]


def test_a_recipient_name_refuses_control_characters(
    dev_services: Services, client: Client
) -> None:
    key = dev_services.tenants.issue_key("acme").api_key
    status, problem = call(client, key, "PUT", "/v1/recipients/alice", {"name": "A\r\nB"})
    assert status == 422
    assert problem["errors"][0]["loc"] == ["body", "name"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com\r\n/ok",
        "https://hooks.example.com/o k",
        "https://hooks.example.com/ok\t",
        "https://hooks.example.com/\x00",
        "https://hooks.example.com/\x7f",
    ],
)
def test_a_webhook_url_with_whitespace_or_control_characters_is_refused(
    dev_services: Services, client: Client, url: str
) -> None:
    key = dev_services.tenants.issue_key("acme").api_key
    status, problem = call(client, key, "PUT", "/v1/recipients/alice", {"webhook_url": url})
    assert status == 422
    assert problem["errors"][0]["loc"] == ["body", "webhook_url"]
    with pytest.raises(RefusedTarget):
        parse_webhook_url(
            url.replace("https://hooks.example.com", "http://127.0.0.1:9711"), allow_private=True
        )


@pytest.mark.parametrize(
    "host",
    [
        "[::127.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b::a00:1]",
        "[2002:7f00:1::]",
        "[2002:a9fe:a9fe::]",
        "[::ffff:169.254.169.254]",
    ],
)
def test_ipv6_forms_embedding_a_private_ipv4_address_are_refused(
    dev_services: Services, client: Client, host: str
) -> None:
    key = dev_services.tenants.issue_key("acme").api_key
    url = f"https://{host}/hook"
    status, problem = call(client, key, "PUT", "/v1/recipients/alice", {"webhook_url": url})
    assert status == 422, problem
    assert "non-public" in problem["errors"][0]["msg"]


def test_a_recipient_created_again_starts_with_an_empty_inbox(
    dev_services: Services, client: Client
) -> None:
    # GIVEN a recipient with one inbox item
    key = dev_services.tenants.issue_key("acme").api_key
    call(client, key, "PUT", "/v1/recipients/alice", {"name": "Alice"})
    status, created = call(
        client, key, "POST", "/v1/notifications", {"recipient_id": "alice", "title": "old"}
    )
    assert status == 202
    assert len(call(client, key, "GET", "/v1/recipients/alice/inbox")[1]["items"]) == 1
    # WHEN it is deleted and created again under the same id
    assert call(client, key, "DELETE", "/v1/recipients/alice")[0] == 204
    call(client, key, "PUT", "/v1/recipients/alice", {"name": "Someone else"})
    # THEN the new recipient sees none of the old one's inbox
    assert call(client, key, "GET", "/v1/recipients/alice/inbox")[1]["items"] == []
    read = f"/v1/recipients/alice/inbox/{created['id']}/read"
    assert call(client, key, "POST", read)[0] == 404
