"""Alerts on fakes with an injected clock: dedup, notifications, acknowledge, resolve, escalation,
silences, acknowledge links (GIVEN / WHEN / THEN)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.ack_links import LinkExpired
from chalicelib.domain.alerts import AlertAction, AlertEvent
from chalicelib.domain.errors import Conflict, Invalid, NotFound
from chalicelib.domain.silences import SilenceDetails, matcher_matches
from chalicelib.domain.status import status_of
from chalicelib.models.alerts import AlertStatus, Matcher, Target, TimelineType
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Reason, Severity
from tests.fakes import Crash
from tests.unit.alert_world import AlertWorld, webhook_recipient


@pytest.fixture
def world() -> AlertWorld:
    w = AlertWorld()
    for name in ("alice", "bob", "carol"):
        webhook_recipient(w, name)
    w.subscribe("on-call", "alice", "alerts")
    return w


def expand(world: AlertWorld) -> None:
    for notification in world.sent_notifications():
        if notification.fanout is not None:
            world.expand_all(notification.id)


def types(world: AlertWorld, alert_id: str) -> list[TimelineType]:
    return [entry.type for entry in world.alert(alert_id).timeline]


def test_a_trigger_opens_an_alert_and_notifies_its_topic_once(world: AlertWorld) -> None:
    ingested = world.trigger(severity="error", labels={"host": "db-1"}, source="db-1")
    assert ingested.created
    assert ingested.alert_id is not None
    alert = world.alert(ingested.alert_id)
    assert alert.status is AlertStatus.TRIGGERED
    [notification] = world.sent_notifications()
    assert notification.topic == "alerts"
    content = notification.content
    assert content.title == "Disk almost full on db-1"
    assert content.severity is Severity.WARNING  # error maps to warning
    assert content.alert is not None
    assert (content.alert.id, content.alert.dedup_key, content.alert.status) == (
        alert.id,
        "disk-db-1",
        "triggered",
    )
    assert content.alert.ack_url is not None
    assert content.alert.ack_url.startswith("https://tocsin.example/ack/")
    assert types(world, alert.id) == [TimelineType.TRIGGERED, TimelineType.NOTIFIED]
    assert [s.notification_id for s in alert.sent] == [notification.id]


def test_a_hundred_triggers_of_one_key_make_one_alert_and_one_notification(
    world: AlertWorld,
) -> None:
    ids = {world.trigger().alert_id for _ in range(100)}
    assert len(ids) == 1
    [alert_id] = ids
    assert alert_id is not None
    alert = world.alert(alert_id)
    assert alert.trigger_count == 100
    assert types(world, alert_id).count(TimelineType.RETRIGGERED) == 99
    [notification] = world.sent_notifications()
    expand(world)
    assert [d.recipient_id for d in world.deliveries_of(notification.id)] == ["alice", "alice"]


def test_a_trigger_after_resolve_opens_a_new_alert_under_the_same_key(world: AlertWorld) -> None:
    first = world.trigger().alert_id
    assert first is not None
    world.event(AlertAction.RESOLVE)
    second = world.trigger().alert_id
    assert second is not None
    assert second != first
    assert world.alert(first).status is AlertStatus.RESOLVED
    assert world.alert(second).status is AlertStatus.TRIGGERED


def test_acknowledging_or_resolving_an_unknown_key_changes_nothing(world: AlertWorld) -> None:
    assert world.event(AlertAction.ACKNOWLEDGE, "nope").alert_id is None
    assert world.event(AlertAction.RESOLVE, "nope").alert_id is None
    assert world.sent_notifications() == []


def test_a_trigger_needs_a_summary_and_an_acknowledge_a_key(world: AlertWorld) -> None:
    with pytest.raises(Invalid) as missing:
        world.trigger(summary="")
    assert missing.value.loc == ["summary"]
    with pytest.raises(Invalid) as key:
        world.alerts.ingest("acme", AlertEvent(action=AlertAction.ACKNOWLEDGE))
    assert key.value.loc == ["dedup_key"]


def test_acknowledge_cancels_every_unsent_delivery_at_once(world: AlertWorld) -> None:
    # GIVEN an alert whose notification reached alice's inbox; her webhook is still pending
    alert_id = world.trigger().alert_id
    assert alert_id is not None
    expand(world)
    [notification] = world.sent_notifications()
    # WHEN it is acknowledged
    acknowledged = world.alerts.acknowledge("acme", alert_id, by="test")
    # THEN the webhook delivery is cancelled, the inbox one stays delivered
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED
    by_channel = {d.channel: d for d in world.deliveries_of(notification.id)}
    assert by_channel[Channel.WEBHOOK].status is DeliveryStatus.SKIPPED
    assert by_channel[Channel.WEBHOOK].reason is Reason.CANCELLED
    assert by_channel[Channel.INBOX].status is DeliveryStatus.DELIVERED
    stored = world.stored(notification.id)
    assert stored.counts.pending == 0
    assert stored.counts.skipped == 1
    assert status_of(stored) is NotificationStatus.CANCELLED
    # AND the queued message finds nothing to send
    assert world.process(notification.id, Channel.WEBHOOK, "alice").finished
    assert world.webhook.sent == []


def test_acknowledge_leaves_a_send_under_way_alone(world: AlertWorld) -> None:
    alert_id = world.trigger().alert_id
    assert alert_id is not None
    expand(world)
    [notification] = world.sent_notifications()
    # GIVEN alice's webhook leased by a sender right now
    key = world.delivery(notification.id, Channel.WEBHOOK, "alice").key
    world.store.claim(
        key,
        token="t",
        now=world.clock.now(),
        until=world.clock.now() + timedelta(seconds=20),
        sweep_at=world.clock.now() + timedelta(seconds=30),
    )
    world.alerts.acknowledge("acme", alert_id, by="test")
    assert world.delivery(notification.id, Channel.WEBHOOK, "alice").status is (
        DeliveryStatus.PENDING
    )


def test_acting_again_on_a_resolved_alert_is_a_conflict(world: AlertWorld) -> None:
    alert_id = world.trigger().alert_id
    assert alert_id is not None
    world.alerts.resolve("acme", alert_id, by="test")
    with pytest.raises(Conflict):
        world.alerts.resolve("acme", alert_id, by="test")
    with pytest.raises(Conflict):
        world.alerts.acknowledge("acme", alert_id, by="test")
    with pytest.raises(NotFound):
        world.alerts.acknowledge("acme", "01NOPE", by="test")


def test_a_resolve_notifies_those_who_were_notified(world: AlertWorld) -> None:
    # GIVEN an alert that notified its topic, then was acknowledged
    alert_id = world.trigger().alert_id
    assert alert_id is not None
    expand(world)
    world.alerts.acknowledge("acme", alert_id, by="test")
    # WHEN it is resolved
    resolved = world.alerts.resolve("acme", alert_id, by="test")
    # THEN the topic hears of it once, with the alert's severity and status resolved
    first, notice = world.sent_notifications()
    assert notice.topic == "alerts"
    assert notice.content.title == "Resolved: Disk almost full on db-1"
    assert notice.content.severity is first.content.severity
    assert notice.content.alert is not None
    assert notice.content.alert.status == "resolved"
    assert resolved.resolve_sent
    assert resolved.due_at is None
    assert types(world, alert_id)[-2:] == [TimelineType.RESOLVED, TimelineType.NOTIFIED]
    assert world.tick(60) == 0
    assert len(world.sent_notifications()) == 2


def test_an_escalation_policy_notifies_step_after_step_until_acknowledged(
    world: AlertWorld,
) -> None:
    # GIVEN a policy of three steps, 10 s apart
    world.escalation(
        "db",
        (0, [Target(recipient_id="alice")]),
        (10, [Target(recipient_id="bob")]),
        (10, [Target(recipient_id="carol"), Target(topic="ops.db")]),
    )
    alert_id = world.trigger(escalation_policy="db").alert_id
    assert alert_id is not None
    # THEN step 1 goes at once, step 2 after its delay (not before)
    assert [n.recipient_id for n in world.sent_notifications()] == ["alice"]
    assert world.tick(9) == 0
    world.tick(1)
    assert [n.recipient_id for n in world.sent_notifications()] == ["alice", "bob"]
    assert types(world, alert_id)[-1] is TimelineType.ESCALATED
    # WHEN it is acknowledged before step 3
    world.clock.advance(5)
    world.alerts.acknowledge("acme", alert_id, by="test")
    # THEN step 3 never comes, and what step 2 had not sent is cancelled
    world.tick(60)
    assert [n.recipient_id for n in world.sent_notifications()] == ["alice", "bob"]
    bob = world.delivery(world.sent_notifications()[1].id, Channel.WEBHOOK, "bob")
    assert (bob.status, bob.reason) == (DeliveryStatus.SKIPPED, Reason.CANCELLED)


def test_a_policy_repeats_its_steps_then_stops(world: AlertWorld) -> None:
    world.escalation(
        "loop", (0, [Target(recipient_id="alice")]), (5, [Target(recipient_id="bob")]), repeat=1
    )
    world.trigger(escalation_policy="loop")
    for _ in range(10):
        world.tick(5)
    assert [n.recipient_id for n in world.sent_notifications()] == ["alice", "bob", "alice", "bob"]


def test_a_policy_must_name_existing_recipients_and_an_alert_an_existing_policy(
    world: AlertWorld,
) -> None:
    with pytest.raises(Invalid) as unknown:
        world.escalation("p", (0, [Target(recipient_id="alice"), Target(recipient_id="zed")]))
    assert unknown.value.loc == ["steps", 0, "targets", 1, "recipient_id"]
    with pytest.raises(Invalid) as policy:
        world.trigger(escalation_policy="missing")
    assert policy.value.loc == ["escalation_policy"]


def test_a_step_to_a_recipient_deleted_since_says_so_and_goes_on(world: AlertWorld) -> None:
    world.escalation("p", (0, [Target(recipient_id="bob")]), (5, [Target(recipient_id="carol")]))
    world.store.delete_recipient("acme", "bob")
    alert_id = world.trigger(escalation_policy="p").alert_id
    assert alert_id is not None
    world.tick(5)
    timeline = world.alert(alert_id).timeline
    assert "no recipient with this id" in (timeline[1].detail or "")
    assert [n.recipient_id for n in world.sent_notifications()] == ["carol"]


def test_an_acknowledge_while_a_step_sends_cancels_that_step_too(world: AlertWorld) -> None:
    # GIVEN a second step about to run
    world.escalation("p", (0, [Target(recipient_id="alice")]), (5, [Target(recipient_id="bob")]))
    alert_id = world.trigger(escalation_policy="p").alert_id
    assert alert_id is not None

    # WHEN the acknowledge lands between the step's send and its record
    def acknowledge() -> None:
        world.alerts.acknowledge("acme", alert_id, by="test")

    world.alert_store.before_alert_write.append(acknowledge)
    world.tick(5)
    # THEN bob's notification is recorded on the alert and cancelled
    world.tick(0)
    stored = world.alert(alert_id)
    assert [s.target.recipient_id for s in stored.sent] == ["alice", "bob"]
    bob = world.delivery(stored.sent[1].notification_id, Channel.WEBHOOK, "bob")
    assert (bob.status, bob.reason) == (DeliveryStatus.SKIPPED, Reason.CANCELLED)


def test_a_step_run_twice_after_a_crash_sends_once(world: AlertWorld) -> None:
    world.escalation("p", (0, [Target(recipient_id="alice")]), (5, [Target(recipient_id="bob")]))
    world.trigger(escalation_policy="p")

    def crash() -> None:
        raise Crash

    # GIVEN a runner that dies after sending step 2 and before recording it
    world.alert_store.before_alert_write.append(crash)
    world.clock.advance(5)
    with pytest.raises(Crash):
        world.alerts.run_due()
    # WHEN the next run comes
    world.tick(1)
    # THEN bob has one notification
    assert [n.recipient_id for n in world.sent_notifications()] == ["alice", "bob"]


def test_a_silenced_alert_notifies_when_its_silence_ends(world: AlertWorld) -> None:
    # GIVEN a silence of db-1 for 60 s
    world.silences.create(
        "acme",
        SilenceDetails(
            matchers=[Matcher(name="host", value="db-1")],
            ends_at=world.clock.now() + timedelta(seconds=60),
        ),
    )
    # WHEN an alert of db-1 triggers
    alert_id = world.trigger(labels={"host": "db-1"}).alert_id
    assert alert_id is not None
    # THEN nobody hears of it while the silence lasts
    assert world.sent_notifications() == []
    assert types(world, alert_id) == [TimelineType.TRIGGERED, TimelineType.SILENCED]
    world.tick(59)
    assert world.sent_notifications() == []
    # AND exactly one notification goes when it ends, the alert still firing
    world.tick(1)
    world.tick(30)
    assert len(world.sent_notifications()) == 1


def test_an_alert_acknowledged_during_its_silence_never_notifies(world: AlertWorld) -> None:
    world.silences.create(
        "acme",
        SilenceDetails(
            matchers=[Matcher(name="host", value="db-1")],
            ends_at=world.clock.now() + timedelta(seconds=60),
        ),
    )
    alert_id = world.trigger(labels={"host": "db-1"}).alert_id
    assert alert_id is not None
    world.alerts.acknowledge("acme", alert_id, by="test")
    world.tick(120)
    assert world.sent_notifications() == []


def test_expiring_a_silence_early_notifies_the_alerts_it_held_back(world: AlertWorld) -> None:
    silence = world.silences.create(
        "acme",
        SilenceDetails(
            matchers=[Matcher(name="host", value="db-.*", is_regex=True)],
            ends_at=world.clock.now() + timedelta(hours=1),
        ),
    )
    world.trigger(labels={"host": "db-1"})
    world.trigger("other", labels={"host": "web-1"})
    assert len(world.sent_notifications()) == 1  # web-1 is not silenced
    world.clock.advance(10)
    world.alerts.expire_silence("acme", silence.id)
    assert len(world.sent_notifications()) == 2
    world.tick(3600)
    assert len(world.sent_notifications()) == 2


def test_a_silence_must_end_in_the_future_and_its_expressions_must_parse(
    world: AlertWorld,
) -> None:
    with pytest.raises(Invalid) as past:
        world.silences.create(
            "acme",
            SilenceDetails(matchers=[Matcher(name="a", value="b")], ends_at=world.clock.now()),
        )
    assert past.value.loc == ["ends_at"]
    with pytest.raises(Invalid) as pattern:
        world.silences.create(
            "acme",
            SilenceDetails(
                matchers=[
                    Matcher(name="a", value="b"),
                    Matcher(name="c", value="(x", is_regex=True),
                ],
                ends_at=world.clock.now() + timedelta(hours=1),
            ),
        )
    assert pattern.value.loc == ["matchers", 1, "value"]


@pytest.mark.parametrize(
    ("matcher", "labels", "matches"),
    [
        (Matcher(name="host", value="db-1"), {"host": "db-1"}, True),
        (Matcher(name="host", value="db-1", is_equal=False), {"host": "db-1"}, False),
        (Matcher(name="host", value="db-[0-9]+", is_regex=True), {"host": "db-12"}, True),
        # anchored, as in Alertmanager
        (Matcher(name="host", value="db", is_regex=True), {"host": "db-12"}, False),
        (Matcher(name="host", value="", is_regex=False), {}, True),
        (Matcher(name="host", value="db.*", is_regex=True, is_equal=False), {"host": "web"}, True),
        # linear time whatever the pattern (RE2)
        (Matcher(name="x", value="(a+)+$", is_regex=True), {"x": "a" * 5000 + "b"}, False),
    ],
)
def test_matchers(matcher: Matcher, labels: dict[str, str], matches: bool) -> None:
    assert matcher_matches(matcher, labels) is matches


def test_an_acknowledge_link_acknowledges_and_a_forged_or_old_one_does_not(
    world: AlertWorld,
) -> None:
    alert_id = world.trigger().alert_id
    assert alert_id is not None
    url = world.sent_notifications()[0].content.alert.ack_url  # type: ignore[union-attr]
    assert url is not None
    token = url.rsplit("/", 1)[1]
    # a link is read without acknowledging anything
    assert world.alerts.linked(token).status is AlertStatus.TRIGGERED
    claims, signature = token.split(".")
    with pytest.raises(NotFound):
        world.alerts.acknowledge_by_link(f"{claims}.{signature[:-2]}AA")
    with pytest.raises(NotFound):
        world.alerts.acknowledge_by_link("bm90LWEtdG9rZW4." + "A" * 43)
    assert world.alerts.acknowledge_by_link(token).status is AlertStatus.ACKNOWLEDGED
    world.clock.advance(timedelta(days=8).total_seconds())
    with pytest.raises(LinkExpired):
        world.alerts.linked(token)
