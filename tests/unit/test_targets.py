"""One delivery with several targets (push tokens, Apprise URLs): each reached once, invalid
push tokens forgotten, a delivery whose every token is invalid skipped (GIVEN / WHEN / THEN)."""

from __future__ import annotations

from chalicelib.domain.targets import Fate, TargetResult, combine
from chalicelib.models.common import (
    Channel,
    DeliveryStatus,
    NotificationStatus,
    PushPlatform,
    Reason,
)
from chalicelib.models.stored import Delivery, PushToken, Tenant
from chalicelib.ports import Outgoing, SendOutcome
from tests.unit.domain_world import World


class TargetSender:
    """Answers each target with the fate scripted for it, attempt after attempt."""

    def __init__(self, channel: Channel, *attempts: dict[str, Fate]) -> None:
        self.channel = channel
        self._attempts = list(attempts)
        self.asked: list[list[str]] = []

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        targets = list(delivery.targets or [])
        self.asked.append(targets)
        fates = self._attempts.pop(0)
        return combine(
            [
                TargetResult(t, fates[t], None if fates[t] is Fate.REACHED else "no")
                for t in targets
            ],
            reached_before=delivery.targets_reached,
        )


def world_with(sender: TargetSender, *tokens: str) -> World:
    world = World(others={Channel.PUSH: sender})
    world.recipient(
        push_tokens=[  # type: ignore[arg-type]
            PushToken(platform=PushPlatform(t.split(":")[0]), token=t.split(":")[1]) for t in tokens
        ]
    )
    return world


def test_a_retry_sends_only_to_the_targets_not_yet_reached() -> None:
    # GIVEN three tokens: one reached, one failing for now, one the platform says is invalid
    sender = TargetSender(
        Channel.PUSH,
        {"fcm:a": Fate.REACHED, "apns:b": Fate.TRANSIENT, "fcm:c": Fate.INVALID},
        {"apns:b": Fate.REACHED},
    )
    world = world_with(sender, "fcm:a", "apns:b", "fcm:c")
    notification = world.accept(channels=[Channel.PUSH])
    assert world.delivery(notification.id, Channel.PUSH).targets == ["fcm:a", "apns:b", "fcm:c"]
    # WHEN it is attempted, and again once due
    world.process(notification.id, Channel.PUSH)
    retrying = world.delivery(notification.id, Channel.PUSH)
    world.clock.advance(60)
    world.process(notification.id, Channel.PUSH)
    # THEN the second attempt went to the token still open only, and the delivery is delivered
    assert (retrying.status, retrying.targets, retrying.targets_reached) == (
        DeliveryStatus.RETRYING,
        ["apns:b"],
        1,
    )
    assert sender.asked == [["fcm:a", "apns:b", "fcm:c"], ["apns:b"]]
    assert world.delivery(notification.id, Channel.PUSH).status is DeliveryStatus.DELIVERED
    # AND the invalid token left the recipient
    recipient = world.store.get_recipient("acme", "alice")
    assert recipient is not None
    assert [token.target for token in recipient.push_tokens or []] == ["fcm:a", "apns:b"]


def test_a_token_found_invalid_after_others_were_reached_leaves_the_delivery_delivered() -> None:
    sender = TargetSender(
        Channel.PUSH,
        {"fcm:a": Fate.REACHED, "apns:b": Fate.TRANSIENT},
        {"apns:b": Fate.INVALID},
    )
    world = world_with(sender, "fcm:a", "apns:b")
    notification = world.accept(channels=[Channel.PUSH])
    world.process(notification.id, Channel.PUSH)
    world.clock.advance(60)
    world.process(notification.id, Channel.PUSH)
    assert world.delivery(notification.id, Channel.PUSH).status is DeliveryStatus.DELIVERED


def test_every_token_invalid_skips_the_delivery_and_empties_the_recipients_tokens() -> None:
    # GIVEN two tokens the platform no longer knows
    sender = TargetSender(Channel.PUSH, {"fcm:a": Fate.INVALID, "apns:b": Fate.INVALID})
    world = world_with(sender, "fcm:a", "apns:b")
    notification = world.accept(channels=[Channel.PUSH])
    # WHEN the push delivery is attempted
    world.process(notification.id, Channel.PUSH)
    # THEN it is skipped with the reason, and the recipient has no tokens left
    delivery = world.delivery(notification.id, Channel.PUSH)
    assert (delivery.status, delivery.reason) == (
        DeliveryStatus.SKIPPED,
        Reason.PUSH_TOKEN_INVALID,
    )
    assert world.status(notification.id) is NotificationStatus.SKIPPED
    recipient = world.store.get_recipient("acme", "alice")
    assert recipient is not None
    assert recipient.push_tokens is None
    assert world.publisher.dead == []


def test_targets_failing_for_good_make_a_dead_letter_that_keeps_them_for_a_retry() -> None:
    sender = TargetSender(Channel.PUSH, {"fcm:a": Fate.PERMANENT, "apns:b": Fate.INVALID})
    world = world_with(sender, "fcm:a", "apns:b")
    notification = world.accept(channels=[Channel.PUSH])
    world.process(notification.id, Channel.PUSH)
    failed = world.delivery(notification.id, Channel.PUSH)
    assert (failed.status, failed.targets) == (DeliveryStatus.FAILED, ["fcm:a"])
    assert [channel for channel, _ in world.publisher.dead] == [Channel.PUSH]


def test_a_recipient_without_tokens_gets_a_skipped_push_delivery() -> None:
    world = World()
    world.recipient()
    notification = world.accept(channels=[Channel.PUSH, Channel.APPRISE, Channel.SLACK])
    skipped = {
        d.channel: (d.status, d.reason, d.last_error)
        for d in world.stored(notification.id).deliveries or []
    }
    assert skipped == {
        Channel.PUSH: (DeliveryStatus.SKIPPED, Reason.NO_ADDRESS, "recipient has no push_tokens"),
        Channel.APPRISE: (
            DeliveryStatus.SKIPPED,
            Reason.NO_ADDRESS,
            "recipient has no apprise_urls",
        ),
        Channel.SLACK: (
            DeliveryStatus.SKIPPED,
            Reason.NO_ADDRESS,
            "recipient has no slack_webhook_url",
        ),
    }


def test_the_default_channels_include_each_channel_with_an_address() -> None:
    world = World()
    world.recipient(
        slack_webhook_url="https://hooks.slack.com/services/T/B/X",
        apprise_urls=["tgram://1:a/2"],  # type: ignore[arg-type]
    )
    notification = world.accept()
    assert [d.channel for d in world.stored(notification.id).deliveries or []] == [
        Channel.SLACK,
        Channel.APPRISE,
        Channel.INBOX,
    ]
