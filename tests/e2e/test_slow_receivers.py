"""Receivers that are slow on purpose, on a stack whose webhook deadline is 2 s: one receiver
must never stall delivery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Api, Stack, answering, poll

WEBHOOK_TIMEOUT_SECONDS = 2
# A 200 whose 60 bytes come one a second: each byte well within any per-read timeout.
DRIPPED_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n" + b"d" * 22


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        Path(tmp_path_factory.mktemp("slow-stack")),
        env={"TOCSIN_WEBHOOK_TIMEOUT_SECONDS": str(WEBHOOK_TIMEOUT_SECONDS)},
    )
    yield started
    started.stop()


def delivery(notification: dict[str, Any], channel: str) -> dict[str, Any]:
    return next(item for item in notification["deliveries"] if item["channel"] == channel)


def test_a_receiver_that_drips_its_answer_fails_visibly_after_its_attempts(
    slow_stack: Stack,
) -> None:
    api: Api = slow_stack.client()
    with answering(DRIPPED_200, interval=1.0) as (port, connections_ended):
        # GIVEN a recipient whose webhook answers 200 one byte a second
        recipient = f"drip-{uuid.uuid4().hex[:8]}"
        api.put_recipient(recipient, webhook_url=f"http://127.0.0.1:{port}/hook")
        # WHEN a notification goes to its webhook and inbox
        created = api.notify(recipient_id=recipient, channels=["webhook", "inbox"]).json()

        # THEN the inbox is delivered while the webhook is still being retried
        def inbox_delivered_meanwhile() -> dict[str, Any] | None:
            current = api.notification(created["id"])
            if delivery(current, "inbox")["status"] != "delivered":
                return None
            assert delivery(current, "webhook")["status"] in ("pending", "retrying")
            return current

        poll(inbox_delivered_meanwhile, timeout=30, what="inbox delivered")
        # and the webhook ends failed after its attempt budget, each attempt cut at the deadline
        final = api.wait_final(created["id"], timeout=150)
        # (a connection counts once the receiver sees it closed)
        poll(lambda: len(connections_ended) >= 8, timeout=10, what="eight attempts")
    webhook = delivery(final, "webhook")
    assert final["status"] == "partially_delivered"
    assert webhook["status"] == "failed"
    assert webhook["attempts"] == 8
    assert "timed out" in webhook["last_error"]
    assert len(connections_ended) == 8
    letters = api.request("GET", "/v1/dead-letters").json()["items"]
    assert any(letter["notification_id"] == created["id"] for letter in letters)
