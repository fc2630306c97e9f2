"""Alerting's store ports, as one suite run against the fake and against DynamoDB on a real moto
server: the key that opens one alert, conditional progress and status changes, timers,
silences, policies, integrations, and rate-limit counters that never pass their limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamodb_alerts import DynamoAlertStore
from chalicelib.alert_ports import Progress
from chalicelib.models.alerts import (
    Alert,
    AlertStatus,
    EscalationPolicy,
    EscalationStep,
    Integration,
    IntegrationKind,
    Matcher,
    SentNotification,
    Silence,
    Target,
    TimelineEntry,
    TimelineType,
)
from chalicelib.models.stored import Tenant
from tests.fakes_alerts import FakeAlertStore
from tests.integration.conftest import Moto

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

Store = Any  # DynamoAlertStore or FakeAlertStore: the same ports


@pytest.fixture(params=["fake", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "fake":
        yield FakeAlertStore()
        return
    moto: Moto = request.getfixturevalue("moto")
    request.getfixturevalue("provisioned")
    yield DynamoAlertStore(moto.client("dynamodb"), "tocsin")


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def an_alert(tenant: str, index: int = 0, **fields: Any) -> Alert:
    fields.setdefault("dedup_key", f"key-{index}")
    return Alert(
        tenant_id=tenant,
        id=f"01K{index:023d}",
        summary=f"alert {index}",
        topic="alerts",
        steps=[EscalationStep(targets=[Target(topic="alerts")])],
        created_at=NOW + timedelta(seconds=index),
        timeline=[TimelineEntry(at=NOW, type=TimelineType.TRIGGERED)],
        **fields,
    )


def entry(kind: TimelineType = TimelineType.RETRIGGERED) -> TimelineEntry:
    return TimelineEntry(at=NOW, type=kind, detail="x")


def test_one_alert_is_open_under_a_key_until_resolved(store: Store, tenant: str) -> None:
    first = an_alert(tenant, 1, dedup_key="k")
    assert store.create_alert(first, replaces=None)
    assert not store.create_alert(an_alert(tenant, 2, dedup_key="k"), replaces=None)
    assert store.find_alert_id(tenant, "k") == first.id
    assert store.get_alert(tenant, an_alert(tenant, 2).id) is None
    # a new alert replaces only the one that was read
    assert not store.create_alert(an_alert(tenant, 3, dedup_key="k"), replaces="01OTHER")
    assert store.create_alert(an_alert(tenant, 4, dedup_key="k"), replaces=first.id)
    assert store.find_alert_id(tenant, "k") == an_alert(tenant, 4).id


def test_a_retrigger_counts_and_adds_to_the_timeline_until_it_is_full(
    store: Store, tenant: str
) -> None:
    alert = an_alert(tenant)
    store.create_alert(alert, replaces=None)
    assert store.retrigger(tenant, alert.id, entry(), keep=3)
    assert store.retrigger(tenant, alert.id, entry(), keep=3)
    assert store.retrigger(tenant, alert.id, entry(), keep=3)
    stored = store.get_alert(tenant, alert.id)
    assert stored.trigger_count == 4
    assert len(stored.timeline) == 3
    store.change_alert_status(
        tenant, alert.id, to=AlertStatus.RESOLVED, at=NOW, entry=entry(), due_at=None
    )
    assert not store.retrigger(tenant, alert.id, entry(), keep=3)
    assert not store.retrigger(tenant, "01NOPE", entry(), keep=3)


def test_progress_is_written_only_over_the_version_it_was_made_from(
    store: Store, tenant: str
) -> None:
    # GIVEN an alert due now, with its timer
    alert = an_alert(tenant, due_at=NOW)
    store.create_alert(alert, replaces=None)
    stored = store.get_alert(tenant, alert.id)
    [timer] = store.due_alert_timers(NOW, 10)
    assert (timer.tenant_id, timer.alert_id, timer.key) == (tenant, alert.id, stored.timer)
    sent = SentNotification(notification_id="01N1", target=Target(topic="alerts"), step=0, at=NOW)
    progress = Progress(
        expected_version=stored.version,
        next_step=1,
        due_at=NOW + timedelta(seconds=30),
        entries=[entry(TimelineType.NOTIFIED)],
        sent=[sent],
    )
    # WHEN two runners write progress from the same version
    assert store.advance_alert(stored, progress)
    assert not store.advance_alert(stored, progress)
    # THEN one wrote: the step, the timeline, the sent list, and the timer moved on
    after = store.get_alert(tenant, alert.id)
    assert after.next_step == 1
    assert after.version == stored.version + 1
    assert [e.type for e in after.timeline] == [TimelineType.TRIGGERED, TimelineType.NOTIFIED]
    assert after.sent == [sent]
    assert store.due_alert_timers(NOW + timedelta(seconds=29), 10) == []
    [later] = store.due_alert_timers(NOW + timedelta(seconds=30), 10)
    assert later.key == after.timer
    # AND progress with nothing due removes the timer
    assert store.advance_alert(
        after, Progress(expected_version=after.version, next_step=1, due_at=None)
    )
    assert store.due_alert_timers(NOW + timedelta(days=1), 10) == []
    assert store.get_alert(tenant, alert.id).timer is None


def test_status_changes_follow_the_lifecycle(store: Store, tenant: str) -> None:
    alert = an_alert(tenant)
    store.create_alert(alert, replaces=None)
    acknowledged = store.change_alert_status(
        tenant, alert.id, to=AlertStatus.ACKNOWLEDGED, at=NOW, entry=entry(), due_at=None
    )
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED
    assert acknowledged.acknowledged_at == NOW
    assert (
        store.change_alert_status(
            tenant, alert.id, to=AlertStatus.ACKNOWLEDGED, at=NOW, entry=entry(), due_at=None
        )
        is None
    )
    due = NOW + timedelta(seconds=1)
    resolved = store.change_alert_status(
        tenant, alert.id, to=AlertStatus.RESOLVED, at=NOW, entry=entry(), due_at=due
    )
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.due_at == due
    assert resolved.version == acknowledged.version + 1
    assert [t.key for t in store.due_alert_timers(due, 10)] == [resolved.timer]
    assert (
        store.change_alert_status(
            tenant, alert.id, to=AlertStatus.RESOLVED, at=NOW, entry=entry(), due_at=due
        )
        is None
    )
    assert len(store.due_alert_timers(due, 10)) == 1
    assert (
        store.change_alert_status(
            tenant, "01NOPE", to=AlertStatus.RESOLVED, at=NOW, entry=entry(), due_at=None
        )
        is None
    )


def test_alerts_list_newest_first_with_a_filter(store: Store, tenant: str) -> None:
    for index in range(5):
        store.create_alert(an_alert(tenant, index), replaces=None)
    store.change_alert_status(
        tenant, an_alert(tenant, 3).id, to=AlertStatus.RESOLVED, at=NOW, entry=entry(), due_at=None
    )
    first = store.list_alerts(tenant, keep=None, limit=2, cursor=None)
    assert [a.summary for a in first.items] == ["alert 4", "alert 3"]
    rest = store.list_alerts(tenant, keep=None, limit=10, cursor=first.next_cursor)
    assert [a.summary for a in rest.items] == ["alert 2", "alert 1", "alert 0"]
    assert rest.next_cursor is None
    resolved = store.list_alerts(
        tenant, keep=lambda a: a.status is AlertStatus.RESOLVED, limit=10, cursor=None
    )
    assert [a.summary for a in resolved.items] == ["alert 3"]


def test_silenced_alerts_and_the_signing_key(store: Store, tenant: str) -> None:
    store.add_silenced_alert(tenant, "s1", "01A")
    store.add_silenced_alert(tenant, "s1", "01B")
    store.add_silenced_alert(tenant, "s1", "01A")
    assert store.silenced_alerts(tenant, "s1", 10) == ["01A", "01B"]
    assert store.alert_signing_key(tenant) is None
    store.create_tenant(Tenant(name=tenant, webhook_secret="whsec_x", created_at=NOW))
    key = store.alert_signing_key(tenant)
    assert key is not None
    assert len(key) == 32
    assert store.alert_signing_key(tenant) == key


def test_silences_live_until_they_end_or_are_expired(store: Store, tenant: str) -> None:
    def silence(index: int, ends_in: int) -> Silence:
        return Silence(
            tenant_id=tenant,
            id=f"01S{index:023d}",
            matchers=[Matcher(name="host", value="db-.*", is_regex=True)],
            starts_at=NOW,
            ends_at=NOW + timedelta(seconds=ends_in),
            created_at=NOW,
        )

    store.put_silence(silence(1, 60))
    store.put_silence(silence(2, 10))
    assert [s.id for s in store.live_silences(tenant, NOW + timedelta(seconds=20))] == [
        silence(1, 60).id
    ]
    expired = store.expire_silence(tenant, silence(1, 60).id, NOW + timedelta(seconds=30))
    assert expired.ends_at == NOW + timedelta(seconds=30)
    # expiring again keeps the first end
    again = store.expire_silence(tenant, silence(1, 60).id, NOW + timedelta(seconds=40))
    assert again.ends_at == NOW + timedelta(seconds=30)
    assert store.expire_silence(tenant, "01NOPE", NOW) is None
    assert store.live_silences(tenant, NOW + timedelta(seconds=31)) == []
    page = store.list_silences(tenant, limit=1, cursor=None)
    assert [s.id for s in page.items] == [silence(2, 10).id]
    rest = store.list_silences(tenant, limit=5, cursor=page.next_cursor)
    assert [s.id for s in rest.items] == [silence(1, 60).id]
    assert rest.items[0].matchers == silence(1, 60).matchers


def test_policies_are_put_read_listed_and_deleted(store: Store, tenant: str) -> None:
    for name in ("b", "a"):
        store.put_policy(
            EscalationPolicy(
                tenant_id=tenant,
                policy_id=name,
                steps=[EscalationStep(delay_seconds=5, targets=[Target(recipient_id="x")])],
                repeat=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    assert store.get_policy(tenant, "a").repeat == 1
    assert [p.policy_id for p in store.list_policies(tenant, limit=10, cursor=None).items] == [
        "a",
        "b",
    ]
    assert store.delete_policy(tenant, "a")
    assert not store.delete_policy(tenant, "a")
    assert store.get_policy(tenant, "a") is None


def test_integrations_are_found_by_id_tenant_and_routing_key_until_revoked(
    store: Store, tenant: str
) -> None:
    integration = Integration(
        tenant_id=tenant,
        id=f"01I{uuid.uuid4().hex[:20]}",
        kind=IntegrationKind.PAGERDUTY,
        topic="ops",
        routing_key_hash=uuid.uuid4().hex,
        routing_key_prefix="abcd1234",
        created_at=NOW,
    )
    store.create_integration(integration)
    assert store.get_integration(integration.id) == integration
    assert store.integration_by_routing_key(integration.routing_key_hash) == integration
    assert store.list_integrations(tenant) == [integration]
    assert store.delete_integration(integration.id)
    assert not store.delete_integration(integration.id)
    assert store.integration_by_routing_key(integration.routing_key_hash) is None
    assert store.list_integrations(tenant) == []


def test_a_counter_never_passes_what_is_allowed(store: Store, tenant: str) -> None:
    expires = NOW + timedelta(minutes=3)
    taken = [store.take(f"T#{tenant}", 7, 3, expires) for _ in range(5)]
    assert [t.accepted for t in taken] == [True, True, True, False, False]
    assert [t.count for t in taken] == [1, 2, 3, 3, 3]
    store.give_back(f"T#{tenant}", 7)
    assert store.counted(f"T#{tenant}", 7) == 2
    assert store.counted(f"T#{tenant}", 8) == 0
    store.give_back(f"T#{tenant}", 8)
    assert store.counted(f"T#{tenant}", 8) == 0


def test_concurrent_takes_accept_exactly_the_limit(moto: Moto, provisioned: Any) -> None:
    # GIVEN 40 requests at once against a limit of 25, on a real server
    store = DynamoAlertStore(moto.client("dynamodb"), "tocsin")
    scope = f"I#{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda _: store.take(scope, 1, 25, NOW + timedelta(minutes=3)), range(40))
        )
    # THEN exactly 25 were counted (no read-modify-write race)
    assert sum(result.accepted for result in results) == 25
    assert store.counted(scope, 1) == 25
