"""Alerts over real HTTP on the local stack: dedup under concurrent triggers, the timeline,
escalation that stops at an acknowledge, a silence that ends while its alert fires, the
acknowledge link, rate limits (api.md: Alerts, Integrations, Rate limits)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.harness import Api, Receiver, Stack, poll, receiver


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def keys(stack: Stack) -> tuple[str, str]:
    """A tenant of the module's own: key, webhook secret. Each test alerts a topic of its own."""
    return stack.new_tenant(unique("alerts"))


@pytest.fixture
def tenant(stack: Stack, keys: tuple[str, str]) -> Api:
    return stack.client(keys[0])


@pytest.fixture
def hook(keys: tuple[str, str]) -> Iterator[Receiver]:
    with receiver(keys[1]) as instance:
        yield instance


@pytest.fixture
def topic() -> str:
    return unique("alerts")


def on_call(tenant: Api, hook: Receiver, *names: str, topic: str) -> None:
    for name in names:
        assert tenant.put_recipient(name, webhook_url=hook.url).status_code == 200
        subscription = tenant.request(
            "PUT",
            f"/v1/subscriptions/{unique('s')}",
            json={"recipient_id": name, "pattern": topic, "channels": ["webhook"]},
        )
        assert subscription.status_code == 200, subscription.text


