"""Topics: AMQP patterns, filters, one delivery per recipient and channel, fan-out by pages
that survives crashes (GIVEN / WHEN / THEN, fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import Invalid
from chalicelib.domain.topics import pattern_matches
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Severity
from chalicelib.models.stored import Delivery, Notification
from tests.fakes import Crash, FakeStore
from tests.unit.domain_world import World


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("ops.db", "ops.db", True),
        ("ops.db", "ops.db.disk", False),
        ("ops.*", "ops.db", True),
        ("ops.*", "ops", False),
        ("ops.*", "ops.db.disk", False),
        ("ops.#", "ops", True),
        ("ops.#", "ops.db.disk", True),
        ("*.db.critical", "eu.db.critical", True),
        ("*.db.critical", "db.critical", False),
        ("#", "anything.at.all", True),
        ("#.disk", "disk", True),
        ("#.disk", "ops.db.disk", True),
        ("#.disk", "ops.disk.full", False),
        ("ops.#.disk", "ops.disk", True),
        ("ops.#.disk", "ops.a.b.disk", True),
        ("a.#.#.b", "a.b", True),
        ("*.*", "a", False),
        ("*", "a", True),
    ],
)
def test_amqp_topic_patterns(pattern: str, topic: str, matches: bool) -> None:
    assert pattern_matches(pattern, topic) is matches


def test_long_patterns_match_in_linear_time() -> None:
    pattern = ".".join(["#"] * 60)
    topic = ".".join(["w"] * 60) + ".x"
    assert pattern_matches(pattern, topic)


@pytest.fixture
def world() -> World:
    w = World()
    w.recipient("alice", webhook_url="https://a.example.com/in", email="alice@example.com")
    w.recipient("bob", email="bob@example.com")
    w.recipient("carol")
    return w


def deliveries(world: World, notification_id: str) -> list[Delivery]:
    return world.store.list_deliveries(
        "acme", notification_id, keep=None, limit=100, cursor=None
    ).items


def test_each_recipient_gets_each_channel_once_however_many_patterns_match(world: World) -> None:
    # GIVEN alice with three matching subscriptions and carol with one on the inbox
    world.subscribe("s1", "alice", "ops.#")
    world.subscribe("s2", "alice", "ops.db", channels=[Channel.WEBHOOK])
    world.subscribe("s3", "alice", "*.db")
    world.subscribe("s4", "carol", "#", channels=[Channel.INBOX])
    world.subscribe("s5", "bob", "eu.#")
    # WHEN a notification goes to ops.db and is expanded
    notification = world.accept(topic="ops.db")
    world.expand_all(notification.id)
    # THEN each matched recipient has one delivery per channel
    found = sorted((d.recipient_id, d.channel) for d in deliveries(world, notification.id))
    assert found == [
        ("alice", Channel.EMAIL),
        ("alice", Channel.INBOX),
        ("alice", Channel.WEBHOOK),
        ("carol", Channel.INBOX),
    ]
    stored = world.stored(notification.id)
    assert stored.recipients == 2
    assert stored.counts.pending == 2
    assert stored.counts.delivered == 2
    assert sorted((c, m.recipient_id) for c, m in world.publisher.queued) == [
        (Channel.EMAIL, "alice"),
        (Channel.WEBHOOK, "alice"),
    ]


def test_channel_narrowing_unites_the_matching_subscriptions_channels(world: World) -> None:
    world.subscribe("s1", "alice", "ops.db", channels=[Channel.WEBHOOK])
    world.subscribe("s2", "alice", "ops.*", channels=[Channel.INBOX])
    notification = world.accept(topic="ops.db")
    world.expand_all(notification.id)
    assert sorted(d.channel for d in deliveries(world, notification.id)) == [
        Channel.INBOX,
        Channel.WEBHOOK,
    ]


@pytest.mark.parametrize(
    ("severity", "category", "expected"),
    [
        (Severity.INFO, "ops", []),
        (Severity.WARNING, "billing", []),
        (Severity.WARNING, "ops", ["bob"]),
        (Severity.CRITICAL, None, []),
    ],
)
def test_severity_and_category_filters(
    world: World, severity: Severity, category: str | None, expected: list[str]
) -> None:
    world.subscribe("s1", "bob", "ops.db", min_severity=Severity.WARNING, categories=["ops"])
    notification = world.accept(topic="ops.db", severity=severity, category=category)
    world.expand_all(notification.id)
    assert sorted({d.recipient_id for d in deliveries(world, notification.id)}) == expected


def test_a_topic_nobody_matches_ends_skipped_with_no_delivery(world: World) -> None:
    notification = world.accept(topic="nobody.listens")
    assert world.status(notification.id) is NotificationStatus.ACCEPTED
    world.expand_all(notification.id)
    assert world.status(notification.id) is NotificationStatus.SKIPPED
    assert deliveries(world, notification.id) == []


def test_a_subscription_to_an_unknown_recipient_is_invalid(world: World) -> None:
    with pytest.raises(Invalid) as problem:
        world.subscribe("s1", "nobody", "ops.#")
    assert problem.value.loc == ["recipient_id"]


def populate(world: World, count: int) -> None:
    for index in range(count):
        world.recipient(f"r{index:04d}")
        world.subscribe(f"s{index:04d}", f"r{index:04d}", "news.#")


def test_a_large_audience_expands_a_page_at_a_time() -> None:
    # GIVEN 25 inbox subscribers and pages of 10
    world = World(page_size=10)
    populate(world, 25)
    notification = world.accept(topic="news.today")
    # WHEN the fan-out runs to its end
    steps = world.expand_all(notification.id)
    # THEN it took three pages and every subscriber got one inbox delivery
    assert steps == 3
    stored = world.stored(notification.id)
    assert stored.counts.delivered == 25
    assert stored.recipients == 25
    assert world.status(notification.id) is NotificationStatus.DELIVERED
    assert len(deliveries(world, notification.id)) == 25


def test_subscribers_list_pages_by_recipient() -> None:
    world = World()
    populate(world, 7)
    world.subscribe("extra", "r0003", "news.today")
    seen: list[tuple[str, list[str]]] = []
    cursor = None
    while True:
        page = world.subscriptions.subscribers("acme", "news.today", limit=3, cursor=cursor)
        seen += [(m.recipient_id, [s.subscription_id for s in m.subscriptions]) for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [rid for rid, _ in seen] == [f"r{index:04d}" for index in range(7)]
    assert dict(seen)["r0003"] == ["extra", "s0003"]


class CrashingFanoutStore(FakeStore):
    """Dies after the first write of a page, or right after a page ends, once."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_mid_batch = False
        self.crash_after_checkpoint = False

    def put_deliveries(self, deliveries: list[Delivery]) -> None:  # type: ignore[override]
        super().put_deliveries(deliveries)
        if self.crash_mid_batch:
            self.crash_mid_batch = False
            raise Crash("fanout_mid_batch")

    def checkpoint_page(self, notification: Notification, **kwargs: Any) -> bool:
        ended = super().checkpoint_page(notification, **kwargs)
        if self.crash_after_checkpoint:
            self.crash_after_checkpoint = False
            raise Crash("fanout_between_pages")
        return ended


