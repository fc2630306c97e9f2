"""SQS -> function when the function fails: the batch comes back after the visibility timeout,
partial batch responses, receive counts, the redrive policy, function timeouts."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment

pytestmark = pytest.mark.xdist_group("sqs_failures")

VISIBILITY_TIMEOUT = 2.0  # resources.json
# SQS's visibility timer is approximate, and a message that becomes visible again is picked
# up on the consumer's next poll: allow this much earlier or later.
VISIBILITY_SLACK = 0.5


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("sqs_failures")


def tagged(*names: str) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{name}-{run}" for name in names]


def deliveries(items: list[dict[str, Any]], bodies: list[str]) -> list[dict[str, Any]]:
    """Per delivered message of ``bodies``: body, receive count, time of the invocation."""
    return [
        {**record, "at": item["at"]}
        for item in items
        for record in item["records"]
        if record["body"] in bodies
    ]


def counts(items: list[dict[str, Any]], bodies: list[str]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {body: [] for body in bodies}
    for record in deliveries(items, bodies):
        seen[record["body"]].append(record["receive_count"])
    return seen


def test_whole_batch_returns_after_visibility_timeout_when_function_raises(
    app: Deployment,
) -> None:
    sent = tagged("a", "b", "c")
    app.send("cf-raise", *sent)

    items = app.await_observed(
        "raise_once", lambda items: all(2 in c for c in counts(items, sent).values())
    )

    records = deliveries(items, sent)
    first = [record for record in records if record["receive_count"] == 1]
    second = [record for record in records if record["receive_count"] == 2]
    assert sorted(record["body"] for record in first) == sorted(sent)
    assert sorted(record["body"] for record in second) == sorted(sent)
    for record in second:
        assert record["at"] - record["first_receive"] >= VISIBILITY_TIMEOUT - VISIBILITY_SLACK
    app.await_observed("raise_once", lambda _: app.depth("cf-raise") == 0, what="cf-raise empty")


def test_partial_batch_response_returns_only_the_failed_messages(app: Deployment) -> None:
    sent = tagged("ok1", "fail1", "ok2", "fail2")
    app.send("cf-partial", *sent)

    items = app.await_observed(
        "partial",
        lambda items: all(len(c) == 2 for body, c in counts(items, sent).items() if "fail" in body),
    )

    # The failed ones came back after the visibility timeout; the others would have too had
    # they not been deleted.
    assert counts(items, sent) == {
        sent[0]: [1],
        sent[1]: [1, 2],
        sent[2]: [1],
        sent[3]: [1, 2],
    }
    app.await_observed("partial", lambda _: app.depth("cf-partial") == 0, what="cf-partial empty")


def test_partial_batch_response_ignored_when_switched_off(app: Deployment) -> None:
    sent = tagged("ok1", "fail1", "fail2")
    app.send("cf-partial-off", *sent)
    app.await_observed("partial_off", lambda items: all(counts(items, sent).values()))

    # Without ReportBatchItemFailures a returned response is a success: the whole batch is
    # deleted, the "failures" included, so the queue empties without a second delivery.
    app.await_observed(
        "partial_off", lambda _: app.depth("cf-partial-off") == 0, what="cf-partial-off empty"
    )
    assert counts(app.observed("partial_off"), sent) == {body: [1] for body in sent}


def test_approximate_receive_count_grows_with_each_receive(app: Deployment) -> None:
    sent = tagged("counted")
    app.send("cf-receive-count", *sent)

    items = app.await_observed(
        "receive_count", lambda items: 3 in counts(items, sent)[sent[0]], timeout=30
    )

    assert counts(items, sent)[sent[0]] == [1, 2, 3]
    app.await_observed(
        "receive_count", lambda _: app.depth("cf-receive-count") == 0, what="cf-receive-count empty"
    )


def test_redrive_policy_moves_message_to_dlq_after_max_receive_count(app: Deployment) -> None:
    sent = tagged("doomed")
    app.send("cf-redrive", *sent)

    def in_dlq() -> list[dict[str, Any]]:
        return [message for message in app.drain("cf-redrive-dlq") if message["Body"] in sent]

    moved = app.await_observed("redrive", lambda _: bool(in_dlq()), timeout=30, what="DLQ")

    assert counts(moved, sent)[sent[0]] == [1, 2]
    assert app.depth("cf-redrive") == 0


def test_function_timeout_ends_invocation_and_batch_returns(app: Deployment) -> None:
    sent = tagged("slow")
    app.send("cf-timeout", *sent)

    items = app.await_observed("timeout", lambda items: 2 in counts(items, sent)[sent[0]])

    assert counts(items, sent)[sent[0]] == [1, 2]
    beats = [item for item in app.observed("timeout_heartbeat") if item["body"] == sent[0]]
    assert beats, "the first invocation never ran"
    started = beats[0]["started"]
    # Timeout 1 s (config.json), and the handler means to beat every 0.2 s for 3 s: give a
    # survivor of the first invocation time to beat past its timeout, then look.
    time.sleep(max(0.0, started + 2.0 - time.time()))
    beats = [item for item in app.observed("timeout_heartbeat") if item["body"] == sent[0]]
    assert max(beat["at"] for beat in beats) - started < 1.0 + VISIBILITY_SLACK
    second = next(record for record in deliveries(items, sent) if record["receive_count"] == 2)
    assert second["at"] - second["first_receive"] >= VISIBILITY_TIMEOUT - VISIBILITY_SLACK
