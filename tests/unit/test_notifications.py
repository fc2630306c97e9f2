"""Accepting notifications: channels, idempotency, publishing, the sweeper."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain.errors import Conflict, Invalid
from chalicelib.domain.notifications import request_fingerprint, summarize
from chalicelib.domain.sweeper import MAX_SWEEPS
from chalicelib.models.api import NotificationIn
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus
from chalicelib.models.stored import Delivery, Notification
from tests.unit.domain_world import GRACE, World


@pytest.fixture
def world() -> World:
    w = World()
    w.recipient(email="alice@example.com", webhook_url="https://hooks.example.com/in")
    return w


def accept(
    world: World, body: dict[str, Any], header: str | None = None
) -> tuple[Notification, bool]:
    accepted = world.notifications.accept(
        "acme",
        NotificationIn.model_validate(body),
        fingerprint=request_fingerprint(body),
        header_key=header,
    )
    return accepted.notification, accepted.created


def test_accepting_stores_and_publishes(world: World) -> None:
    notification = world.accept()
    assert world.stored(notification.id).status is NotificationStatus.ACCEPTED
    assert [event.notification_id for event in world.publisher.events] == [notification.id]
    assert notification.channels == [Channel.WEBHOOK, Channel.EMAIL, Channel.INBOX]


def test_a_failed_publish_still_accepts_and_the_sweeper_publishes_later(world: World) -> None:
    world.publisher.failing = True
    notification = world.accept()
    assert world.publisher.events == []
    world.publisher.failing = False
    assert world.sweeper.sweep().republished == 0
    world.clock.advance(GRACE.total_seconds())
    assert world.sweeper.sweep().republished == 1
    assert [event.notification_id for event in world.publisher.events] == [notification.id]


def test_the_sweeper_gives_up_after_repeated_republishes_and_fails_visibly(world: World) -> None:
    notification = world.accept(channels=["webhook"])
    for _ in range(MAX_SWEEPS):
        world.clock.advance(timedelta(days=1).total_seconds())
        assert world.sweeper.sweep().republished == 1
    world.clock.advance(timedelta(days=1).total_seconds())
    assert world.sweeper.sweep().abandoned == 1
    stored = world.stored(notification.id)
    assert stored.status is NotificationStatus.FAILED
    assert stored.deliveries[0].status is DeliveryStatus.FAILED
    assert "abandoned" in (stored.deliveries[0].last_error or "")
    assert len(world.store.list_dead_letters("acme", limit=10, cursor=None).items) == 1


def test_the_same_idempotency_key_and_body_replays(world: World) -> None:
    body = {"recipient_id": "alice", "title": "t", "idempotency_key": "k1"}
    first, created = accept(world, body)
    again, created_again = accept(world, dict(reversed(list(body.items()))))
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert len(world.publisher.events) == 1


def test_a_different_body_under_the_same_key_conflicts(world: World) -> None:
    accept(world, {"recipient_id": "alice", "title": "t", "idempotency_key": "k1"})
    with pytest.raises(Conflict):
        accept(world, {"recipient_id": "alice", "title": "other", "idempotency_key": "k1"})


def test_an_expired_key_creates_anew(world: World) -> None:
    first, _ = accept(world, {"recipient_id": "alice", "title": "t", "idempotency_key": "k1"})
    world.clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    second, created = accept(
        world, {"recipient_id": "alice", "title": "t", "idempotency_key": "k1"}
    )
    assert created
    assert second.id != first.id


def test_header_and_body_keys_must_agree(world: World) -> None:
    with pytest.raises(Invalid) as problem:
        accept(world, {"recipient_id": "alice", "title": "t", "idempotency_key": "a"}, header="b")
    assert problem.value.loc == ["header", "Idempotency-Key"]


def test_unknown_recipient_is_invalid_at_recipient_id(world: World) -> None:
    with pytest.raises(Invalid) as problem:
        world.accept(recipient_id="bob")
    assert problem.value.loc == ["body", "recipient_id"]


def test_fingerprint_ignores_key_order_spacing_and_the_key_itself() -> None:
    assert request_fingerprint(
        {"a": 1, "b": [1, 2], "idempotency_key": "x"}
    ) == request_fingerprint({"b": [1, 2], "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED], NotificationStatus.DELIVERED),
        ([DeliveryStatus.DELIVERED, DeliveryStatus.FAILED], NotificationStatus.PARTIALLY_DELIVERED),
        ([DeliveryStatus.FAILED, DeliveryStatus.SKIPPED], NotificationStatus.FAILED),
        ([DeliveryStatus.SKIPPED], NotificationStatus.SKIPPED),
        ([DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING], NotificationStatus.PROCESSING),
        ([DeliveryStatus.PENDING], NotificationStatus.ACCEPTED),
    ],
)
def test_status_summary(
    world: World, statuses: list[DeliveryStatus], expected: NotificationStatus
) -> None:
    notification = world.accept()
    notification.deliveries = [
        Delivery(channel=Channel.INBOX, recipient_id="alice", status=status) for status in statuses
    ]
    if expected is NotificationStatus.PROCESSING:
        notification.status = NotificationStatus.PROCESSING
    assert summarize(notification) is expected


def test_a_spent_sweep_budget_leaves_the_rest_to_the_next_run(world: World) -> None:
    world.publisher.failing = True
    world.accept()
    world.publisher.failing = False
    world.clock.advance(GRACE.total_seconds())
    assert world.sweeper.sweep(timedelta(0)).republished == 0
    assert world.sweeper.sweep(timedelta(seconds=30)).republished == 1
