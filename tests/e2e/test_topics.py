"""Topics and subscriptions, deliveries of a notification, endpoint health: api.md's sections
over real HTTP on the local stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Response

from tests.harness import Api, Receiver, Stack, poll, receiver

COUNT_KEYS = {"pending", "retrying", "delivered", "failed", "skipped", "scheduled"}


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def tenant_keys(stack: Stack) -> tuple[str, str]:
    """A tenant of its own (topics reach every subscription of a tenant): key, secret."""
    return stack.new_tenant(unique("topics"))


@pytest.fixture
def tenant(stack: Stack, tenant_keys: tuple[str, str]) -> Api:
    return stack.client(tenant_keys[0])


@pytest.fixture
def tenant_hook(tenant_keys: tuple[str, str]) -> Iterator[Receiver]:
    with receiver(tenant_keys[1]) as instance:
        yield instance


def subscribe(api: Api, recipient: str, pattern: str, **fields: Any) -> str:
    subscription_id = unique("s")
    response = api.request(
        "PUT",
        f"/v1/subscriptions/{subscription_id}",
        json={"recipient_id": recipient, "pattern": pattern, **fields},
    )
    assert response.status_code == 200, response.text
    return subscription_id


def every(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 2, **params}
    while True:
        page = api.request("GET", path, params=query).json()
        items += page["items"]
        if page["next"] is None:
            return items
        query["cursor"] = page["next"]


def wait_final(api: Api, notification_id: str, timeout: float = 30.0) -> dict[str, Any]:
    final = {"delivered", "partially_delivered", "failed", "skipped", "cancelled"}

    def check() -> dict[str, Any] | None:
        notification = api.notification(notification_id)
        return notification if notification["status"] in final else None

    return poll(check, timeout=timeout, what=f"notification {notification_id} final")


def test_a_subscription_is_put_read_listed_and_deleted(tenant: Api) -> None:
    tenant.put_recipient("alice")
    body = {
        "recipient_id": "alice",
        "pattern": "ops.*.disk",
        "min_severity": "warning",
        "categories": ["ops"],
        "channels": ["inbox"],
    }
    put = tenant.request("PUT", "/v1/subscriptions/disk-alerts", json=body)
    assert put.status_code == 200
    stored = put.json()
    assert {key: stored[key] for key in body} == body
    assert stored["subscription_id"] == "disk-alerts"
    assert "created_at" in stored
    assert tenant.request("GET", "/v1/subscriptions/disk-alerts").json() == stored
    listed = tenant.request("GET", "/v1/subscriptions", params={"recipient_id": "alice"}).json()
    assert [item["subscription_id"] for item in listed["items"]] == ["disk-alerts"]
    by_pattern = tenant.request("GET", "/v1/subscriptions", params={"pattern": "ops.#"}).json()
    assert by_pattern["items"] == []
    assert tenant.request("DELETE", "/v1/subscriptions/disk-alerts").status_code == 204
    assert tenant.request("GET", "/v1/subscriptions/disk-alerts").status_code == 404
    assert tenant.request("DELETE", "/v1/subscriptions/disk-alerts").status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"recipient_id": "nobody", "pattern": "ops.#"}, ["body", "recipient_id"]),
        ({"recipient_id": "alice", "pattern": "ops..db"}, ["body", "pattern"]),
        ({"recipient_id": "alice", "pattern": "ops.d*"}, ["body", "pattern"]),
        (
            {"recipient_id": "alice", "pattern": "ops", "min_severity": "loud"},
            ["body", "min_severity"],
        ),
        ({"recipient_id": "alice", "pattern": "ops", "channels": ["fax"]}, ["body", "channels", 0]),
        ({"recipient_id": "alice", "pattern": "ops", "extra": 1}, ["body", "extra"]),
    ],
)
def test_a_bad_subscription_is_422_at_its_field(
    tenant: Api, body: dict[str, Any], loc: list[Any]
) -> None:
    tenant.put_recipient("alice")
    response = tenant.request("PUT", "/v1/subscriptions/s1", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert any(error["loc"] == loc for error in response.json()["errors"]), response.text


def test_a_topic_reaches_each_matching_recipient_once_per_channel(
    tenant: Api, tenant_hook: Receiver
) -> None:
    hook = tenant_hook
    # GIVEN subscribers whose patterns match ops.db.disk (several of them for one recipient),
    # one filtered out by severity and one by pattern
    tenant.put_recipient("alice", webhook_url=hook.url)
    tenant.put_recipient("bob")
    tenant.put_recipient("carol", webhook_url=hook.url)
    tenant.put_recipient("dave")
    first = subscribe(tenant, "alice", "ops.#")
    second = subscribe(tenant, "alice", "*.db.disk")
    third = subscribe(tenant, "alice", "ops.db.disk", channels=["inbox"])
    subscribe(tenant, "bob", "#", channels=["inbox"])
    subscribe(tenant, "carol", "ops.db.*", min_severity="critical")
    subscribe(tenant, "dave", "ops.web.#")
    subscribers = every(tenant, "/v1/topics/ops.db.disk/subscribers")
    assert [item["recipient_id"] for item in subscribers] == ["alice", "bob", "carol"]
    assert sorted(subscribers[0]["subscription_ids"]) == sorted([first, second, third])
    # WHEN a warning goes to the topic
    created = tenant.notify(topic="ops.db.disk", severity="warning")
    assert created.status_code == 202
    accepted = created.json()
    assert accepted["topic"] == "ops.db.disk"
    assert "deliveries" not in accepted
    assert set(accepted["delivery_counts"]) == COUNT_KEYS
    final = wait_final(tenant, accepted["id"])
    # THEN alice gets her webhook and inbox once each, bob his inbox; carol's filter and dave's
    # pattern keep them out
    assert final["status"] == "delivered"
    assert final["recipients"] == 2
    assert final["delivery_counts"] == {
        "pending": 0,
        "retrying": 0,
        "delivered": 3,
        "failed": 0,
        "skipped": 0,
        "scheduled": 0,
    }
    deliveries = every(tenant, f"/v1/notifications/{accepted['id']}/deliveries")
    assert sorted((d["recipient_id"], d["channel"], d["status"]) for d in deliveries) == [
        ("alice", "inbox", "delivered"),
        ("alice", "webhook", "delivered"),
        ("bob", "inbox", "delivered"),
    ]
    assert len(hook.for_notification(accepted["id"])) == 1
    inbox = tenant.request("GET", "/v1/recipients/bob/inbox").json()["items"]
    assert [item["notification_id"] for item in inbox] == [accepted["id"]]


def test_the_deliveries_route_filters_and_pages(tenant: Api) -> None:
    for index in range(5):
        tenant.put_recipient(f"r{index}", email=f"r{index}@example.com")
        subscribe(tenant, f"r{index}", "news.#")
    created = tenant.notify(topic="news.today").json()
    wait_final(tenant, created["id"])
    path = f"/v1/notifications/{created['id']}/deliveries"
    assert len(every(tenant, path)) == 10
    emails = every(tenant, path, channel="email")
    assert [d["recipient_id"] for d in emails] == [f"r{index}" for index in range(5)]
    assert every(tenant, path, recipient_id="r3", status="delivered") == [
        d for d in every(tenant, path) if d["recipient_id"] == "r3"
    ]
    assert every(tenant, path, status="failed") == []
    bad = tenant.request("GET", path, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert tenant.request("GET", path, params={"status": "lost"}).status_code == 422


def test_a_one_recipient_notification_has_both_its_inline_deliveries_and_the_route(
    tenant: Api,
) -> None:
    tenant.put_recipient("alice", email="alice@example.com")
    created = tenant.notify(recipient_id="alice").json()
    assert created["recipients"] == 1
    final = wait_final(tenant, created["id"])
    paged = every(tenant, f"/v1/notifications/{created['id']}/deliveries")
    assert sorted(d["channel"] for d in paged) == sorted(d["channel"] for d in final["deliveries"])
    assert final["delivery_counts"]["delivered"] == 2


def test_a_topic_nobody_matches_ends_skipped_with_zero_deliveries(tenant: Api) -> None:
    created = tenant.notify(topic="nobody.listens.here").json()
    final = wait_final(tenant, created["id"])
    assert final["status"] == "skipped"
    assert final["recipients"] == 0
    assert sum(final["delivery_counts"].values()) == 0
    assert every(tenant, f"/v1/notifications/{created['id']}/deliveries") == []


def test_a_skipped_delivery_says_why(tenant: Api) -> None:
    tenant.put_recipient("alice")
    created = tenant.notify(recipient_id="alice", channels=["email", "inbox"]).json()
    email = next(d for d in created["deliveries"] if d["channel"] == "email")
    assert email["status"] == "skipped"
    assert email["reason"] == "no_address"
    assert "email" in email["last_error"]


def test_topics_of_one_tenant_never_reach_another(stack: Stack, tenant: Api) -> None:
    tenant.put_recipient("alice")
    subscribe(tenant, "alice", "#")
    other_key, _ = stack.new_tenant(unique("other"))
    other = stack.client(other_key)
    assert other.request("GET", "/v1/topics/ops/subscribers").json()["items"] == []
    assert other.request("GET", f"/v1/subscriptions/{unique('s')}").status_code == 404
    created = other.notify(topic="ops").json()
    assert wait_final(other, created["id"])["status"] == "skipped"


@pytest.fixture(scope="module")
def health_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack that disables a webhook after 3 s of failures (the local stage's 60 s is the
    default; this setting is how a deployment changes it)."""
    started = Stack.start(
        Path(tmp_path_factory.mktemp("health")),
        env={"TOCSIN_ENDPOINT_DISABLE_AFTER_SECONDS": "3"},
    )
    yield started
    started.stop()


