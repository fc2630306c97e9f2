"""SQS FIFO -> function: order within a message group, and a group's failed message is not
passed by the messages behind it, while other groups go on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment
from tests.harness import poll

pytestmark = pytest.mark.xdist_group("fifo")

# resources.json. Long enough for group B's four messages to be handled before group A's
# failed one comes back, also where a function handles one batch at a time.
VISIBILITY_TIMEOUT = 5.0
VISIBILITY_SLACK = 0.5  # SQS's visibility timer is approximate


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("fifo")


def two_groups(*, failing: bool = True) -> tuple[list[str], list[str]]:
    """Bodies of group A (its second message fails once: '!') and of group B."""
    run = uuid.uuid4().hex[:6]
    group_a = [f"A1-{run}", f"A2-{run}" + ("!" if failing else ""), f"A3-{run}", f"A4-{run}"]
    group_b = [f"B1-{run}", f"B2-{run}", f"B3-{run}", f"B4-{run}"]
    return group_a, group_b


def send_interleaved(app: Deployment, queue: str, group_a: list[str], group_b: list[str]) -> None:
    run = group_a[0].split("-", 1)[1]
    interleaved = [body for pair in zip(group_a, group_b, strict=True) for body in pair]
    app.send(
        queue,
        *interleaved,
        MessageGroupId=lambda body: f"{body[0]}-{run}",
    )


def processed(items: list[dict[str, Any]], bodies: list[str]) -> list[tuple[str, float]]:
    """(body, time) of every successful processing of ``bodies``, in processing order."""
    return [(body, item["at"]) for item in items for body in item["processed"] if body in bodies]


def first_receive(items: list[dict[str, Any]], body: str) -> float:
    return float(
        min(item["first_receive"][body] for item in items if body in item["first_receive"])
    )


@pytest.mark.parametrize("function", ["fifo_single", "fifo_batch"])
def test_fifo_keeps_group_order_and_a_failed_message_blocks_only_its_group(
    app: Deployment, function: str
) -> None:
    queue = {"fifo_single": "cf-order.fifo", "fifo_batch": "cf-order-batch.fifo"}[function]
    group_a, group_b = two_groups()
    send_interleaved(app, queue, group_a, group_b)

    items = app.await_observed(
        function,
        lambda items: (
            {body for body, _ in processed(items, group_a + group_b)} == set(group_a + group_b)
        ),
    )

    order_a = [body for body, _ in processed(items, group_a)]
    order_b = [body for body, _ in processed(items, group_b)]
    assert order_a == group_a
    assert order_b == group_b
    assert any(group_a[1] in item["failed"] for item in items)
    retried = dict(processed(items, group_a))[group_a[1]]
    assert retried - first_receive(items, group_a[1]) >= VISIBILITY_TIMEOUT - VISIBILITY_SLACK
    # Group B did not wait for group A's failed message to come back.
    assert max(at for _, at in processed(items, group_b)) < retried
    app.await_observed(function, lambda _: app.depth(queue) == 0, what=f"{queue} empty")


def test_fifo_batch_holds_several_groups_each_in_order(app: Deployment) -> None:
    def mixed_batch() -> bool:
        """One round: both groups sent at once (the queue delays each message by 1 s, so they
        become visible together); True when a batch of this round held both groups. Which
        messages one receive finds is up to timing, hence rounds."""
        group_a, group_b = two_groups(failing=False)
        send_interleaved(app, "cf-order-batch.fifo", group_a, group_b)
        items = app.await_observed(
            "fifo_batch",
            lambda items: (
                {body for body, _ in processed(items, group_a + group_b)} == set(group_a + group_b)
            ),
        )
        mine = [item["batch"] for item in items if set(item["batch"]) & set(group_a + group_b)]
        for batch in mine:
            assert [body for body in batch if body in group_a] == [
                body for body in group_a if body in batch
            ]
            assert [body for body in batch if body in group_b] == [
                body for body in group_b if body in batch
            ]
        return any(set(batch) & set(group_a) and set(batch) & set(group_b) for batch in mine)

    poll(mixed_batch, timeout=30, interval=0, what="a batch holding both groups")
