"""Real clients against the local stack: PagerDuty's official ``pagerduty`` client (over TLS on
loopback) and ``pdpyras`` through ``POST /v2/enqueue`` with routing keys minted by ``tocsin
integrations create``; a real Alertmanager firing and resolving through its webhook (api.md:
Integrations). Rate limits: tests/e2e/test_rate_limits.py."""

from __future__ import annotations

import json
import ssl
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pagerduty
import pytest
import requests

with warnings.catch_warnings():
    # pdpyras says it is deprecated in favour of pagerduty; integrations still use it.
    warnings.simplefilter("ignore")
    import pdpyras  # type: ignore[import-untyped]

from tests.alert_tools import Alertmanager, alertmanager_binary, tls_proxy
from tests.harness import Api, Stack, poll


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def tenant_name() -> str:
    return unique("integrations")


@pytest.fixture(scope="module")
def tenant(stack: Stack, tenant_name: str) -> Api:
    api_key, _ = stack.new_tenant(tenant_name)
    return stack.client(api_key)


def create_integration(stack: Stack, tenant: str, kind: str, topic: str) -> dict[str, Any]:
    """What ``tocsin integrations create`` prints."""
    created = stack.cli(
        "integrations", "create", "--tenant", tenant, "--kind", kind, "--topic", topic
    )
    return dict(json.loads(created.stdout))


def alert_of(tenant: Api, dedup_key: str) -> dict[str, Any] | None:
    for item in tenant.request("GET", "/v1/alerts", params={"limit": 100}).json()["items"]:
        if item["dedup_key"] == dedup_key:
            return dict(item)
    return None


def timeline_of(tenant: Api, dedup_key: str) -> list[str]:
    found = alert_of(tenant, dedup_key)
    return [] if found is None else [entry["type"] for entry in found["timeline"]]


def test_the_official_pagerduty_client_triggers_acknowledges_and_resolves(
    stack: Stack, tenant: Api, tenant_name: str, tmp_path: Path
) -> None:
    # GIVEN a routing key minted by the CLI, and Tocsin behind TLS on loopback
    integration = create_integration(stack, tenant_name, "pagerduty", "ops.pd")
    assert integration["kind"] == "pagerduty"
    assert integration["topic"] == "ops.pd"
    assert len(integration["routing_key"]) == 32
    with tls_proxy(stack.api_url, tmp_path) as (base_url, ca_file):
        client = pagerduty.EventsApiV2Client(
            integration["routing_key"],
            base_url=base_url,
            verify=ssl.create_default_context(cafile=ca_file),
        )
        # WHEN it triggers, acknowledges and resolves
        key = client.trigger(
            "Disk almost full on db-1",
            "db-1.example.com",
            severity="warning",
            custom_details={"free": "3%"},
        )
        found = alert_of(tenant, key)
        assert found is not None
        assert found["status"] == "triggered"
        assert found["severity"] == "warning"
        assert found["source"] == "db-1.example.com"
        assert found["topic"] == "ops.pd"
        assert found["details"]["free"] == "3%"
        assert found["integration_id"] == integration["id"]
        assert client.acknowledge(key) == key
        assert client.resolve(key) == key
    # THEN the alert went through its lifecycle, in its timeline
    found = alert_of(tenant, key)
    assert found is not None
    assert found["status"] == "resolved"
    # (the resolution is told to those the trigger notified: "notified" once more)
    assert timeline_of(tenant, key) == [
        "triggered",
        "notified",
        "acknowledged",
        "resolved",
        "notified",
    ]


def test_pdpyras_triggers_acknowledges_and_resolves_under_a_key_it_gives(
    stack: Stack, tenant: Api, tenant_name: str
) -> None:
    integration = tenant.request(
        "POST", "/v1/integrations", json={"kind": "pagerduty", "topic": "ops.pdpyras"}
    )
    assert integration.status_code == 201, integration.text
    session = pdpyras.EventsAPISession(integration.json()["routing_key"])
    session.url = stack.api_url
    key = unique("pdpyras")
    assert session.trigger("API 5xx above 2%", "api-gw", dedup_key=key, severity="error") == key
    assert session.trigger("API 5xx above 2%", "api-gw", dedup_key=key, severity="error") == key
    assert session.acknowledge(key) == key
    assert session.resolve(key) == key
    found = alert_of(tenant, key)
    assert found is not None
    assert found["trigger_count"] == 2
    assert found["status"] == "resolved"
    assert timeline_of(tenant, key) == [
        "triggered",
        "notified",
        "retriggered",
        "acknowledged",
        "resolved",
        "notified",
    ]