def event(tenant: Api, **body: Any) -> dict[str, Any]:
    response = tenant.request("POST", "/v1/alerts/events", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "success"
    return dict(response.json())


def alert(tenant: Api, alert_id: str) -> dict[str, Any]:
    response = tenant.request("GET", f"/v1/alerts/{alert_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def webhooks_to(hook: Receiver, alert_id: str) -> list[dict[str, Any]]:
    """The webhooks received for an alert, in order of arrival."""
    return [
        item.body
        for item in list(hook.received)
        if item.body.get("alert", {}).get("id") == alert_id
    ]


def test_a_hundred_triggers_of_one_key_make_one_alert_and_one_notification(
    tenant: Api, hook: Receiver, topic: str
) -> None:
    # GIVEN two people on call for a topic
    on_call(tenant, hook, "alice", "bob", topic=topic)
    key = unique("disk")
    # WHEN 100 triggers of one dedup_key arrive, eight at a time
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(
                lambda n: event(
                    tenant, action="trigger", dedup_key=key, summary=f"Disk full ({n})", topic=topic
                ),
                range(100),
            )
        )
    # THEN one alert, counted 100 times, with its timeline
    [alert_id] = {reply["alert_id"] for reply in replies}
    found = alert(tenant, alert_id)
    assert found["trigger_count"] == 100
    types = [entry["type"] for entry in found["timeline"]]
    assert types.count("triggered") == 1
    assert types.count("retriggered") == 99
    assert types.count("notified") == 1
    # AND each subscriber gets exactly one notification
    poll(lambda: len(webhooks_to(hook, alert_id)) >= 2, timeout=30, what="two webhooks")
    time.sleep(1.0)  # nothing more may come: let any straggler arrive before counting
    bodies = webhooks_to(hook, alert_id)
    assert len(bodies) == 2
    assert {body["id"] for body in bodies} == {found["notifications"][0]["notification_id"]}
    assert bodies[0]["alert"]["dedup_key"] == key
    assert bodies[0]["alert"]["status"] == "triggered"
    listed = tenant.request("GET", "/v1/alerts", params={"status": "triggered"}).json()
    [item] = [item for item in listed["items"] if item["id"] == alert_id]
    assert item["timeline"] == found["timeline"]


def test_the_acknowledge_link_shows_a_page_and_only_a_post_acknowledges(
    tenant: Api, hook: Receiver, topic: str
) -> None:
    on_call(tenant, hook, "alice", topic=topic)
    created = event(
        tenant, action="trigger", summary="<b>CPU</b> hot", severity="warning", topic=topic
    )
    alert_id = created["alert_id"]
    [body] = poll(lambda: webhooks_to(hook, alert_id), timeout=30, what="the alert webhook")
    ack_url = body["alert"]["ack_url"]
    # WHEN a link scanner fetches the link
    page = requests.get(ack_url, timeout=10, allow_redirects=False)
    # THEN it sees a page with one button, and nothing is acknowledged
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.text.count("<button") == 1
    assert "&lt;b&gt;CPU&lt;/b&gt; hot" in page.text
    assert alert(tenant, alert_id)["status"] == "triggered"
    # WHEN the button is pressed
    pressed = requests.post(ack_url, timeout=10, allow_redirects=False)
    assert pressed.status_code == 200
    acknowledged = alert(tenant, alert_id)
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["timeline"][-1]["type"] == "acknowledged"
    # AND a forged link acknowledges nothing
    claims, signature = ack_url.rsplit("/", 1)[1].split(".")
    forged = ack_url.rsplit("/", 1)[0] + f"/{claims}.{'A' * len(signature)}"
    refused = requests.post(forged, timeout=10)
    assert refused.status_code == 404
    assert refused.headers["Content-Type"].startswith("application/problem+json")


def test_an_escalation_stops_within_one_step_of_an_acknowledge(tenant: Api, hook: Receiver) -> None:
    # GIVEN a policy of three steps, 4 s apart, to three people
    for name in ("first", "second", "third"):
        assert tenant.put_recipient(name, webhook_url=hook.url).status_code == 200
    policy = {
        "steps": [
            {"delay_seconds": 0, "targets": [{"recipient_id": "first"}]},
            {"delay_seconds": 4, "targets": [{"recipient_id": "second"}]},
            {"delay_seconds": 4, "targets": [{"recipient_id": "third"}]},
        ]
    }
    assert tenant.request("PUT", "/v1/escalation-policies/db", json=policy).status_code == 200
    # WHEN an alert names it, and is acknowledged once step 2 arrives
    alert_id = event(tenant, action="trigger", summary="Replication lag", escalation_policy="db")[
        "alert_id"
    ]
    poll(lambda: len(webhooks_to(hook, alert_id)) >= 2, timeout=30, what="step 2")
    acknowledged = tenant.request("POST", f"/v1/alerts/{alert_id}/acknowledge")
    assert acknowledged.status_code == 200
    # THEN step 3 never comes (waited well past its delay)
    time.sleep(8)
    assert [body["title"] for body in webhooks_to(hook, alert_id)] == ["Replication lag"] * 2
    timeline = [entry["type"] for entry in alert(tenant, alert_id)["timeline"]]
    assert timeline == ["triggered", "notified", "escalated", "acknowledged"]
    # AND acknowledging again is fine, resolving is once, acting on the resolved is 409
    assert tenant.request("POST", f"/v1/alerts/{alert_id}/acknowledge").status_code == 200
    assert tenant.request("POST", f"/v1/alerts/{alert_id}/resolve").status_code == 200
    conflict = tenant.request("POST", f"/v1/alerts/{alert_id}/resolve")
    assert conflict.status_code == 409
    assert conflict.headers["Content-Type"].startswith("application/problem+json")


def test_a_silence_that_ends_while_its_alert_fires_notifies_exactly_once(
    tenant: Api, hook: Receiver, topic: str
) -> None:
    on_call(tenant, hook, "alice", topic=topic)
    # GIVEN a silence of db-1 ending in 8 s
    ends_at = datetime.now(UTC) + timedelta(seconds=8)
    silence = tenant.request(
        "POST",
        "/v1/silences",
        json={
            "matchers": [
                {"name": "host", "value": "db-[0-9]+", "is_regex": True},
                {"name": "team", "value": topic},
            ],
            "ends_at": ends_at.isoformat().replace("+00:00", "Z"),
            "comment": "maintenance",
        },
    )
    assert silence.status_code == 201, silence.text
    assert silence.json()["status"] == "active"
    # WHEN an alert of db-1 fires during it
    alert_id = event(
        tenant,
        action="trigger",
        summary="db-1 down",
        labels={"host": "db-1", "team": topic},
        topic=topic,
    )["alert_id"]
    # THEN nobody hears of it while it lasts
    assert [entry["type"] for entry in alert(tenant, alert_id)["timeline"]][:2] == [
        "triggered",
        "silenced",
    ]
    time.sleep(max(0.0, (ends_at - datetime.now(UTC)).total_seconds() - 1.0))
    assert webhooks_to(hook, alert_id) == []
    # AND exactly one notification goes once it ends, the alert still firing
    poll(lambda: webhooks_to(hook, alert_id), timeout=30, what="the notification after it")
    time.sleep(2.0)
    assert len(webhooks_to(hook, alert_id)) == 1
    [notified] = [e for e in alert(tenant, alert_id)["timeline"] if e["type"] == "notified"]
    assert datetime.fromisoformat(notified["at"]) >= ends_at - timedelta(milliseconds=1)
    listed = tenant.request("GET", "/v1/silences").json()
    [ended] = [item for item in listed["items"] if item["id"] == silence.json()["id"]]
    assert ended["status"] == "expired"


def test_a_resolve_notifies_those_who_were_notified(
    tenant: Api, hook: Receiver, topic: str
) -> None:
    on_call(tenant, hook, "alice", topic=topic)
    key = unique("api")
    alert_id = event(tenant, action="trigger", dedup_key=key, summary="API errors", topic=topic)[
        "alert_id"
    ]
    poll(lambda: webhooks_to(hook, alert_id), timeout=30, what="the trigger's webhook")
    event(tenant, action="resolve", dedup_key=key)
    poll(lambda: len(webhooks_to(hook, alert_id)) >= 2, timeout=30, what="the resolution's")
    bodies = webhooks_to(hook, alert_id)
    assert [body["alert"]["status"] for body in bodies] == ["triggered", "resolved"]
    assert bodies[1]["title"] == "Resolved: API errors"
    # a trigger after the resolve opens a new alert under the key
    again = event(tenant, action="trigger", dedup_key=key, summary="API errors", topic=topic)
    assert again["alert_id"] != alert_id
    # acknowledging an unknown key changes nothing
    unknown = event(tenant, action="acknowledge", dedup_key=unique("nothing"))
    assert unknown["alert_id"] is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"action": "trigger"}, ["body", "summary"]),
        ({"action": "acknowledge"}, ["body", "dedup_key"]),
        ({"action": "page", "summary": "x"}, ["body", "action"]),
        ({"action": "trigger", "summary": "x", "severity": "loud"}, ["body", "severity"]),
        ({"action": "trigger", "summary": "x", "dedup_key": "k" * 256}, ["body", "dedup_key"]),
        (
            {"action": "trigger", "summary": "x", "escalation_policy": "none"},
            ["body", "escalation_policy"],
        ),
        ({"action": "trigger", "summary": "x", "extra": 1}, ["body", "extra"]),
    ],
)
def test_a_bad_alert_event_is_422_at_its_field(
    api: Api, body: dict[str, Any], loc: list[Any]
) -> None:
    response = api.request("POST", "/v1/alerts/events", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert any(error["loc"] == loc for error in response.json()["errors"]), response.text
