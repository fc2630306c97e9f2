"""Attempting deliveries: leases, outcomes, retries, dead letters (GIVEN / WHEN / THEN, fakes)."""

from __future__ import annotations

import pytest

from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus
from chalicelib.ports import SendOutcome
from tests.fakes import Crash, ScriptedSender
from tests.unit.domain_world import LEASE, World


@pytest.fixture
def world() -> World:
    w = World()
    w.recipient(webhook_url="https://hooks.example.com/in")
    return w


def test_a_due_delivery_is_sent_once_and_recorded(world: World) -> None:
    notification = world.accept(channels=["webhook", "inbox"])
    progress = world.deliveries.process("acme", notification.id)
    assert progress.finished
    stored = world.stored(notification.id)
    assert stored.status is NotificationStatus.DELIVERED
    assert [(d.channel, d.status, d.attempts) for d in stored.deliveries] == [
        (Channel.WEBHOOK, DeliveryStatus.DELIVERED, 1),
        (Channel.INBOX, DeliveryStatus.DELIVERED, 1),
    ]
    assert world.webhook.sent == [(notification.id, f"msg_{notification.id}")]
    assert stored.sweep_at is None


def test_the_same_message_again_sends_nothing(world: World) -> None:
    notification = world.accept(channels=["webhook"])
    world.deliveries.process("acme", notification.id)
    again = world.deliveries.process("acme", notification.id)
    assert again.finished
    assert len(world.webhook.sent) == 1


def test_a_concurrent_receipt_backs_off_while_the_lease_is_held(world: World) -> None:
    notification = world.accept(channels=["webhook"])
    seen = []
    world.webhook.during_send.append(
        lambda: seen.append(world.deliveries.process("acme", notification.id))
    )
    world.deliveries.process("acme", notification.id)
    assert len(world.webhook.sent) == 1
    assert not seen[0].finished
    assert seen[0].wake_in == pytest.approx(LEASE.total_seconds())


def test_a_transient_failure_schedules_the_next_attempt(world: World) -> None:
    world.webhook = ScriptedSender(Channel.WEBHOOK, SendOutcome.transient("HTTP 503"))
    world.__post_init__()
    notification = world.accept(channels=["webhook"])
    progress = world.deliveries.process("acme", notification.id)
    assert not progress.finished
    assert 0.8 <= (progress.wake_in or 0) <= 1.2
    delivery = world.stored(notification.id).deliveries[0]
    assert delivery.status is DeliveryStatus.RETRYING
    assert delivery.last_error == "HTTP 503"
    assert world.stored(notification.id).status is NotificationStatus.PROCESSING
    world.clock.advance(progress.wake_in or 0)
    assert world.deliveries.process("acme", notification.id).finished
    assert world.stored(notification.id).deliveries[0].attempts == 2


def test_retry_after_sets_the_delay_capped_at_the_longest_step(world: World) -> None:
    world.webhook = ScriptedSender(
        Channel.WEBHOOK, SendOutcome.transient("HTTP 429", retry_after=3600)
    )
    world.__post_init__()
    notification = world.accept(channels=["webhook"])
    progress = world.deliveries.process("acme", notification.id)
    assert progress.wake_in == pytest.approx(world.policy.longest_delay)


def test_a_permanent_failure_fails_at_once_and_becomes_a_dead_letter(world: World) -> None:
    world.webhook = ScriptedSender(Channel.WEBHOOK, SendOutcome.permanent_failure("HTTP 410"))
    world.__post_init__()
    notification = world.accept(channels=["webhook", "inbox"])
    assert world.deliveries.process("acme", notification.id).finished
    stored = world.stored(notification.id)
    assert stored.status is NotificationStatus.PARTIALLY_DELIVERED
    assert stored.deliveries[0].status is DeliveryStatus.FAILED
    [letter] = world.store.list_dead_letters("acme", limit=10, cursor=None).items
    assert (letter.notification_id, letter.channel, letter.attempts, letter.last_error) == (
        notification.id,
        Channel.WEBHOOK,
        1,
        "HTTP 410",
    )
    assert [message.notification_id for message in world.publisher.dead] == [notification.id]


def test_the_last_attempt_fails_the_delivery(world: World) -> None:
    world.webhook = ScriptedSender(Channel.WEBHOOK, *[SendOutcome.transient("HTTP 500")] * 20)
    world.__post_init__()
    notification = world.accept(channels=["webhook"])
    for _ in range(world.policy.max_attempts):
        progress = world.deliveries.process("acme", notification.id)
        world.clock.advance(progress.wake_in or 0)
    assert progress.finished
    stored = world.stored(notification.id)
    assert stored.status is NotificationStatus.FAILED
    assert stored.deliveries[0].attempts == world.policy.max_attempts == 8
    assert len(world.webhook.sent) == 8


