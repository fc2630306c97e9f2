"""SQS -> function: batch size, batching window, deletion on success, maximum concurrency."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment

pytestmark = pytest.mark.xdist_group("sqs_batching")


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("sqs_batching")


def bodies(count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{run}-{index}" for index in range(count)]


def batches_holding(items: list[dict[str, Any]], wanted: list[str]) -> list[list[str]]:
    """The batches (bodies per invocation) that hold any of ``wanted``."""
    return [item["bodies"] for item in items if set(item["bodies"]) & set(wanted)]


def received_all(wanted: list[str]) -> Any:
    def check(items: list[dict[str, Any]]) -> bool:
        seen = [body for batch in batches_holding(items, wanted) for body in batch]
        return set(wanted) <= set(seen)

    return check


def test_batch_size_caps_each_batch(app: Deployment) -> None:
    sent = bodies(9)
    app.send("cf-batch-size", *sent)

    items = app.await_observed("batch_size", received_all(sent))

    batches = batches_holding(items, sent)
    assert sorted(body for batch in batches for body in batch) == sorted(sent)
    assert max(len(batch) for batch in batches) == 3
    assert len(batches) >= 3


def test_batching_window_gathers_messages_sent_apart(app: Deployment) -> None:
    sent = bodies(3)
    for body in sent:
        app.send("cf-window", body)
        time.sleep(0.3)  # the point of the row: messages that arrive apart, within the window

    items = app.await_observed("window", received_all(sent))

    assert batches_holding(items, sent) == [sent]


def test_batch_larger_than_ten_with_a_window(app: Deployment) -> None:
    sent = bodies(25)
    for start in (0, 10, 20):
        app.send("cf-large-batch", *sent[start : start + 10])
        time.sleep(0.3)  # a receive gets at most ten: only the window can gather all 25

    items = app.await_observed("large_batch", received_all(sent))

    batches = batches_holding(items, sent)
    assert [sorted(batch) for batch in batches] == [sorted(sent)]


def test_messages_are_deleted_after_success(app: Deployment) -> None:
    sent = bodies(5)
    app.send("cf-delete", *sent)
    app.await_observed("delete_on_success", received_all(sent))

    app.await_observed(
        "delete_on_success", lambda _: app.depth("cf-delete") == 0, what="cf-delete empty"
    )
    # An empty queue (nothing visible, nothing in flight) cannot redeliver anything.
    seen = [
        body for batch in batches_holding(app.observed("delete_on_success"), sent) for body in batch
    ]
    assert sorted(seen) == sorted(sent)


def test_maximum_concurrency_limits_parallel_invocations(app: Deployment) -> None:
    sent = bodies(8)
    app.send("cf-concurrency", *sent)

    items = app.await_observed("max_concurrency", received_all(sent))

    spans = [(item["started"], item["ended"]) for item in items if set(item["bodies"]) & set(sent)]
    assert peak_overlap(spans) == 2


def peak_overlap(spans: list[tuple[float, float]]) -> int:
    """The largest number of spans open at the same moment."""
    moments = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    peak = current = 0
    for _, step in moments:
        current += step
        peak = max(peak, current)
    return peak
