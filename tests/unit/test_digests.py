"""Digests: one window per recipient and key, closed by its timer, one delivery per channel."""

from __future__ import annotations

import pytest

from chalicelib.domain.digests import DigestRequest
from chalicelib.domain.errors import Invalid
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Reason
from chalicelib.models.preferences import QuietHours, RecipientPreferences
from chalicelib.models.scheduling import DigestWindow
from tests.fakes import FakeStore
from tests.unit.domain_world import World

HOOK = "https://example.com/hook"
DIGEST = DigestRequest(key="disk", window_seconds=60)


@pytest.fixture
def world() -> World:
    world = World()
    world.recipient(webhook_url=HOOK)
    return world


def test_notifications_in_one_window_are_sent_as_one_digest_per_channel(world: World) -> None:
    # GIVEN three notifications under one key within a minute
    accepted = []
    for _ in range(3):
        accepted.append(world.accept(digest=DIGEST))
        world.clock.advance(10)
    # THEN each is skipped as digested, nothing is queued, one window is open
    for notification in accepted:
        for channel in (Channel.WEBHOOK, Channel.INBOX):
            delivery = world.delivery(notification.id, channel)
            assert (delivery.status, delivery.reason) == (DeliveryStatus.SKIPPED, Reason.DIGESTED)
        assert world.status(notification.id) is NotificationStatus.SKIPPED
    assert world.publisher.announced == []
    window_ids = {world.stored(n.id).digest.window_id for n in accepted}  # type: ignore[union-attr]
    assert len(window_ids) == 1
    [window_id] = window_ids
    assert window_id is not None
    # WHEN the window ends
    world.clock.advance(30)
    world.fire_due_timers()
    # THEN one notification (the window's id) lists all three, one delivery per channel
    digest = world.stored(window_id)
    assert digest.digest_of is not None
    assert digest.digest_of.notification_ids == [n.id for n in accepted]
    assert [d.channel for d in digest.deliveries or []] == [Channel.WEBHOOK, Channel.INBOX]
    assert digest.content.title == "3 notifications: disk"
    [(message, channels)] = world.publisher.announced
    assert (message.notification_id, channels, message.content) == (
        window_id,
        [Channel.WEBHOOK],
        None,
    )
    # AND its webhook lists each digested notification
    world.process(window_id)
    [sent] = world.webhook.outgoing
    assert sent.digest is not None
    assert [e.notification_id for e in sent.digest.on(Channel.WEBHOOK)] == [n.id for n in accepted]


def test_a_notification_after_the_window_ends_opens_the_next(world: World) -> None:
    first = world.accept(digest=DIGEST)
    world.clock.advance(61)
    second = world.accept(digest=DIGEST)
    ids = [world.stored(n.id).digest.window_id for n in (first, second)]  # type: ignore[union-attr]
    assert ids[0] != ids[1]
    world.fire_due_timers()
    assert world.stored(ids[0] or "").digest_of.notification_ids == [first.id]  # type: ignore[union-attr]


class ClosedAfterRead(FakeStore):
    """A store where the window's closer runs right after the next read of the window."""

    close_after_read: str | None = None

    def get_digest_window(self, tenant_id: str, recipient_id: str, key: str) -> DigestWindow | None:
        window = super().get_digest_window(tenant_id, recipient_id, key)
        if self.close_after_read is not None:
            self.close_digest_window(tenant_id, recipient_id, key, self.close_after_read)
            self.close_after_read = None
        return window


def test_a_window_closed_while_a_request_joined_it_sends_it_in_the_next() -> None:
    # GIVEN a window whose closer runs between a request's read of it and its write
    store = ClosedAfterRead()
    world = World(store=store)
    world.recipient(webhook_url=HOOK)
    first = world.accept(digest=DIGEST)
    window_id = world.stored(first.id).digest.window_id  # type: ignore[union-attr]
    store.close_after_read = window_id
    # WHEN the request writes
    second = world.accept(digest=DIGEST)
    # THEN it went into a new window, not the closed one: nothing is left out
    assert world.stored(second.id).digest.window_id != window_id  # type: ignore[union-attr]
    assert [e.notification_id for e in world.store.digest_entries("acme", window_id or "")] == [
        first.id
    ]


def test_a_full_window_makes_way_for_the_next() -> None:
    world = World(digest_max_items=2)
    world.recipient(webhook_url=HOOK)
    accepted = [world.accept(digest=DIGEST) for _ in range(3)]
    windows = [world.stored(n.id).digest.window_id for n in accepted]  # type: ignore[union-attr]
    assert windows[0] == windows[1] != windows[2]


def test_a_digest_that_ends_in_quiet_hours_waits_for_them(world: World) -> None:
    world.preferences.put_recipient(
        "acme",
        "alice",
        RecipientPreferences(quiet_hours=QuietHours(start="10:01", end="11:00", tz="UTC")),
    )
    first = world.accept(digest=DIGEST)
    window_id = world.stored(first.id).digest.window_id  # type: ignore[union-attr]
    world.clock.advance(60)
    world.fire_due_timers()
    delivery = world.delivery(window_id or "")
    assert (delivery.status, delivery.reason) == (DeliveryStatus.SCHEDULED, Reason.QUIET_HOURS)
    world.clock.advance(3600)
    world.fire_due_timers()
    assert world.delivery(window_id or "").status is DeliveryStatus.PENDING


def test_a_digest_for_a_topic_is_refused(world: World) -> None:
    with pytest.raises(Invalid) as raised:
        world.accept(topic="ops", digest=DIGEST)
    assert raised.value.loc == ["digest"]
