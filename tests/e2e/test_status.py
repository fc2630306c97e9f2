"""`tocsin status`: queues (depth, in flight, dead letters) and functions (invocations, errors,
throttles, duration percentiles) of the running local cloud."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import Api, Receiver, Stack, poll


def test_status_shows_each_queue_and_the_functions_that_ran(
    stack: Stack, api: Api, hook: Receiver
) -> None:
    # GIVEN a notification delivered by webhook
    assert api.put_recipient("status-watcher", webhook_url=hook.url).status_code in (200, 201)
    sent = api.notify(recipient_id="status-watcher")
    assert sent.status_code == 202
    api.wait_final(sent.json()["id"])

    # WHEN the status is asked for, as JSON and as a table
    def status() -> dict[str, Any] | None:
        found: dict[str, Any] = json.loads(
            stack.cli("status", "--json", "--state-dir", str(stack.state_dir)).stdout
        )
        webhook = (found["functions"] or {}).get("deliver_webhook", {})
        return found if webhook.get("invocations") else None

    found = poll(status, timeout=30, what="deliver_webhook counted")
    table = stack.cli("status", "--state-dir", str(stack.state_dir)).stdout

    # THEN every delivery queue is there with its counts and its dead-letter queue's depth,
    queues = {row["queue"]: row for row in found["queues"]}
    webhook_queue = queues["tocsin-deliveries-webhook"]
    assert webhook_queue["depth"] >= 0
    assert webhook_queue["in_flight"] >= 0
    assert webhook_queue["dead_letters"] is not None
    assert not any(name.endswith("-dlq") for name in queues), "dead-letter queues are columns"
    # and the webhook function's counters since start
    webhook = found["functions"]["deliver_webhook"]
    assert webhook["errors"] >= 0
    assert webhook["throttles"] >= 0
    assert webhook["duration_p50_ms"] is not None
    assert webhook["duration_p99_ms"] >= webhook["duration_p50_ms"]
    assert "tocsin-deliveries-webhook" in table
    assert "deliver_webhook" in table