def test_a_failing_webhook_is_disabled_then_enabled_again(health_stack: Stack) -> None:
    api = health_stack.client()
    with receiver(health_stack.webhook_secret) as hook:
        # GIVEN a webhook that answers 500 to everything
        hook.respond = lambda _: Response("", status=500)
        recipient = unique("failing")
        api.put_recipient(recipient, webhook_url=hook.url)
        assert (
            api.request("GET", f"/v1/recipients/{recipient}").json()["webhook_status"] == "enabled"
        )

        # WHEN it keeps failing for longer than the period
        def disabled() -> dict[str, Any] | None:
            api.notify(recipient_id=recipient, channels=["webhook"])
            found = api.request("GET", f"/v1/recipients/{recipient}").json()
            return found if found["webhook_status"] == "disabled" else None

        found = poll(disabled, timeout=60, interval=1.0, what="the webhook disabled")
        assert "webhook_disabled_at" in found
        # THEN a new delivery to it is skipped with no attempt
        requests_before = len(hook.received)
        created = api.notify(recipient_id=recipient, channels=["webhook"]).json()
        webhook = created["deliveries"][0]
        assert (webhook["status"], webhook["reason"]) == ("skipped", "endpoint_disabled")
        # AND enabling it again delivers once the endpoint recovers
        hook.respond = lambda _: Response("", status=200)
        enable = api.request("POST", f"/v1/recipients/{recipient}/webhook/enable")
        assert enable.status_code == 204
        assert (
            api.request("GET", f"/v1/recipients/{recipient}").json()["webhook_status"] == "enabled"
        )
        later = api.notify(recipient_id=recipient, channels=["webhook"]).json()
        assert wait_final(api, later["id"])["status"] == "delivered"
        assert len(hook.for_notification(created["id"])) == 0
        assert len(hook.received) > requests_before


def test_enabling_an_unknown_recipient_is_404(api: Api) -> None:
    response = api.request("POST", f"/v1/recipients/{unique()}/webhook/enable")
    assert response.status_code == 404
    assert isinstance(response, requests.Response)
