"""SQS FIFO -> function: order within a message group, and a group's failed message is not
passed by the messages behind it, while other groups go on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment

pytestmark = pytest.mark.xdist_group("fifo")

# resources.json. Long enough for group B's four messages to be handled before group A's
# failed one comes back, also where a function handles one batch at a time.
VISIBILITY_TIMEOUT = 5.0
VISIBILITY_SLACK = 0.5  # SQS's visibility timer is approximate


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("fifo")


def two_groups() -> tuple[list[str], list[str]]:
    """Bodies of group A (its second message fails once: '!') and of group B."""
    run = uuid.uuid4().hex[:6]
    group_a = [f"A1-{run}", f"A2-{run}!", f"A3-{run}", f"A4-{run}"]
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
    group_a, group_b = two_groups()
    # The queue delays every message by 1 s: all eight become visible together, and one
    # receive of ten takes them all (a group's messages first, then the next group's).
    send_interleaved(app, "cf-order-batch.fifo", group_a, group_b)

    items = app.await_observed(
        "fifo_batch",
        lambda items: (
            {body for body, _ in processed(items, group_a + group_b)} == set(group_a + group_b)
        ),
    )

    first = next(item for item in items if set(item["first_receive"]) & set(group_a + group_b))
    assert sorted(first["first_receive"]) == sorted(group_a + group_b)
    assert [body for body in first["batch"] if body in group_a] == group_a
    assert [body for body in first["batch"] if body in group_b] == group_b
