"""Every pattern-checked field answers a 10,000-character hostile input at once: validation is
linear in the input, so one request can never stall the API (each answer within a deadline,
measured in a forked child that is killed when it passes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import Client

from chalicelib.domain.errors import Invalid
from chalicelib.domain.keys import split_api_key
from chalicelib.domain.retry import parse_retry_after
from chalicelib.domain.webhook_targets import RefusedTarget, parse_webhook_url
from chalicelib.wiring import Services
from tests.deadline import within
from tests.fakes import FakeClock

# Generous: a linear check answers in milliseconds, the old pattern took hours on 200 characters.
DEADLINE_SECONDS = 20.0
N = 10_000

HOSTILE_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    # The host-name pattern that backtracked: a label that fails on its last character, within
    # the 253 characters of a host name (its length check kept longer ones out) and beyond.
    "webhook_url host": ("PUT", {"webhook_url": "https://" + "a" * 200 + "_/h"}),
    "webhook_url long host": ("PUT", {"webhook_url": "https://" + "a" * N + "_/h"}),
    "webhook_url dotted host": ("PUT", {"webhook_url": "https://" + "a." * (N // 2) + "_/h"}),
    "webhook_url hyphens": ("PUT", {"webhook_url": "https://a" + "-" * N + "/h"}),
    "email": ("PUT", {"email": "a" * N + "@" + "b." * 100 + "!"}),
    "phone": ("PUT", {"phone": "+1" + "1" * N + "x"}),
    "name": ("PUT", {"name": "n" * N}),
    "title": ("POST", {"recipient_id": "alice", "title": "t" * N}),
    "title control characters": ("POST", {"recipient_id": "alice", "title": "\r\n" * N}),
    "recipient_id": ("POST", {"recipient_id": "a" * N + "!", "title": "x"}),
    "topic": ("POST", {"topic": "a." * (N // 2) + "!", "title": "x"}),
    "category": ("POST", {"recipient_id": "alice", "title": "x", "category": "c" * N}),
    "channels": ("POST", {"recipient_id": "alice", "title": "x", "channels": ["w" * N]}),
    "idempotency_key": (
        "POST",
        {"recipient_id": "alice", "title": "x", "idempotency_key": "k" * N},
    ),
}


def _status(client: Client, key: str, method: str, path: str, **kwargs: Any) -> int:
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return int(client.open(path, method=method, headers=headers, **kwargs).status_code)


@pytest.mark.parametrize("field", sorted(HOSTILE_BODIES))
def test_a_hostile_body_field_is_refused_at_once(
    dev_services: Services, client: Client, field: str
) -> None:
    # GIVEN a tenant
    key = dev_services.tenants.issue_key("acme").api_key
    method, body = HOSTILE_BODIES[field]
    path = "/v1/recipients/alice" if method == "PUT" else "/v1/notifications"
    # WHEN a 10,000-character hostile value is sent
    status = within(
        DEADLINE_SECONDS,
        lambda: _status(
            client, key, method, path, data=json.dumps(body), content_type="application/json"
        ),
    )
    # THEN it is refused as invalid, well within the deadline
    assert status == 422


@pytest.mark.parametrize(
    ("what", "path", "headers"),
    [
        ("recipient path", "/v1/recipients/" + "a" * N + "!", {}),
        ("cursor", "/v1/notifications?cursor=" + "A" * N, {}),
        ("status filter", "/v1/notifications?status=" + "s" * N, {}),
        ("idempotency header", "/v1/notifications", {"Idempotency-Key": "k" * N}),
    ],
)
def test_a_hostile_path_query_or_header_is_refused_at_once(
    dev_services: Services, client: Client, what: str, path: str, headers: dict[str, str]
) -> None:
    key = dev_services.tenants.issue_key("acme").api_key
    method = "POST" if "Idempotency-Key" in headers else "GET"
    body = json.dumps({"recipient_id": "nobody", "title": "x"}) if method == "POST" else None
    status = within(
        DEADLINE_SECONDS,
        lambda: _status(
            client, key, method, path, headers=headers, data=body, content_type="application/json"
        ),
    )
    assert status == 422


def test_a_hostile_api_key_is_refused_at_once(dev_services: Services, client: Client) -> None:
    status = within(
        DEADLINE_SECONDS,
        lambda: _status(client, "tsn_" + "a" * N + ".", "GET", "/v1/notifications"),
    )
    assert status == 401


def _refused(check: Any) -> bool:
    try:
        check()
    except (RefusedTarget, Invalid):
        return True
    return False


@pytest.mark.parametrize(
    "value",
    [
        "http://" + "a" * 200 + "_/h",
        "http://" + "a" * N + "_/h",
        "https://" + "a-" * N + "!",
        "https://[" + ":" * N + "]/",
    ],
)
def test_the_webhook_url_check_is_linear(value: str) -> None:
    assert within(
        DEADLINE_SECONDS, lambda: _refused(lambda: parse_webhook_url(value, allow_private=True))
    )


def test_the_tenant_name_check_is_linear(dev_services: Services) -> None:
    assert within(
        DEADLINE_SECONDS, lambda: _refused(lambda: dev_services.tenants.issue_key("a" * N + "!"))
    )


def test_a_hostile_retry_after_is_read_at_once() -> None:
    now = FakeClock().now()
    assert within(DEADLINE_SECONDS, lambda: parse_retry_after("Mon, " + "9" * N, now)) is None


def test_a_hostile_api_key_is_split_at_once() -> None:
    assert within(DEADLINE_SECONDS, lambda: split_api_key("tsn_" + "0" * N)) is None
