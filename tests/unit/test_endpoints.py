"""Endpoint health: a webhook failing for longer than the period with no success between is
disabled, its deliveries skipped; enabled again by route or by a new URL; while it fails, its
concurrent sends are capped (GIVEN / WHEN / THEN, fakes, an injected clock)."""

from __future__ import annotations

import pytest

from chalicelib.domain.recipients import RecipientDetails
from chalicelib.models.common import Channel, DeliveryStatus, Reason
from chalicelib.ports import SendOutcome
from tests.fakes import ScriptedSender
from tests.unit.domain_world import DISABLE_AFTER, World

URL = "https://hooks.example.com/in"


@pytest.fixture
def world() -> World:
    w = World()
    w.webhook = ScriptedSender(Channel.WEBHOOK, *[SendOutcome.permanent_failure("HTTP 404")] * 50)
    w.__post_init__()
    w.recipient(webhook_url=URL)
    return w


def fail_once(world: World) -> str:
    notification = world.accept(channels=[Channel.WEBHOOK])
    world.process(notification.id)
    return notification.id


def test_a_webhook_failing_past_the_period_is_disabled_and_then_skipped(world: World) -> None:
    # GIVEN a webhook that has failed since a first failure
    fail_once(world)
    assert world.store.get_recipient("acme", "alice").webhook_failing_since == world.clock.now()  # type: ignore[union-attr]
    # WHEN it fails again after the period, with no success between
    world.clock.advance(DISABLE_AFTER.total_seconds() + 1)
    fail_once(world)
    # THEN it is disabled, and a new delivery to it is skipped with no attempt
    recipient = world.store.get_recipient("acme", "alice")
    assert recipient is not None
    assert recipient.webhook_disabled_at == world.clock.now()
    attempts = len(world.webhook.sent)
    later = world.accept(channels=[Channel.WEBHOOK])
    delivery = world.delivery(later.id)
    assert delivery.status is DeliveryStatus.SKIPPED
    assert delivery.reason is Reason.ENDPOINT_DISABLED
    assert world.publisher.announced[-1][0].notification_id != later.id
    assert len(world.webhook.sent) == attempts


def test_a_success_between_failures_restarts_the_period(world: World) -> None:
    fail_once(world)
    world.clock.advance(DISABLE_AFTER.total_seconds() / 2)
    world.webhook = ScriptedSender(
        Channel.WEBHOOK, SendOutcome.ok(), *[SendOutcome.transient("x")] * 9
    )
    world.__post_init__()
    good = world.accept(channels=[Channel.WEBHOOK])
    world.process(good.id)
    world.clock.advance(DISABLE_AFTER.total_seconds() / 2 + 1)
    fail_once(world)
    recipient = world.store.get_recipient("acme", "alice")
    assert recipient is not None
    assert recipient.webhook_disabled_at is None


def test_a_retry_to_a_disabled_endpoint_is_skipped_without_an_attempt(world: World) -> None:
    # GIVEN a delivery waiting for its retry when the endpoint gets disabled
    world.webhook = ScriptedSender(Channel.WEBHOOK, *[SendOutcome.transient("HTTP 503")] * 50)
    world.__post_init__()
    notification = world.accept(channels=[Channel.WEBHOOK])
    progress = world.process(notification.id)
    recipient = world.store.get_recipient("acme", "alice")
    assert recipient is not None
    assert recipient.webhook_failing_since is not None
    world.store.disable_webhook(
        "acme", "alice", URL, recipient.webhook_failing_since, world.clock.now()
    )
    # WHEN its retry comes due
    world.clock.advance(progress.wake_in or 0)
    sent = len(world.webhook.sent)
    assert world.process(notification.id).finished
    # THEN it is skipped, not attempted
    assert len(world.webhook.sent) == sent
    assert world.delivery(notification.id).reason is Reason.ENDPOINT_DISABLED
    assert world.stored(notification.id).counts.skipped == 1


@pytest.mark.parametrize("how", ["route", "new url"])
def test_a_disabled_webhook_is_enabled_again(world: World, how: str) -> None:
    fail_once(world)
    world.clock.advance(DISABLE_AFTER.total_seconds() + 1)
    fail_once(world)
    if how == "route":
        world.recipients.enable_webhook("acme", "alice")
    else:
        world.recipients.put("acme", "alice", RecipientDetails(webhook_url=URL + "/v2"))
    recipient = world.store.get_recipient("acme", "alice")
    assert recipient is not None
    assert recipient.webhook_disabled_at is None
    assert recipient.webhook_failing_since is None


def test_a_put_that_keeps_the_url_keeps_the_endpoint_disabled(world: World) -> None:
    fail_once(world)
    world.clock.advance(DISABLE_AFTER.total_seconds() + 1)
    fail_once(world)
    world.recipients.put("acme", "alice", RecipientDetails(webhook_url=URL, name="Alice"))
    recipient = world.store.get_recipient("acme", "alice")
    assert recipient is not None
    assert recipient.webhook_disabled_at is not None


def test_a_failing_endpoint_gets_at_most_its_slots_of_concurrent_sends(world: World) -> None:
    # GIVEN an endpoint that is failing, and three deliveries due to it
    fail_once(world)
    notifications = [world.accept(channels=[Channel.WEBHOOK]) for _ in range(3)]
    world.webhook = ScriptedSender(Channel.WEBHOOK)
    world.__post_init__()
    waits = {}

    # WHEN the first send is still in flight while the others come due (each nested)
    def nested(index: int) -> None:
        if index < len(notifications):
            world.webhook.during_send.append(lambda: nested(index + 1))
            waits[index] = world.process(notifications[index].id)

    world.webhook.during_send.append(lambda: nested(1))
    world.process(notifications[0].id)
    # THEN two sends ran at once, the third waited for a slot
    assert len(world.webhook.sent) == 2
    assert waits[1].finished
    assert not waits[2].finished
    assert waits[2].wake_in is not None
    assert 0 < waits[2].wake_in <= 2.0
    assert world.delivery(notifications[2].id).attempts == 0