def test_enqueue_answers_as_pagerduty_does_for_bad_events_and_keys(
    stack: Stack, tenant: Api
) -> None:
    routing_key = tenant.request("POST", "/v1/integrations", json={"kind": "pagerduty"}).json()[
        "routing_key"
    ]
    enqueue = f"{stack.api_url}/v2/enqueue"
    cases = [
        {"routing_key": routing_key, "event_action": "trigger"},
        {"routing_key": routing_key, "event_action": "trigger", "payload": {"summary": "x"}},
        {"routing_key": routing_key, "event_action": "explode", "dedup_key": "k"},
        {"routing_key": routing_key, "event_action": "resolve"},
        {"routing_key": "0" * 32, "event_action": "resolve", "dedup_key": "k"},
    ]
    for body in cases:
        response = requests.post(enqueue, json=body, timeout=10)
        assert response.status_code == 400, (body, response.text)
        answer = response.json()
        assert answer["status"] == "invalid event"
        assert answer["message"] == "Event object is invalid"
        assert answer["errors"]
    not_json = requests.post(enqueue, data=b"{", timeout=10)
    assert not_json.status_code == 400
    assert not_json.json()["status"] == "invalid event"
    # an acknowledge of a key nobody triggered changes nothing, as on PagerDuty
    unknown = requests.post(
        enqueue,
        json={"routing_key": routing_key, "event_action": "acknowledge", "dedup_key": "nope"},
        timeout=10,
    )
    assert unknown.status_code == 202
    assert unknown.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "nope",
    }
    assert requests.get(enqueue, timeout=10).status_code == 405


@pytest.fixture
def alertmanager(stack: Stack, tenant: Api, tmp_path: Path) -> Iterator[Alertmanager]:
    binary = alertmanager_binary()
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed and cannot be here (not root?)")
    manager = Alertmanager(
        binary,
        tmp_path / "alertmanager",
        webhook_url=f"{stack.api_url}/v1/integrations/alertmanager?topic=ops.am",
        api_key=tenant.key,
    )
    yield manager
    manager.stop()


def test_a_real_alertmanager_fires_and_resolves_through_its_webhook(
    tenant: Api, alertmanager: Alertmanager
) -> None:
    name = unique("HighLatency")
    labels = {"alertname": name, "severity": "warning", "instance": "web-1:9100"}
    # WHEN Alertmanager gets a firing alert
    alertmanager.post_alerts(
        [{"labels": labels, "annotations": {"summary": "p99 latency above 2 s"}}]
    )

    # THEN Tocsin has it, keyed by its fingerprint, labels and annotations kept
    def firing() -> dict[str, Any] | None:
        for item in tenant.request("GET", "/v1/alerts", params={"limit": 100}).json()["items"]:
            if item["labels"].get("alertname") == name:
                return dict(item)
        return None

    found = poll(firing, timeout=60, what="the alert from Alertmanager")
    assert found["summary"] == "p99 latency above 2 s"
    assert found["severity"] == "warning"
    assert found["topic"] == "ops.am"
    assert found["labels"] == labels
    assert found["details"]["annotations"] == {"summary": "p99 latency above 2 s"}
    assert len(found["dedup_key"]) == 16
    # WHEN it ends
    ended = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alertmanager.post_alerts(
        [
            {
                "labels": labels,
                "annotations": {"summary": "p99 latency above 2 s"},
                "endsAt": ended,
            }
        ]
    )
    # THEN the resolve reaches Tocsin (send_resolved) and the alert resolves
    resolved = poll(
        lambda: (item := firing()) and item["status"] == "resolved" and item,
        timeout=60,
        what="the resolve from Alertmanager",
    )
    assert [entry["type"] for entry in resolved["timeline"]][-1] == "resolved"
    assert "Alertmanager" in resolved["timeline"][0]["detail"]


def test_a_revoked_integration_stops_working(stack: Stack, tenant: Api, tenant_name: str) -> None:
    integration = create_integration(stack, tenant_name, "pagerduty", "ops.revoked")
    listed = [
        json.loads(line)
        for line in stack.cli("integrations", "list", "--tenant", tenant_name).stdout.splitlines()
    ]
    assert integration["id"] in [item["id"] for item in listed]
    assert all("routing_key" not in item for item in listed)
    stack.cli("integrations", "revoke", integration["id"])
    refused = requests.post(
        f"{stack.api_url}/v2/enqueue",
        json={
            "routing_key": integration["routing_key"],
            "event_action": "resolve",
            "dedup_key": "k",
        },
        timeout=10,
    )
    assert refused.status_code == 400