@pytest.mark.parametrize("crash", ["mid_batch", "after_checkpoint"])
def test_a_crash_during_fan_out_loses_no_recipient_and_queues_nothing_twice(crash: str) -> None:
    # GIVEN webhook subscribers in pages of 150 (two writes of 100 per page)
    world = World(store=CrashingFanoutStore(), page_size=150)
    store = world.store
    assert isinstance(store, CrashingFanoutStore)
    for index in range(300):
        world.recipient(f"r{index:04d}", webhook_url=f"https://h{index}.example.com/in")
        world.subscribe(f"s{index:04d}", f"r{index:04d}", "ops.#", channels=[Channel.WEBHOOK])
    notification = world.accept(topic="ops.db")
    # WHEN the fan-out dies once in its second page
    world.fanout.expand("acme", notification.id)
    setattr(store, f"crash_{crash}", True)
    with pytest.raises(Crash):
        world.fanout.expand("acme", notification.id)
    world.expand_all(notification.id)
    # THEN every subscriber has one pending webhook delivery, counted once
    stored = world.stored(notification.id)
    assert stored.counts.pending == 300
    assert stored.recipients == 300
    found = [d for k, d in store.deliveries.items() if k.notification_id == notification.id]
    assert len(found) == 300
    assert all(d.status is DeliveryStatus.PENDING for d in found)
    # and the fan-out queued none twice; what the crash kept from being queued, the sweeper
    # queues once its grace has passed
    queued = [m.recipient_id for _, m in world.publisher.queued]
    assert len(queued) == len(set(queued))
    world.clock.advance(10)
    world.sweeper.sweep()
    assert {m.recipient_id for _, m in world.publisher.queued} == {d.recipient_id for d in found}
