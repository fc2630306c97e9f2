"""Delivery over the whole stack: retries, permanent failures, dead letters, email and SMS."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from tests.harness import Api, Delivery, Receiver, Stack, poll


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def answers(
    *statuses: int, headers: dict[str, str] | None = None
) -> Callable[[Delivery], Response]:
    """A responder giving ``statuses`` in turn, then 200 for good."""
    remaining = list(statuses)
    lock = threading.Lock()

    def respond(_: Delivery) -> Response:
        with lock:
            status = remaining.pop(0) if remaining else 200
        return Response("", status=status, headers=headers if status != 200 else None)

    return respond


def webhook_of(notification: dict[str, Any]) -> dict[str, Any]:
    return next(item for item in notification["deliveries"] if item["channel"] == "webhook")


def test_a_transient_failure_is_retried_with_the_same_webhook_id(api: Api, hook: Receiver) -> None:
    hook.respond = answers(503)
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(recipient_id=rid, channels=["webhook"]).json()
    final = api.wait_final(created["id"])
    assert final["status"] == "delivered"
    assert webhook_of(final)["attempts"] == 2
    received = hook.for_notification(created["id"])
    assert len(received) == 2
    assert received[0].webhook_id == received[1].webhook_id
    assert received[1].received_at - received[0].received_at < 2.0
    assert hook.bad_signatures == 0


def test_retry_after_sets_the_next_attempt(api: Api, hook: Receiver) -> None:
    hook.respond = answers(429, headers={"Retry-After": "3"})
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(recipient_id=rid, channels=["webhook"]).json()
    api.wait_final(created["id"])
    first, second = hook.for_notification(created["id"])
    gap = int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"])
    assert gap >= 2, gap


def test_410_fails_at_once_and_retry_delivers_it_once(api: Api, hook: Receiver) -> None:
    hook.respond = answers(410)
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(recipient_id=rid, channels=["webhook", "inbox"]).json()
    final = api.wait_final(created["id"])
    assert final["status"] == "partially_delivered"
    webhook = webhook_of(final)
    assert webhook["status"] == "failed"
    assert webhook["attempts"] == 1
    assert "410" in str(webhook["last_error"])
    letters = api.request("GET", "/v1/dead-letters").json()["items"]
    letter = next(item for item in letters if item["notification_id"] == created["id"])
    assert letter == {
        "notification_id": created["id"],
        "channel": "webhook",
        "recipient_id": rid,
        "attempts": 1,
        "last_error": "HTTP 410",
        "failed_at": webhook["failed_at"],
    }

    retried = api.request("POST", f"/v1/notifications/{created['id']}/retry")
    assert retried.status_code == 202
    assert retried.json() == {"id": created["id"], "retried": 1}
    final = api.wait_final(created["id"])
    assert final["status"] == "delivered"
    assert len(hook.for_notification(created["id"])) == 2
    letters = api.request("GET", "/v1/dead-letters").json()["items"]
    assert all(item["notification_id"] != created["id"] for item in letters)
    again = api.request("POST", f"/v1/notifications/{created['id']}/retry")
    assert again.json() == {"id": created["id"], "retried": 0}


def test_a_redirect_is_not_followed_and_fails(api: Api, hook: Receiver) -> None:
    hook.respond = lambda _: Response("", status=302, headers={"Location": "http://127.0.0.1:9/x"})
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(recipient_id=rid, channels=["webhook"]).json()
    final = api.wait_final(created["id"])
    assert final["status"] == "failed"
    assert len(hook.for_notification(created["id"])) == 1


def tenant_client(stack: Stack, hook: Receiver, tenant: str | None = None) -> Api:
    key, secret = stack.new_tenant(tenant or unique("t"))
    hook.secret = secret
    return stack.client(key)


def test_always_failing_webhook_ends_failed_and_redrive_delivers_once(
    stack: Stack, hook: Receiver
) -> None:
    api = tenant_client(stack, hook)
    broken = threading.Event()
    broken.set()
    hook.respond = lambda _: Response("", status=500 if broken.is_set() else 200)
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(recipient_id=rid, channels=["webhook"]).json()
    final = api.wait_final(created["id"], timeout=90)
    assert final["status"] == "failed"
    attempts = webhook_of(final)["attempts"]
    assert attempts >= 8
    assert len(hook.for_notification(created["id"])) == attempts
    created_at = datetime.fromisoformat(final["created_at"])
    failed_at = datetime.fromisoformat(str(webhook_of(final)["failed_at"]))
    assert (failed_at - created_at).total_seconds() < 60
    letters = api.request("GET", "/v1/dead-letters").json()["items"]
    assert [item["notification_id"] for item in letters] == [created["id"]]

    broken.clear()
    redriven = api.request("POST", "/v1/dead-letters/redrive", json={})
    assert redriven.status_code == 202
    assert redriven.json() == {"redriven": 1}
    assert api.wait_final(created["id"])["status"] == "delivered"
    assert len(hook.for_notification(created["id"])) == attempts + 1
    assert api.request("GET", "/v1/dead-letters").json()["items"] == []


def test_redrive_filters_by_channel(stack: Stack, hook: Receiver) -> None:
    api = tenant_client(stack, hook)
    hook.respond = answers(410)
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(recipient_id=rid, channels=["webhook"]).json()
    api.wait_final(created["id"])
    assert api.request("POST", "/v1/dead-letters/redrive", json={"channel": "email"}).json() == {
        "redriven": 0
    }
    assert api.request(
        "POST", "/v1/dead-letters/redrive", json={"channel": "webhook", "recipient_id": rid}
    ).json() == {"redriven": 1}


def test_email_and_sms_are_sent_and_visible_in_the_outbox(stack: Stack, api: Api) -> None:
    rid = unique()
    address = f"{rid}@example.com"
    api.put_recipient(rid, email=address, phone="+14155550123")
    created = api.notify(
        recipient_id=rid, title=f"Hello {rid}", body="db-1 at 93%", severity="critical"
    ).json()
    final = api.wait_final(created["id"])
    assert {item["channel"]: item["status"] for item in final["deliveries"]} == {
        "email": "delivered",
        "sms": "delivered",
        "inbox": "delivered",
    }
    outbox = json.loads(stack.cli("outbox", "--json").stdout)
    emails = [item for item in outbox if item["channel"] == "email" and item["to"] == address]
    assert len(emails) == 1
    assert emails[0]["subject"] == f"[CRITICAL] Hello {rid}"
    assert datetime.fromisoformat(emails[0]["time"]) >= datetime.fromisoformat(
        created["created_at"]
    )
    texts = [item for item in outbox if item["channel"] == "sms" and rid in str(item.get("body"))]
    assert len(texts) == 1
    assert texts[0]["to"] == "+14155550123"
    assert texts[0]["time"]
    table = stack.cli("outbox").stdout
    assert address in table


def test_dlq_cli_lists_and_redrives(stack: Stack, hook: Receiver) -> None:
    tenant = unique("t")
    api = tenant_client(stack, hook, tenant)
    hook.respond = answers(410)
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(recipient_id=rid, channels=["webhook"]).json()
    api.wait_final(created["id"])
    listed = [
        json.loads(line)
        for line in stack.cli("dlq", "list", "--tenant", tenant).stdout.splitlines()
    ]
    assert [item["notification_id"] for item in listed] == [created["id"]]
    redriven = json.loads(stack.cli("dlq", "redrive", "--tenant", tenant).stdout)
    assert redriven == {"redriven": 1}
    poll(
        lambda: api.notification(created["id"])["status"] == "delivered",
        timeout=30,
        what="redriven delivery",
    )