def test_a_crash_after_send_resends_once_with_the_same_webhook_id(world: World) -> None:
    notification = world.accept(channels=["webhook"])
    world.faults.crash_at.add("after_send")
    with pytest.raises(Crash):
        world.deliveries.process("acme", notification.id)
    early = world.deliveries.process("acme", notification.id)
    assert not early.finished
    assert len(world.webhook.sent) == 1
    world.clock.advance(LEASE.total_seconds())
    assert world.deliveries.process("acme", notification.id).finished
    assert world.webhook.sent == [(notification.id, f"msg_{notification.id}")] * 2
    assert world.stored(notification.id).status is NotificationStatus.DELIVERED


def test_a_crash_before_send_sends_after_the_lease(world: World) -> None:
    notification = world.accept(channels=["webhook"])
    world.faults.crash_at.add("before_send")
    with pytest.raises(Crash):
        world.deliveries.process("acme", notification.id)
    world.clock.advance(LEASE.total_seconds())
    assert world.deliveries.process("acme", notification.id).finished
    assert len(world.webhook.sent) == 1


def test_a_success_counts_even_if_the_lease_ran_out(world: World) -> None:
    notification = world.accept(channels=["webhook"])
    world.webhook.during_send.append(lambda: world.clock.advance(LEASE.total_seconds() + 1))
    assert world.deliveries.process("acme", notification.id).finished
    assert world.stored(notification.id).deliveries[0].status is DeliveryStatus.DELIVERED


def test_a_write_race_is_redone_on_fresh_state(world: World) -> None:
    notification = world.accept(channels=["webhook"])

    def concurrent_writer() -> None:
        other = world.stored(notification.id)
        world.store.save_notification(other)

    world.store.before_save.append(concurrent_writer)
    assert world.deliveries.process("acme", notification.id).finished
    assert len(world.webhook.sent) == 1


def test_every_delivery_skipped_ends_skipped(world: World) -> None:
    notification = world.accept(channels=["email"])
    assert world.deliveries.process("acme", notification.id).finished
    stored = world.stored(notification.id)
    assert stored.status is NotificationStatus.SKIPPED
    assert stored.deliveries[0].last_error == "recipient has no email"


def test_retry_gives_a_fresh_budget_and_never_resends_delivered(world: World) -> None:
    world.webhook = ScriptedSender(Channel.WEBHOOK, SendOutcome.permanent_failure("HTTP 410"))
    world.__post_init__()
    notification = world.accept(channels=["webhook", "inbox"])
    world.deliveries.process("acme", notification.id)
    assert world.dead_letters.retry("acme", notification.id) == 1
    assert world.store.list_dead_letters("acme", limit=10, cursor=None).items == []
    assert world.publisher.events[-1].notification_id == notification.id
    assert world.deliveries.process("acme", notification.id).finished
    stored = world.stored(notification.id)
    assert stored.status is NotificationStatus.DELIVERED
    assert [d.attempts for d in stored.deliveries] == [2, 1]
    assert world.dead_letters.retry("acme", notification.id) == 0


def test_fault_runs_can_tell_a_death_after_send_from_a_superseded_success(world: World) -> None:
    notification = world.accept(channels=["webhook"])
    world.faults.crash_at.add("after_send")
    with pytest.raises(Crash):
        world.deliveries.process("acme", notification.id)
    world.clock.advance(LEASE.total_seconds())
    world.deliveries.process("acme", notification.id)
    subject = f"{notification.id}/webhook"
    assert world.faults.witnessed == [
        ("attempt", subject),
        ("attempt", subject),
        ("recorded", subject),
    ]


def test_a_success_recorded_by_another_attempt_is_witnessed_as_superseded(world: World) -> None:
    other = world.accept(channels=["webhook"])

    def slow_send_overtaken() -> None:
        world.clock.advance(LEASE.total_seconds() + 1)
        world.deliveries.process("acme", other.id)

    world.webhook.during_send.append(slow_send_overtaken)
    world.deliveries.process("acme", other.id)
    subject = f"{other.id}/webhook"
    assert sorted(world.faults.witnessed) == [
        ("attempt", subject),
        ("attempt", subject),
        ("recorded", subject),
        ("superseded", subject),
    ]
