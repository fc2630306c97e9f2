"""Preferences, scheduling, quiet hours, cancel, templates and digests: api.md's sections over
real HTTP on the local stack (its short windows: deliver_at within 5 s, digests as given)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from tests.harness import Api, Receiver, Stack, poll


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def recipient(api: Api, hook: Receiver, **fields: Any) -> str:
    rid = unique()
    response = api.put_recipient(rid, webhook_url=hook.url, **fields)
    assert response.status_code == 200, response.text
    return rid


def delivery_of(notification: dict[str, Any], channel: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [d for d in notification["deliveries"] if d["channel"] == channel]
    return found[0]


def test_preferences_are_typed_and_opted_out_channels_skipped(api: Api, hook: Receiver) -> None:
    # GIVEN a recipient who turns the webhook off for one category
    rid = recipient(api, hook)
    path = f"/v1/recipients/{rid}/preferences"
    preferences = {"categories": {"billing": {"channels": {"webhook": False}}}}
    assert api.request("PUT", path, json=preferences).json() == preferences
    assert api.request("GET", path).json() == preferences
    bad = api.request("PUT", path, json={"channels": {"pigeon": True}, "colour": "red"})
    assert bad.status_code == 422
    assert ["body", "colour"] in [e["loc"] for e in bad.json()["errors"]]
    zone = api.request(
        "PUT", path, json={"quiet_hours": {"start": "22:00", "end": "7:00", "tz": "X"}}
    )
    assert zone.status_code == 422
    # WHEN a billing and an ops notification come
    billing = api.notify(recipient_id=rid, category="billing").json()["id"]
    ops = api.notify(recipient_id=rid, category="ops").json()["id"]
    # THEN the billing webhook is skipped as opted out, the ops one delivered
    skipped = delivery_of(api.notification(billing), "webhook")
    assert (skipped["status"], skipped["reason"]) == ("skipped", "opted_out")
    assert api.wait_final(ops)["status"] == "delivered"
    # AND a tenant default marks billing required: it passes the recipient's opt-out
    tenant = {"categories": {"billing": {"required": True}}}
    assert api.request("PUT", "/v1/preferences", json=tenant).json() == tenant
    try:
        required = api.notify(recipient_id=rid, category="billing").json()["id"]
        assert api.wait_final(required)["status"] == "delivered"
    finally:
        api.request("PUT", "/v1/preferences", json={})


def test_deliver_at_holds_the_notification_until_then_and_sends_within_5_s(
    api: Api, hook: Receiver
) -> None:
    # GIVEN a notification for 3 s from now
    rid = recipient(api, hook)
    at = datetime.now(UTC) + timedelta(seconds=3)
    created = api.notify(recipient_id=rid, deliver_at=rfc3339(at))
    assert created.status_code == 202, created.text
    notification = api.notification(created.json()["id"])
    # THEN it is scheduled, each delivery with its reason
    assert notification["status"] == "scheduled"
    assert notification["delivery_counts"]["scheduled"] == 2
    webhook = delivery_of(notification, "webhook")
    assert (webhook["status"], webhook["reason"]) == ("scheduled", "deliver_at")
    # WHEN the time comes, it is sent: not before, and soon after (api.md: within 5 s locally;
    # the bound here is generous, for a machine under load)
    [received] = poll(
        lambda: hook.for_notification(notification["id"]), timeout=30, what="the webhook"
    )
    arrived = datetime.now(UTC)
    assert at - timedelta(milliseconds=50) <= arrived <= at + timedelta(seconds=15)
    assert api.wait_final(notification["id"])["status"] == "delivered"
    assert received.body["id"] == notification["id"]


def test_deliver_at_is_future_and_at_most_a_year_ahead(api: Api, hook: Receiver) -> None:
    rid = recipient(api, hook)
    now = datetime.now(UTC)
    for moment in (now - timedelta(seconds=1), now + timedelta(days=366)):
        response = api.notify(recipient_id=rid, deliver_at=rfc3339(moment))
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "deliver_at"]
    ahead = api.notify(recipient_id=rid, deliver_at=rfc3339(now + timedelta(days=364)))
    assert ahead.status_code == 202


def test_cancel_skips_what_was_not_attempted(api: Api, hook: Receiver) -> None:
    rid = recipient(api, hook)
    later = rfc3339(datetime.now(UTC) + timedelta(minutes=5))
    notification_id = api.notify(recipient_id=rid, deliver_at=later).json()["id"]
    cancelled = api.request("POST", f"/v1/notifications/{notification_id}/cancel")
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert {(d["status"], d["reason"]) for d in body["deliveries"]} == {("skipped", "cancelled")}
    again = api.request("POST", f"/v1/notifications/{notification_id}/cancel")
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
    missing = api.request("POST", "/v1/notifications/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel")
    assert missing.status_code == 404


def test_quiet_hours_hold_a_notification_with_their_reason(api: Api, hook: Receiver) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    quiet = {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "tz": "UTC"}
    rid = recipient(api, hook, preferences={"quiet_hours": quiet})
    held = api.notify(recipient_id=rid).json()["id"]
    webhook = delivery_of(api.notification(held), "webhook")
    assert (webhook["status"], webhook["reason"]) == ("scheduled", "quiet_hours")
    critical = api.notify(recipient_id=rid, severity="critical").json()["id"]
    assert api.wait_final(critical)["status"] == "delivered"


def test_templates_render_at_acceptance_and_refuse_what_cannot_render(
    api: Api, hook: Receiver
) -> None:
    # GIVEN a template
    name = unique("tpl")
    template = {
        "title": "{{ data.host }} at {{ data.percent }}%",
        "body": "Hi {{ recipient.name }}",
        "email": {"html": "<p>{{ data.note }}</p>"},
        "sms": {"text": "{{ data.host }}"},
    }
    assert api.request("PUT", f"/v1/templates/{name}", json=template).status_code == 200
    broken = api.request("PUT", f"/v1/templates/{unique('tpl')}", json={"title": "{% if %}"})
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["loc"] == ["body", "title"]
    rid = recipient(api, hook, name="Alice")
    # WHEN a notification names it with its data
    data = {"host": "db-1", "percent": 93, "note": "<b>x</b>"}
    created = api.notify(recipient_id=rid, template=name, data=data, title=None)
    # THEN the webhook carries the rendered parts
    body = {key: value for key, value in created.json().items()}
    assert created.status_code == 202, created.text
    assert (body["title"], body["body"], body["template"]) == ("db-1 at 93%", "Hi Alice", name)
    assert body["email"]["html"] == "<p>&lt;b&gt;x&lt;/b&gt;</p>"
    [received] = poll(lambda: hook.for_notification(body["id"]), what="the webhook")
    assert received.body["title"] == "db-1 at 93%"
    # AND one that cannot render is 422 and nothing is accepted
    before = len(
        api.request("GET", "/v1/notifications", params={"recipient_id": rid}).json()["items"]
    )
    refused = api.notify(recipient_id=rid, template=name, data={"host": "db-1"}, title=None)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "template"]
    after = len(
        api.request("GET", "/v1/notifications", params={"recipient_id": rid}).json()["items"]
    )
    assert after == before
    unknown = api.notify(recipient_id=rid, template=unique("none"), title=None)
    assert unknown.status_code == 422
    # AND the preview shows what each channel sends
    preview = api.request(
        "POST", f"/v1/templates/{name}/preview", json={"data": data, "recipient_id": rid}
    )
    assert preview.status_code == 200
    assert preview.json()["sms"] == {"text": "db-1"}
    assert preview.json()["email"]["subject"] == "db-1 at 93%"
    listed = api.request("GET", "/v1/templates").json()["items"]
    assert name in [item["name"] for item in listed]
    assert api.request("DELETE", f"/v1/templates/{name}").status_code == 204
    assert api.request("GET", f"/v1/templates/{name}").status_code == 404


def test_50_concurrent_notifications_with_one_key_make_one_digest_per_channel(
    api: Api, hook: Receiver
) -> None:
    # GIVEN 50 notifications sent at once under one digest key
    rid = recipient(api, hook)
    window_seconds = 15
    digest = {"key": unique("k"), "window_seconds": window_seconds}

    def send(index: int) -> str:
        response = api.notify(recipient_id=rid, title=f"event {index}", digest=digest)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        accepted = list(pool.map(send, range(50)))
    sending = time.monotonic() - started
    # THEN each is skipped as digested
    windows: dict[str, list[str]] = {}
    for notification_id in accepted:
        notification = api.notification(notification_id)
        assert {d["reason"] for d in notification["deliveries"]} == {"digested"}
        windows.setdefault(notification["digest"]["digest_id"], []).append(notification_id)
    # WHEN the window ends, one webhook lists every notification of it, and one inbox item
    for window, members in windows.items():
        [received] = poll(partial(hook.for_notification, window), timeout=60, what="digest")
        assert (received.body["type"], received.body["key"]) == ("digest", digest["key"])
        assert sorted(item["id"] for item in received.body["items"]) == sorted(members)
        sent = api.wait_final(window)
        assert sent["digest"]["notification_ids"] == sorted(members)
        assert [d["channel"] for d in sent["deliveries"]] == ["webhook", "inbox"]
    inbox = api.request("GET", f"/v1/recipients/{rid}/inbox").json()["items"]
    assert sorted(item["notification_id"] for item in inbox) == sorted(windows)
    # AND all 50, sent well within the window, went into one window: one digest per channel
    if sending < window_seconds - 5:
        assert len(windows) == 1
    digests = [
        r for r in hook.received if r.body.get("type") == "digest" and r.body["id"] in windows
    ]
    assert len(digests) == len(windows)


def runner_pid(stack: Stack) -> int | None:
    """The trigger runner's pid (None while a new one is writing its file)."""
    try:
        return int(json.loads((stack.state_dir / "runner.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_a_scheduled_notification_survives_the_runner_killed_in_between(
    stack: Stack, api: Api, hook: Receiver
) -> None:
    # GIVEN a notification scheduled a little ahead
    rid = recipient(api, hook)
    at = datetime.now(UTC) + timedelta(seconds=20)
    notification_id = api.notify(recipient_id=rid, deliver_at=rfc3339(at)).json()["id"]
    # WHEN the trigger runner is killed outright and the supervisor starts another
    killed = runner_pid(stack)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    poll(lambda: runner_pid(stack) not in (None, killed), timeout=30, what="a new runner")
    # THEN the notification is still delivered once its time has come
    [received] = poll(lambda: hook.for_notification(notification_id), timeout=60, what="it")
    assert received.received_at > 0
    assert datetime.now(UTC) >= at
    assert api.wait_final(notification_id)["status"] == "delivered"
