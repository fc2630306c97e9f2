"""The console's overview on fakes: the last day's notifications by status, endpoints in
trouble, dead letters; bounded reads."""

from __future__ import annotations

from chalicelib.domain.console import OverviewService
from chalicelib.models.common import Channel, NotificationStatus
from chalicelib.ports import SendOutcome
from tests.fakes import ScriptedSender
from tests.unit.domain_world import World


def overview_of(world: World, read_limit: int = 500) -> OverviewService:
    return OverviewService(
        notifications=world.store,
        recipients=world.store,
        dead_letters=world.store,
        clock=world.clock,
        read_limit=read_limit,
    )


def test_the_overview_counts_the_last_day_by_status_and_lists_trouble() -> None:
    # GIVEN a notification two days old, then one delivered and one failed for good today
    world = World()
    world.recipient(webhook_url="https://hooks.example.com/in")
    world.recipient("bob", email="bob@example.com")
    world.accept(channels=[Channel.INBOX])
    world.clock.advance(2 * 24 * 3600)
    world.webhook = ScriptedSender(
        Channel.WEBHOOK, SendOutcome.ok(), SendOutcome.permanent_failure("HTTP 410")
    )
    world.__post_init__()
    delivered = world.accept(channels=[Channel.WEBHOOK])
    world.process(delivered.id)
    failed = world.accept(channels=[Channel.WEBHOOK])
    world.process(failed.id)
    # AND alice's webhook marked failing, a third recipient's disabled
    world.store.note_webhook_failure(
        "acme", "alice", "https://hooks.example.com/in", world.clock.now()
    )
    world.recipient("carol", webhook_url="https://carol.example.com/in")
    world.store.note_webhook_failure(
        "acme", "carol", "https://carol.example.com/in", world.clock.now()
    )
    world.store.disable_webhook(
        "acme", "carol", "https://carol.example.com/in", world.clock.now(), world.clock.now()
    )
    # WHEN the overview is read
    overview = overview_of(world).overview("acme")
    # THEN it counts today's two only, and names the endpoints and the dead letter
    assert overview.counted == 2
    assert overview.counts[NotificationStatus.DELIVERED] == 1
    assert overview.counts[NotificationStatus.FAILED] == 1
    assert [r.recipient_id for r in overview.failing] == ["alice"]
    assert [r.recipient_id for r in overview.disabled] == ["carol"]
    assert [d.notification_id for d in overview.dead_letters] == [failed.id]


def test_the_overview_reads_a_bounded_number_of_notifications() -> None:
    world = World()
    world.recipient()
    for _ in range(7):
        world.accept(channels=[Channel.INBOX])
        world.clock.advance(1)
    overview = overview_of(world, read_limit=5).overview("acme")
    assert overview.more_notifications
    assert overview.counted == 5
