"""A receiver that hangs must never delay another: on a stack whose webhook deadline is 6 s,
a healthy receiver's deliveries arrive at their normal latency (well under the time a hung send
holds its sender) while the hanging one's retry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Api, Stack, answering, poll, receiver

WEBHOOK_TIMEOUT_SECONDS = 6
# A 200 that never comes: its first byte after a minute.
NEVER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture(scope="module")
def hang_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        Path(tmp_path_factory.mktemp("hang-stack")),
        env={"TOCSIN_WEBHOOK_TIMEOUT_SECONDS": str(WEBHOOK_TIMEOUT_SECONDS)},
    )
    yield started
    started.stop()


def test_a_hanging_receiver_never_delays_a_healthy_one(hang_stack: Stack) -> None:
    api: Api = hang_stack.client()
    with (
        answering(NEVER, interval=60.0) as (hanging_port, _),
        receiver(hang_stack.webhook_secret) as healthy,
    ):
        # GIVEN a receiver that never answers, with deliveries to it retrying
        stuck = f"stuck-{uuid.uuid4().hex[:8]}"
        api.put_recipient(stuck, webhook_url=f"http://127.0.0.1:{hanging_port}/hook")
        stuck_ids = [
            api.notify(recipient_id=stuck, channels=["webhook"]).json()["id"] for _ in range(8)
        ]

        def retrying() -> bool:
            deliveries = [api.notification(nid)["deliveries"][0] for nid in stuck_ids]
            return any(d["status"] == "retrying" for d in deliveries)

        poll(retrying, timeout=30, what="the hanging receiver's deliveries retrying")
        # WHEN notifications go to a healthy receiver meanwhile
        well = f"well-{uuid.uuid4().hex[:8]}"
        api.put_recipient(well, webhook_url=healthy.url)
        latencies = []
        for _ in range(5):
            sent = time.monotonic()
            created = api.notify(recipient_id=well, channels=["webhook"]).json()
            nid: str = created["id"]
            arrived = poll(
                lambda: healthy.for_notification(nid),  # noqa: B023 (called right here)
                timeout=10,
                interval=0.01,
                what="the healthy delivery",
            )
            latencies.append(arrived[0].received_at - sent)
        # THEN each arrives at its normal latency, far from a hung send's 6 s, while the
        # other still retries
        assert max(latencies) < WEBHOOK_TIMEOUT_SECONDS / 2, latencies
        assert any(
            api.notification(nid)["deliveries"][0]["status"] in ("pending", "retrying")
            for nid in stuck_ids
        )
