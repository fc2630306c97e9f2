"""Attempting deliveries: leases, outcomes, retries, dead letters (GIVEN / WHEN / THEN, fakes)."""

from __future__ import annotations

import pytest

from chalicelib.adapters.faults import FaultInjector
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Reason
from chalicelib.ports import SendOutcome
from tests.fakes import Crash, ScriptedSender
from tests.unit.domain_world import LEASE, World, key


class RecordingInjector(FaultInjector):
    """Crashes (raises Crash) at the points asked for, once each; keeps the journal in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_at: set[str] = set()
        self.journal: list[tuple[str, str]] = []

    def crash_point(self, point: str, subject: str) -> None:
        if point in self.crash_at:
            self.crash_at.discard(point)
            raise Crash(point)

    def note(self, event: str, subject: str) -> None:
        self.journal.append((event, subject))


@pytest.fixture
def world() -> World:
    w = World()
    w.recipient(webhook_url="https://hooks.example.com/in", email="alice@example.com")
    return w


def with_faults(world: World) -> RecordingInjector:
    """Wraps the world's senders and delivery store as the local stage's wiring does."""
    faults = RecordingInjector()
    world.faults = faults
    world.__post_init__()
    return faults


def scripted(world: World, *outcomes: SendOutcome) -> None:
    world.webhook = ScriptedSender(Channel.WEBHOOK, *outcomes)
    world.__post_init__()


def test_a_due_delivery_is_sent_once_and_recorded_with_its_counts(world: World) -> None:
    # GIVEN a notification to the webhook and the inbox
    notification = world.accept(channels=[Channel.WEBHOOK, Channel.INBOX])
    assert world.status(notification.id) is NotificationStatus.ACCEPTED
    # WHEN its webhook delivery is processed
    progress = world.process(notification.id)
    # THEN it is sent once and the notification's counts and copy follow
    assert progress.finished
    stored = world.stored(notification.id)
    assert world.status(notification.id) is NotificationStatus.DELIVERED
    assert stored.counts.delivered == 2
    assert stored.counts.pending == 0
    assert stored.attempted == 1
    assert stored.deliveries is not None
    assert [(d.channel, d.status, d.attempts) for d in stored.deliveries] == [
        (Channel.WEBHOOK, DeliveryStatus.DELIVERED, 1),
        (Channel.INBOX, DeliveryStatus.DELIVERED, 0),
    ]
    assert world.webhook.sent == [(notification.id, "alice", f"msg_{notification.id}")]
    assert world.delivery(notification.id).sweep_at is None


def test_an_inbox_delivery_needs_no_message(world: World) -> None:
    notification = world.accept(channels=[Channel.INBOX])
    assert world.publisher.announced == []
    assert world.status(notification.id) is NotificationStatus.DELIVERED
    [item] = world.inbox.list("acme", "alice", unread_only=True, limit=10, cursor=None).items
    assert item.notification_id == notification.id


def test_one_announcement_names_every_queued_channel(world: World) -> None:
    notification = world.accept()
    [(message, channels)] = world.publisher.announced
    assert message.notification_id == notification.id
    assert message.recipient_id == "alice"
    assert channels == [Channel.WEBHOOK, Channel.EMAIL]


def test_the_same_message_again_sends_nothing(world: World) -> None:
    notification = world.accept(channels=[Channel.WEBHOOK])
    world.process(notification.id)
    again = world.process(notification.id)
    assert again.finished
    assert len(world.webhook.sent) == 1


def test_a_concurrent_receipt_backs_off_while_the_lease_is_held(world: World) -> None:
    notification = world.accept(channels=[Channel.WEBHOOK])
    seen = []
    world.webhook.during_send.append(lambda: seen.append(world.process(notification.id)))
    world.process(notification.id)
    assert len(world.webhook.sent) == 1
    assert not seen[0].finished
    assert seen[0].wake_in == pytest.approx(LEASE.total_seconds())


def test_channels_are_attempted_and_recorded_on_their_own(world: World) -> None:
    # GIVEN a webhook that fails and an email that works
    scripted(world, SendOutcome.transient("HTTP 503"))
    notification = world.accept(channels=[Channel.WEBHOOK, Channel.EMAIL])
    # WHEN each channel's delivery is processed
    world.process(notification.id, Channel.WEBHOOK)
    world.process(notification.id, Channel.EMAIL)
    # THEN each is recorded whatever the other did
    assert world.delivery(notification.id, Channel.EMAIL).status is DeliveryStatus.DELIVERED
    assert world.delivery(notification.id, Channel.WEBHOOK).status is DeliveryStatus.RETRYING
    assert world.status(notification.id) is NotificationStatus.PROCESSING


def test_a_transient_failure_schedules_the_next_attempt(world: World) -> None:
    scripted(world, SendOutcome.transient("HTTP 503"))
    notification = world.accept(channels=[Channel.WEBHOOK])
    progress = world.process(notification.id)
    assert not progress.finished
    assert 0.8 <= (progress.wake_in or 0) <= 1.2
    delivery = world.delivery(notification.id)
    assert delivery.status is DeliveryStatus.RETRYING
    assert delivery.last_error == "HTTP 503"
    assert world.stored(notification.id).counts.retrying == 1
    world.clock.advance(progress.wake_in or 0)
    assert world.process(notification.id).finished
    assert world.delivery(notification.id).attempts == 2
    assert world.stored(notification.id).counts.delivered == 1


def test_retry_after_sets_the_delay_capped_at_the_longest_step(world: World) -> None:
    scripted(world, SendOutcome.transient("HTTP 429", retry_after=3600))
    notification = world.accept(channels=[Channel.WEBHOOK])
    progress = world.process(notification.id)
    assert progress.wake_in == pytest.approx(world.policy.longest_delay)


def test_a_permanent_failure_fails_at_once_and_becomes_a_dead_letter(world: World) -> None:
    scripted(world, SendOutcome.permanent_failure("HTTP 410"))
    notification = world.accept(channels=[Channel.WEBHOOK, Channel.INBOX])
    assert world.process(notification.id).finished
    assert world.status(notification.id) is NotificationStatus.PARTIALLY_DELIVERED
    assert world.delivery(notification.id).status is DeliveryStatus.FAILED
    [letter] = world.store.list_dead_letters("acme", limit=10, cursor=None).items
    assert (letter.notification_id, letter.channel, letter.attempts, letter.last_error) == (
        notification.id,
        Channel.WEBHOOK,
        1,
        "HTTP 410",
    )
    assert [(channel, m.notification_id) for channel, m in world.publisher.dead] == [
        (Channel.WEBHOOK, notification.id)
    ]


def test_the_last_attempt_fails_the_delivery(world: World) -> None:
    scripted(world, *[SendOutcome.transient("HTTP 500")] * 20)
    notification = world.accept(channels=[Channel.WEBHOOK])
    for _ in range(world.policy.max_attempts):
        progress = world.process(notification.id)
        world.clock.advance(progress.wake_in or 0)
    assert progress.finished
    assert world.status(notification.id) is NotificationStatus.FAILED
    assert world.delivery(notification.id).attempts == world.policy.max_attempts == 8
    assert len(world.webhook.sent) == 8


def test_a_crash_after_send_resends_once_with_the_same_webhook_id(world: World) -> None:
    faults = with_faults(world)
    notification = world.accept(channels=[Channel.WEBHOOK])
    faults.crash_at.add("after_send")
    with pytest.raises(Crash):
        world.process(notification.id)
    early = world.process(notification.id)
    assert not early.finished
    world.clock.advance(LEASE.total_seconds())
    assert world.process(notification.id).finished
    assert [sent[2] for sent in world.webhook.sent] == [f"msg_{notification.id}"] * 2
    assert world.status(notification.id) is NotificationStatus.DELIVERED


def test_a_crash_before_send_sends_after_the_lease(world: World) -> None:
    faults = with_faults(world)
    notification = world.accept(channels=[Channel.WEBHOOK])
    faults.crash_at.add("before_send")
    with pytest.raises(Crash):
        world.process(notification.id)
    world.clock.advance(LEASE.total_seconds())
    assert world.process(notification.id).finished
    assert faults.journal.count(("attempt", key(notification.id).subject())) == 1


def test_a_success_counts_even_if_the_lease_ran_out(world: World) -> None:
    notification = world.accept(channels=[Channel.WEBHOOK])
    world.webhook.during_send.append(lambda: world.clock.advance(LEASE.total_seconds() + 1))
    assert world.process(notification.id).finished
    assert world.delivery(notification.id).status is DeliveryStatus.DELIVERED


def test_a_failure_after_the_lease_was_lost_does_not_count(world: World) -> None:
    # GIVEN a slow failing attempt overtaken by another attempt that succeeds
    scripted(world, SendOutcome.transient("HTTP 503"), SendOutcome.ok())
    notification = world.accept(channels=[Channel.WEBHOOK])

    def overtaken() -> None:
        world.clock.advance(LEASE.total_seconds() + 1)
        world.webhook.during_send.clear()
        world.process(notification.id)

    world.webhook.during_send.append(overtaken)
    # WHEN the slow attempt records its failure
    world.process(notification.id)
    # THEN the success stands
    delivery = world.delivery(notification.id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert world.stored(notification.id).counts.delivered == 1
    assert world.stored(notification.id).counts.retrying == 0


def test_a_requested_channel_without_an_address_is_skipped_with_its_reason(
    world: World,
) -> None:
    world.recipient("bob")
    notification = world.accept(recipient_id="bob", channels=[Channel.EMAIL])
    assert world.status(notification.id) is NotificationStatus.SKIPPED
    delivery = world.delivery(notification.id, Channel.EMAIL, "bob")
    assert delivery.reason is Reason.NO_ADDRESS
    assert delivery.last_error == "recipient has no email"


def test_retry_gives_a_fresh_budget_and_never_resends_delivered(world: World) -> None:
    scripted(world, SendOutcome.permanent_failure("HTTP 410"))
    notification = world.accept(channels=[Channel.WEBHOOK, Channel.INBOX])
    world.process(notification.id)
    assert world.dead_letters.retry("acme", notification.id) == 1
    assert world.store.list_dead_letters("acme", limit=10, cursor=None).items == []
    assert world.publisher.queued[-1][0] is Channel.WEBHOOK
    assert world.process(notification.id).finished
    assert world.status(notification.id) is NotificationStatus.DELIVERED
    stored = world.stored(notification.id)
    assert stored.deliveries is not None
    assert [d.attempts for d in stored.deliveries] == [2, 0]
    assert world.dead_letters.retry("acme", notification.id) == 0


def test_fault_runs_can_tell_a_death_after_send_from_a_superseded_success(world: World) -> None:
    faults = with_faults(world)
    notification = world.accept(channels=[Channel.WEBHOOK])
    faults.crash_at.add("after_send")
    with pytest.raises(Crash):
        world.process(notification.id)
    world.clock.advance(LEASE.total_seconds())
    world.process(notification.id)
    subject = key(notification.id).subject()
    assert faults.journal == [("attempt", subject), ("attempt", subject), ("recorded", subject)]


def test_a_success_recorded_by_another_attempt_is_witnessed_as_superseded(world: World) -> None:
    faults = with_faults(world)
    other = world.accept(channels=[Channel.WEBHOOK])

    def slow_send_overtaken() -> None:
        world.clock.advance(LEASE.total_seconds() + 1)
        world.process(other.id)

    world.webhook.during_send.append(slow_send_overtaken)
    world.process(other.id)
    subject = key(other.id).subject()
    assert sorted(faults.journal) == [
        ("attempt", subject),
        ("attempt", subject),
        ("recorded", subject),
        ("superseded", subject),
    ]


def test_every_attempt_is_logged_with_its_status_latency_and_next_retry(world: World) -> None:
    # GIVEN a receiver that answers 503 after 0.25 s, then 200
    scripted(world, SendOutcome.transient("HTTP 503", http_status=503), SendOutcome.ok(200))
    world.webhook.during_send.append(lambda: world.clock.advance(0.25))
    notification = world.accept(channels=[Channel.WEBHOOK])
    # WHEN it is attempted twice
    started = world.clock.now()
    progress = world.process(notification.id)
    world.clock.advance(progress.wake_in or 0)
    world.process(notification.id)
    # THEN the delivery's log has both attempts, oldest first
    first, second = world.delivery(notification.id).attempt_log
    assert first.at == started
    assert (first.outcome, first.http_status, first.latency_ms) == (
        DeliveryStatus.RETRYING,
        503,
        250,
    )
    assert first.error == "HTTP 503"
    assert first.next_attempt_at is not None
    assert first.next_attempt_at > started
    assert first.endpoint == "https://hooks.example.com"
    assert (second.outcome, second.http_status, second.error, second.next_attempt_at) == (
        DeliveryStatus.DELIVERED,
        200,
        None,
        None,
    )
    # AND the notification's inline copy does not carry it
    stored = world.stored(notification.id)
    assert stored.deliveries is not None
    assert [d.attempt_log for d in stored.deliveries] == [[]]
