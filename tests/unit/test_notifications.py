"""Accepting notifications: channels, idempotency, publishing, statuses, the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import Conflict, Invalid
from chalicelib.domain.notifications import request_fingerprint
from chalicelib.domain.status import status_of
from chalicelib.domain.sweeper import MAX_SWEEPS
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus
from chalicelib.models.stored import Content, Counts, Fanout, Notification
from tests.unit.domain_world import GRACE, World, key


@pytest.fixture
def world() -> World:
    w = World()
    w.recipient(email="alice@example.com", webhook_url="https://hooks.example.com/in")
    return w


def test_accepting_stores_the_deliveries_and_announces_them(world: World) -> None:
    notification = world.accept()
    assert world.status(notification.id) is NotificationStatus.ACCEPTED
    assert [message.notification_id for message, _ in world.publisher.announced] == [
        notification.id
    ]
    stored = world.stored(notification.id)
    assert stored.deliveries is not None
    assert [d.channel for d in stored.deliveries] == [Channel.WEBHOOK, Channel.EMAIL, Channel.INBOX]
    assert stored.counts == Counts(pending=2, delivered=1)
    assert stored.recipients == 1


def test_a_failed_publish_still_accepts_and_the_sweeper_queues_later(world: World) -> None:
    # GIVEN a notification accepted while SNS is down
    world.publisher.failing = True
    notification = world.accept(channels=[Channel.WEBHOOK])
    assert world.publisher.announced == []
    world.publisher.failing = False
    # WHEN the sweeper runs before and after the grace
    assert world.sweeper.sweep().republished == 0
    world.clock.advance(GRACE.total_seconds())
    # THEN its delivery is queued once the grace has passed
    assert world.sweeper.sweep().republished == 1
    assert [(c, m.notification_id) for c, m in world.publisher.queued] == [
        (Channel.WEBHOOK, notification.id)
    ]


def test_the_sweeper_gives_up_after_repeated_republishes_and_fails_visibly(world: World) -> None:
    notification = world.accept(channels=[Channel.WEBHOOK])
    for _ in range(MAX_SWEEPS):
        world.clock.advance(timedelta(days=1).total_seconds())
        assert world.sweeper.sweep().republished == 1
    world.clock.advance(timedelta(days=1).total_seconds())
    assert world.sweeper.sweep().abandoned == 1
    assert world.status(notification.id) is NotificationStatus.FAILED
    delivery = world.delivery(notification.id)
    assert delivery.status is DeliveryStatus.FAILED
    assert "abandoned" in (delivery.last_error or "")
    assert len(world.store.list_dead_letters("acme", limit=10, cursor=None).items) == 1


def test_a_spent_sweep_budget_leaves_the_rest_to_the_next_run(world: World) -> None:
    world.publisher.failing = True
    world.accept(channels=[Channel.WEBHOOK])
    world.publisher.failing = False
    world.clock.advance(GRACE.total_seconds())
    assert world.sweeper.sweep(timedelta(0)).republished == 0
    assert world.sweeper.sweep(timedelta(seconds=30)).republished == 1


def test_the_same_idempotency_key_and_body_replays(world: World) -> None:
    first = world.accept(key="k1")
    again = world.accept(key="k1")
    assert again.id == first.id
    assert len(world.publisher.announced) == 1


def test_a_different_body_under_the_same_key_conflicts(world: World) -> None:
    world.accept(key="k1")
    with pytest.raises(Conflict):
        world.accept(key="k1", fingerprint="other")


def test_an_expired_key_creates_anew(world: World) -> None:
    first = world.accept(key="k1")
    world.clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    assert world.accept(key="k1").id != first.id


def test_unknown_recipient_is_invalid_at_recipient_id(world: World) -> None:
    with pytest.raises(Invalid) as problem:
        world.accept(recipient_id="bob")
    assert problem.value.loc == ["recipient_id"]


def test_fingerprint_ignores_key_order_spacing_and_the_key_itself() -> None:
    assert request_fingerprint(
        {"a": 1, "b": [1, 2], "idempotency_key": "x"}
    ) == request_fingerprint({"b": [1, 2], "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})


def _notification(
    counts: Counts, *, attempted: int = 0, fanout: Fanout | None = None
) -> Notification:
    return Notification(
        tenant_id="acme",
        id="01J",
        created_at=World().clock.now(),
        content=Content(title="t"),
        counts=counts,
        attempted=attempted,
        fanout=fanout,
    )


@pytest.mark.parametrize(
    ("counts", "attempted", "fanout", "expected"),
    [
        (Counts(delivered=1, skipped=1), 1, None, NotificationStatus.DELIVERED),
        (Counts(delivered=1, failed=1), 2, None, NotificationStatus.PARTIALLY_DELIVERED),
        (Counts(failed=1, skipped=1), 1, None, NotificationStatus.FAILED),
        (Counts(skipped=2), 0, None, NotificationStatus.SKIPPED),
        (Counts(), 0, Fanout(done=True), NotificationStatus.SKIPPED),
        (Counts(delivered=1, retrying=1), 1, None, NotificationStatus.PROCESSING),
        (Counts(pending=1, delivered=1), 0, None, NotificationStatus.ACCEPTED),
        (Counts(scheduled=2, skipped=1), 0, None, NotificationStatus.SCHEDULED),
        (Counts(), 0, Fanout(), NotificationStatus.ACCEPTED),
        (Counts(delivered=3), 2, Fanout(cursor="x"), NotificationStatus.PROCESSING),
        (Counts(), 0, Fanout(error="abandoned"), NotificationStatus.FAILED),
    ],
)
def test_the_status_follows_from_the_counts(
    counts: Counts, attempted: int, fanout: Fanout | None, expected: NotificationStatus
) -> None:
    assert status_of(_notification(counts, attempted=attempted, fanout=fanout)) is expected


def test_a_cancelled_notification_nothing_of_which_was_attempted_is_cancelled() -> None:
    notification = _notification(Counts(skipped=2))
    notification.cancelled_at = notification.created_at
    assert status_of(notification) is NotificationStatus.CANCELLED


def test_the_sweeper_finds_a_lost_delivery_message_by_its_delivery(world: World) -> None:
    # GIVEN a delivery claimed by a process that died (its lease and sweep time pass)
    notification = world.accept(channels=[Channel.WEBHOOK])
    world.store.claim(
        key(notification.id),
        token="dead",
        now=world.clock.now(),
        until=world.clock.now() + timedelta(seconds=20),
        sweep_at=world.clock.now() + timedelta(seconds=30),
    )
    world.clock.advance(31)
    # WHEN the sweeper runs
    assert world.sweeper.sweep().republished == 1
    # THEN the delivery is queued again and delivered
    assert world.publisher.queued[-1][1].recipient_id == "alice"
    assert world.process(notification.id).finished
    assert world.status(notification.id) is NotificationStatus.DELIVERED
