"""Scheduled delivery, quiet hours and cancel, on an injected clock (a year passes in no time)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import Conflict, Invalid
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Reason
from chalicelib.models.preferences import QuietHours, RecipientPreferences
from chalicelib.models.scheduling import TimerKind
from tests.unit.domain_world import World

HOOK = "https://example.com/hook"


@pytest.fixture
def world() -> World:
    world = World()  # 2026-11-24 10:00 UTC
    world.recipient(webhook_url=HOOK)
    return world


def test_deliver_at_a_year_ahead_is_held_then_sent_when_due(world: World) -> None:
    # GIVEN a notification for 365 days from now
    at = world.clock.now() + timedelta(days=365)
    notification = world.accept(deliver_at=at)
    # THEN every delivery waits, the inbox too, and nothing is queued
    for channel in (Channel.WEBHOOK, Channel.INBOX):
        delivery = world.delivery(notification.id, channel)
        assert (delivery.status, delivery.reason) == (DeliveryStatus.SCHEDULED, Reason.DELIVER_AT)
        assert delivery.next_attempt_at == at
    assert world.status(notification.id) is NotificationStatus.SCHEDULED
    assert world.stored(notification.id).counts.scheduled == 2
    assert world.publisher.announced == []
    assert (
        world.store.list_inbox(
            "acme", "alice", since_id="", unread_only=False, limit=10, cursor=None
        ).items
        == []
    )
    # WHEN a year minus a second passes, nothing is due
    world.clock.advance(365 * 86400 - 1)
    assert world.fire_due_timers() == 0
    # WHEN the moment comes
    world.clock.advance(1)
    assert world.fire_due_timers() == 1
    # THEN the webhook is pending and queued, the inbox delivered, the timer gone
    assert world.delivery(notification.id).status is DeliveryStatus.PENDING
    assert world.delivery(notification.id).reason is None
    assert world.delivery(notification.id, Channel.INBOX).status is DeliveryStatus.DELIVERED
    assert [(c, m.notification_id) for c, m in world.publisher.queued] == [
        (Channel.WEBHOOK, notification.id)
    ]
    assert world.stored(notification.id).counts.scheduled == 0
    assert world.store.timers == {}
    # AND the delivery goes out as any other
    world.process(notification.id)
    assert world.status(notification.id) is NotificationStatus.DELIVERED


def test_the_scan_hands_a_far_timer_to_the_queue_only_when_it_is_near(world: World) -> None:
    at = world.clock.now() + timedelta(days=30)
    world.accept(deliver_at=at)
    world.timer_queue.hinted.clear()
    assert world.scheduler.scan() == 0
    world.clock.advance(30 * 86400 - 60)
    assert world.scheduler.scan() == 1
    [(timer, delay)] = world.timer_queue.hinted
    assert (timer.kind, timer.due, delay) == (TimerKind.RELEASE, at, 60.0)


def test_a_timer_handed_over_early_waits_for_its_time(world: World) -> None:
    notification = world.accept(deliver_at=world.clock.now() + timedelta(seconds=30))
    [(timer, delay)] = world.timer_queue.hinted
    assert delay == 30.0
    progress = world.scheduler.fire(timer)
    assert (progress.finished, progress.wake_in) == (False, 30.0)
    assert world.delivery(notification.id).status is DeliveryStatus.SCHEDULED


def test_a_timer_done_twice_releases_once(world: World) -> None:
    notification = world.accept(deliver_at=world.clock.now() + timedelta(seconds=5))
    [(timer, _)] = world.timer_queue.hinted
    world.clock.advance(5)
    world.scheduler.fire(timer)
    world.scheduler.fire(timer)
    assert len(world.publisher.queued) == 1
    assert world.stored(notification.id).counts.pending == 1


def test_timers_outlive_the_scheduler_that_set_them(world: World) -> None:
    # GIVEN a notification scheduled, and every hint lost (a restart, a redeploy)
    notification = world.accept(deliver_at=world.clock.now() + timedelta(minutes=1))
    world.timer_queue.hinted.clear()
    rebuilt = World(store=world.store, clock=world.clock)
    # WHEN the new deployment's scan runs after the due time
    world.clock.advance(61)
    assert rebuilt.scheduler.scan() == 1
    [(timer, delay)] = rebuilt.timer_queue.hinted
    rebuilt.scheduler.fire(timer)
    # THEN the delivery is released all the same
    assert delay == 0.0
    assert world.delivery(notification.id).status is DeliveryStatus.PENDING


@pytest.mark.parametrize(
    ("ahead", "message"),
    [
        (timedelta(seconds=0), "future"),
        (timedelta(seconds=-60), "future"),
        (timedelta(days=365, seconds=1), "365"),
    ],
)
def test_deliver_at_must_be_future_and_within_a_year(
    world: World, ahead: timedelta, message: str
) -> None:
    with pytest.raises(Invalid, match=message) as raised:
        world.accept(deliver_at=world.clock.now() + ahead)
    assert raised.value.loc == ["deliver_at"]


def quiet(world: World, start: str, end: str, tz: str = "UTC") -> None:
    world.preferences.put_recipient(
        "acme", "alice", RecipientPreferences(quiet_hours=QuietHours(start=start, end=end, tz=tz))
    )


def test_quiet_hours_hold_deliveries_until_the_window_ends(world: World) -> None:
    # GIVEN quiet hours 09:00 to 11:30 UTC, and 10:00 now
    quiet(world, "09:00", "11:30")
    notification = world.accept()
    delivery = world.delivery(notification.id)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.SCHEDULED, Reason.QUIET_HOURS)
    assert world.status(notification.id) is NotificationStatus.SCHEDULED
    # WHEN the window ends
    world.clock.advance(90 * 60)
    world.fire_due_timers()
    # THEN it goes
    assert world.delivery(notification.id).status is DeliveryStatus.PENDING


def test_a_deliver_at_inside_quiet_hours_waits_for_their_end(world: World) -> None:
    quiet(world, "22:00", "07:00", "Europe/Paris")
    # 23:00 UTC is midnight in Paris: held until 07:00 Paris (06:00 UTC) the next day
    notification = world.accept(deliver_at=world.clock.now() + timedelta(hours=13))
    delivery = world.delivery(notification.id)
    assert delivery.reason is Reason.QUIET_HOURS
    assert delivery.next_attempt_at == world.clock.now() + timedelta(hours=20)


def test_cancel_skips_what_was_not_attempted_and_conflicts_once_all_is_final(world: World) -> None:
    notification = world.accept(deliver_at=world.clock.now() + timedelta(hours=1))
    cancelled = world.notifications.cancel("acme", notification.id)
    assert cancelled.cancelled_at == world.clock.now()
    for channel in (Channel.WEBHOOK, Channel.INBOX):
        delivery = world.delivery(notification.id, channel)
        assert (delivery.status, delivery.reason) == (DeliveryStatus.SKIPPED, Reason.CANCELLED)
    assert world.status(notification.id) is NotificationStatus.CANCELLED
    # the timer finds nothing left to send
    world.clock.advance(3600)
    world.fire_due_timers()
    assert world.publisher.queued == []
    with pytest.raises(Conflict):
        world.notifications.cancel("acme", notification.id)


def test_cancel_leaves_attempted_deliveries_alone(world: World) -> None:
    from chalicelib.ports import SendOutcome

    world.webhook._outcomes.append(SendOutcome.transient("503"))
    notification = world.accept()
    world.process(notification.id)
    world.notifications.cancel("acme", notification.id)
    assert world.delivery(notification.id).status is DeliveryStatus.RETRYING
    assert world.status(notification.id) is NotificationStatus.PROCESSING


def test_a_topic_notification_for_later_is_released_after_its_fan_out(world: World) -> None:
    # GIVEN three subscribers, one of them in quiet hours at the due time
    for rid in ("bob", "carol"):
        world.recipient(rid, webhook_url=HOOK)
    for rid in ("alice", "bob", "carol"):
        world.subscribe(f"s-{rid}", rid, "ops.#")
    world.preferences.put_recipient(
        "acme",
        "carol",
        RecipientPreferences(quiet_hours=QuietHours(start="10:00", end="12:00", tz="UTC")),
    )
    notification = world.accept(
        topic="ops.db", deliver_at=world.clock.now() + timedelta(minutes=10)
    )
    world.expand_all(notification.id)
    assert world.stored(notification.id).counts.scheduled == 6
    assert world.status(notification.id) is NotificationStatus.SCHEDULED
    # WHEN the due time comes: alice and bob go, carol waits for her quiet hours' end
    world.clock.advance(600)
    world.fire_due_timers()
    assert sorted(m.recipient_id for _, m in world.publisher.queued) == ["alice", "bob"]
    carol = world.delivery(notification.id, recipient_id="carol")
    assert (carol.status, carol.reason) == (DeliveryStatus.SCHEDULED, Reason.QUIET_HOURS)
    world.clock.advance(2 * 3600)
    world.fire_due_timers()
    assert world.delivery(notification.id, recipient_id="carol").status is DeliveryStatus.PENDING


def test_a_topic_cancelled_during_its_fan_out_sends_nothing_more() -> None:
    # GIVEN a topic of three subscribers expanded one page at a time, the first page done
    world = World(page_size=1)
    for rid in ("alice", "bob", "carol"):
        world.recipient(rid, webhook_url=HOOK)
        world.subscribe(f"s-{rid}", rid, "ops.#")
    notification = world.accept(topic="ops.db")
    world.fanout.expand("acme", notification.id)
    # WHEN it is cancelled, and the fan-out goes on
    world.notifications.cancel("acme", notification.id)
    world.expand_all(notification.id)
    # THEN every delivery not done already is skipped as cancelled (the first page's inbox
    # item was shown when it was written), and the notification is cancelled
    outcomes = {
        (d.recipient_id, d.channel, d.status, d.reason) for d in world.store.deliveries.values()
    }
    assert outcomes == {
        ("alice", Channel.INBOX, DeliveryStatus.DELIVERED, None),
        *(
            (rid, channel, DeliveryStatus.SKIPPED, Reason.CANCELLED)
            for rid in ("alice", "bob", "carol")
            for channel in (Channel.WEBHOOK, Channel.INBOX)
            if (rid, channel) != ("alice", Channel.INBOX)
        ),
    }
    # the first page's message, queued before the cancel, sends nothing
    assert [m.recipient_id for _, m in world.publisher.queued] == ["alice"]
    assert world.process(notification.id, recipient_id="alice").finished
    assert world.webhook.sent == []
    assert world.status(notification.id) is NotificationStatus.CANCELLED
    counts = world.stored(notification.id).counts
    assert (counts.skipped, counts.pending, counts.delivered) == (5, 0, 1)
