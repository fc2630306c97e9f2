"""Rate limits per integration and per tenant (api.md, Rate limits), on a stack of their own
with small limits: bursts over the limit get 429 with Retry-After, and nothing accepted before
the limit is lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.harness import Api, Stack

PER_INTEGRATION = 10
PER_TENANT = 25


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        tmp_path_factory.mktemp("limited"),
        env={
            "TOCSIN_RATE_LIMIT_INTEGRATION": str(PER_INTEGRATION),
            "TOCSIN_RATE_LIMIT_TENANT": str(PER_TENANT),
        },
    )
    yield started
    started.stop()


def fresh_tenant(stack: Stack) -> Api:
    api_key, _ = stack.new_tenant(f"limited-{uuid.uuid4().hex[:10]}")
    return stack.client(api_key)


def at_once(count: int, send: Any) -> list[requests.Response]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: send(), range(count)))


def test_a_burst_over_an_integrations_limit_gets_429_and_loses_nothing_accepted(
    limited: Stack, tmp_path: Path
) -> None:
    # GIVEN a fresh PagerDuty integration
    tenant = fresh_tenant(limited)
    routing_key = tenant.request("POST", "/v1/integrations", json={"kind": "pagerduty"}).json()[
        "routing_key"
    ]
    key = f"burst-{uuid.uuid4().hex[:8]}"
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": "flapping", "source": "web-1", "severity": "info"},
    }
    # WHEN a burst of events comes at once
    answers = at_once(
        PER_INTEGRATION + 6,
        lambda: requests.post(f"{limited.api_url}/v2/enqueue", json=event, timeout=30),
    )
    # THEN those over the limit get 429, in PagerDuty's body, with Retry-After
    accepted = [answer for answer in answers if answer.status_code == 202]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(accepted) + len(refused) == len(answers)
    assert len(accepted) >= PER_INTEGRATION
    assert refused
    for answer in refused:
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["status"] == "throttle event"
    # AND every event accepted counts in the alert
    [alert] = [
        item
        for item in tenant.request("GET", "/v1/alerts").json()["items"]
        if item["dedup_key"] == key
    ]
    assert alert["trigger_count"] == len(accepted)


def test_a_burst_over_a_tenants_limit_gets_429_problems_and_loses_nothing_accepted(
    limited: Stack,
) -> None:
    # GIVEN a fresh tenant with a recipient
    tenant = fresh_tenant(limited)
    assert tenant.put_recipient("alice").status_code == 200
    # WHEN a burst of notifications comes at once
    answers = at_once(PER_TENANT + 8, lambda: tenant.notify(recipient_id="alice"))
    accepted = [answer for answer in answers if answer.status_code == 202]
    refused = [answer for answer in answers if answer.status_code == 429]
    # THEN those over the limit are 429 problems with Retry-After
    assert len(accepted) + len(refused) == len(answers)
    assert len(accepted) >= PER_TENANT
    assert refused
    for answer in refused:
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.json()["status"] == 429
        assert int(answer.headers["Retry-After"]) >= 1
    # AND each accepted notification is there; alert events share the tenant's limit
    for answer in accepted:
        assert tenant.notification(answer.json()["id"])["title"] == "Disk almost full"
    over = tenant.request(
        "POST", "/v1/alerts/events", json={"action": "trigger", "summary": "one too many"}
    )
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
