"""The store ports' behaviour, as one suite run against the fake store and against DynamoDB on a
real moto server: conditions, transactions, counts, pages and cursors. A fake that passes here
cannot drift from the store the domain runs on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamodb import DynamoStore
from chalicelib.models.common import Channel, DeliveryStatus, PushPlatform, Reason, Severity
from chalicelib.models.preferences import (
    RecipientPreferences,
    TenantCategoryPreference,
    TenantPreferences,
)
from chalicelib.models.scheduling import DigestEntry, DigestJoin, DigestWindow, Timer, TimerKind
from chalicelib.models.stored import (
    ApiKeyRecord,
    Attempt,
    ConsoleSession,
    Content,
    Counts,
    Delivery,
    DeliveryKey,
    Fanout,
    IdempotencyRecord,
    Notification,
    PushToken,
    Recipient,
    Subscription,
)
from chalicelib.models.templates import Template
from chalicelib.ports import (
    MAX_INLINE_DELIVERIES,
    DigestWindowMoved,
    IdempotencyKeyTaken,
    InvalidCursor,
    NotificationExists,
)
from tests.fakes import MAX_READS_PER_PAGE, READ_SIZE, FakeStore
from tests.integration.conftest import Moto

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

Store = Any  # DynamoStore or FakeStore: the same ports


@pytest.fixture(params=["fake", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "fake":
        yield FakeStore()
        return
    moto: Moto = request.getfixturevalue("moto")
    request.getfixturevalue("provisioned")
    yield DynamoStore(moto.client("dynamodb"), "tocsin")


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def notification(tenant: str, index: int = 0, **fields: Any) -> Notification:
    fields.setdefault("recipient_id", "alice")
    return Notification(
        tenant_id=tenant,
        id=f"01J{index:023d}",
        created_at=NOW + timedelta(seconds=index),
        content=Content(title=f"n{index}"),
        **fields,
    )


def delivery(tenant: str, nid: str, recipient: str = "alice", **fields: Any) -> Delivery:
    fields.setdefault("channel", Channel.WEBHOOK)
    return Delivery(tenant_id=tenant, notification_id=nid, recipient_id=recipient, **fields)


def with_deliveries(
    store: Store, tenant: str, *deliveries: Delivery, index: int = 0
) -> Notification:
    created = notification(tenant, index)
    created.deliveries = list(deliveries)
    for item in deliveries:
        item.inline = True
    counts = Counts()
    for item in deliveries:
        setattr(counts, item.status.value, counts.of(item.status) + 1)
    created.counts = counts
    store.create_notification(created, deliveries, None)
    return created


def test_an_idempotency_key_is_taken_once_per_window(store: Store, tenant: str) -> None:
    record = IdempotencyRecord(
        tenant_id=tenant,
        key="k",
        body_hash="h",
        notification_id="01J1",
        expires_at=NOW + timedelta(hours=24),
    )
    first = notification(tenant, 1)
    store.create_notification(first, [delivery(tenant, first.id)], record)
    second = notification(tenant, 2)
    with pytest.raises(IdempotencyKeyTaken):
        store.create_notification(
            second,
            [delivery(tenant, second.id)],
            record.model_copy(update={"notification_id": "x"}),
        )
    assert store.get_notification(tenant, second.id) is None
    later = notification(tenant, 3)
    later.created_at = NOW + timedelta(hours=25)
    store.create_notification(
        later,
        [],
        record.model_copy(
            update={"notification_id": later.id, "expires_at": NOW + timedelta(hours=49)}
        ),
    )
    taken = store.get_idempotency(tenant, "k")
    assert taken is not None
    assert taken.notification_id == later.id


def test_a_notification_is_stored_with_up_to_the_inline_limit_of_deliveries(
    store: Store, tenant: str
) -> None:
    nid = notification(tenant).id
    items = [
        delivery(tenant, nid, f"r{index:03d}", channel=Channel.INBOX)
        for index in range(MAX_INLINE_DELIVERIES)
    ]
    store.create_notification(notification(tenant), items, None)
    page = store.list_deliveries(tenant, nid, keep=None, limit=100, cursor=None)
    assert len(page.items) == MAX_INLINE_DELIVERIES


def test_a_claim_takes_the_lease_once_and_returns_the_delivery(store: Store, tenant: str) -> None:
    created = with_deliveries(
        store, tenant, delivery(tenant, notification(tenant).id, address="https://x")
    )
    key = DeliveryKey(tenant, created.id, "alice", Channel.WEBHOOK)
    until = NOW + timedelta(seconds=20)
    first = store.claim(key, token="a", now=NOW, until=until, sweep_at=until)
    second = store.claim(key, token="b", now=NOW, until=until, sweep_at=until)
    assert first is not None
    assert first.held
    assert first.delivery.lease_token == "a"
    assert first.delivery.address == "https://x"
    assert second is not None
    assert not second.held
    assert second.delivery.lease_until == until
    later = store.claim(
        key, token="c", now=until, until=until + timedelta(seconds=20), sweep_at=until
    )
    assert later is not None
    assert later.held
    assert (
        store.claim(
            DeliveryKey(tenant, created.id, "bob", Channel.WEBHOOK),
            token="d",
            now=NOW,
            until=until,
            sweep_at=until,
        )
        is None
    )


def test_a_delivery_not_yet_due_is_not_claimed(store: Store, tenant: str) -> None:
    nid = notification(tenant).id
    with_deliveries(
        store,
        tenant,
        delivery(
            tenant, nid, status=DeliveryStatus.RETRYING, next_attempt_at=NOW + timedelta(seconds=5)
        ),
    )
    key = DeliveryKey(tenant, nid, "alice", Channel.WEBHOOK)
    claim = store.claim(key, token="a", now=NOW, until=NOW, sweep_at=NOW)
    assert claim is not None
    assert not claim.held


def test_a_record_moves_the_counts_and_the_copy_under_its_conditions(
    store: Store, tenant: str
) -> None:
    # GIVEN a claimed delivery
    nid = notification(tenant).id
    with_deliveries(
        store,
        tenant,
        delivery(tenant, nid),
        delivery(tenant, nid, channel=Channel.INBOX, status=DeliveryStatus.DELIVERED),
    )
    key = DeliveryKey(tenant, nid, "alice", Channel.WEBHOOK)
    claim = store.claim(key, token="a", now=NOW, until=NOW + timedelta(seconds=20), sweep_at=NOW)
    assert claim is not None
    failed = claim.delivery.model_copy(
        update={"status": DeliveryStatus.RETRYING, "attempts": 1, "lease_token": None}
    )
    # WHEN a failure is recorded under another lease, then under its own
    assert not store.record(failed, previous=DeliveryStatus.PENDING, token="other", first=True)
    assert store.record(failed, previous=DeliveryStatus.PENDING, token="a", first=True)
    # THEN the counts moved once, and the notification's copy follows
    stored = store.get_notification(tenant, nid)
    assert stored is not None
    assert stored.counts == Counts(retrying=1, delivered=1)
    assert stored.attempted == 1
    assert stored.deliveries is not None
    assert [(d.channel, d.status, d.attempts) for d in stored.deliveries] == [
        (Channel.WEBHOOK, DeliveryStatus.RETRYING, 1),
        (Channel.INBOX, DeliveryStatus.DELIVERED, 0),
    ]
    # AND a success is recorded only over the status it was read in
    done = failed.model_copy(
        update={"status": DeliveryStatus.DELIVERED, "attempts": 2, "delivered_at": NOW}
    )
    assert not store.record(done, previous=DeliveryStatus.PENDING, token=None, first=False)
    assert store.record(done, previous=DeliveryStatus.RETRYING, token=None, first=False)
    assert not store.record(done, previous=DeliveryStatus.RETRYING, token=None, first=False)
    final = store.get_notification(tenant, nid)
    assert final is not None
    assert final.counts == Counts(delivered=2)


def test_failed_deliveries_are_dead_letters_until_reopened(store: Store, tenant: str) -> None:
    nid = notification(tenant).id
    with_deliveries(
        store,
        tenant,
        delivery(
            tenant, nid, status=DeliveryStatus.FAILED, attempts=8, last_error="x", failed_at=NOW
        ),
    )
    [letter] = store.list_dead_letters(tenant, limit=10, cursor=None).items
    assert (letter.notification_id, letter.channel, letter.attempts) == (nid, Channel.WEBHOOK, 8)
    failed = store.get_delivery(DeliveryKey(tenant, nid, "alice", Channel.WEBHOOK))
    reopened = store.reopen([failed], now=NOW, sweep_at=NOW + timedelta(seconds=10))
    assert [d.status for d in reopened] == [DeliveryStatus.PENDING]
    assert reopened[0].budget_attempts == 0
    assert store.list_dead_letters(tenant, limit=10, cursor=None).items == []
    assert store.reopen([failed], now=NOW, sweep_at=NOW) == []
    stored = store.get_notification(tenant, nid)
    assert stored is not None
    assert stored.counts == Counts(pending=1)


def test_lists_page_newest_first_and_filter_within_a_bounded_number_of_reads(
    store: Store, tenant: str
) -> None:
    for index in range(7):
        store.create_notification(notification(tenant, index, attempted=index % 2), [], None)
    page = store.list_notifications(tenant, recipient_id=None, keep=None, limit=3, cursor=None)
    assert [n.content.title for n in page.items] == ["n6", "n5", "n4"]
    rest = store.list_notifications(
        tenant, recipient_id=None, keep=None, limit=3, cursor=page.next_cursor
    )
    assert [n.content.title for n in rest.items] == ["n3", "n2", "n1"]
    odd = store.list_notifications(
        tenant, recipient_id="alice", keep=lambda n: n.attempted == 1, limit=2, cursor=None
    )
    assert [n.content.title for n in odd.items] == ["n5", "n3"]
    tail = store.list_notifications(
        tenant,
        recipient_id="alice",
        keep=lambda n: n.attempted == 1,
        limit=2,
        cursor=odd.next_cursor,
    )
    assert [n.content.title for n in tail.items] == ["n1"]
    assert tail.next_cursor is None


def test_a_rare_match_is_searched_a_bounded_number_of_reads_at_a_time(
    store: Store, tenant: str
) -> None:
    store.create_notification(notification(tenant, 0, attempted=1), [], None)
    for index in range(1, READ_SIZE * MAX_READS_PER_PAGE + 50):
        store.create_notification(notification(tenant, index), [], None)
    first = store.list_notifications(
        tenant, recipient_id=None, keep=lambda n: n.attempted == 1, limit=10, cursor=None
    )
    assert first.items == []
    assert first.next_cursor is not None
    second = store.list_notifications(
        tenant,
        recipient_id=None,
        keep=lambda n: n.attempted == 1,
        limit=10,
        cursor=first.next_cursor,
    )
    assert [item.id for item in second.items] == [notification(tenant, 0).id]
    assert second.next_cursor is None


def test_a_cursor_only_fits_its_own_list(store: Store, tenant: str) -> None:
    for index in range(3):
        store.create_notification(notification(tenant, index), [], None)
    cursor = store.list_notifications(
        tenant, recipient_id=None, keep=None, limit=1, cursor=None
    ).next_cursor
    assert cursor
    with pytest.raises(InvalidCursor):
        store.list_notifications(
            "someone-else", recipient_id=None, keep=None, limit=1, cursor=cursor
        )
    with pytest.raises(InvalidCursor):
        store.list_notifications(tenant, recipient_id="alice", keep=None, limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):
        store.list_notifications(tenant, recipient_id=None, keep=None, limit=1, cursor="bm9wZQ")


def test_inbox_deliveries_list_from_since_id_and_read_once(store: Store, tenant: str) -> None:
    for index in range(3):
        nid = notification(tenant, index).id
        with_deliveries(
            store,
            tenant,
            delivery(
                tenant,
                nid,
                "bob",
                channel=Channel.INBOX,
                status=DeliveryStatus.DELIVERED,
                created_at=NOW,
            ),
            index=index,
        )
    since = notification(tenant, 1).id
    for unread_only in (True, False):
        page = store.list_inbox(
            tenant, "bob", since_id=since, unread_only=unread_only, limit=10, cursor=None
        )
        assert [item.notification_id for item in page.items] == [notification(tenant, 2).id, since]
        assert page.items[0].content.title == "n2"
    assert store.mark_read(tenant, "bob", since, NOW)
    assert store.mark_read(tenant, "bob", since, NOW + timedelta(hours=1))
    unread = store.list_inbox(tenant, "bob", since_id="0", unread_only=True, limit=10, cursor=None)
    assert since not in [item.notification_id for item in unread.items]
    everything = store.list_inbox(
        tenant, "bob", since_id="0", unread_only=False, limit=10, cursor=None
    )
    assert [item.read_at for item in everything.items if item.notification_id == since] == [NOW]
    assert not store.mark_read(tenant, "bob", "01JNONE", NOW)


def test_open_deliveries_and_unfinished_fan_outs_come_due_for_the_sweeper(
    store: Store, tenant: str
) -> None:
    nid = notification(tenant).id
    with_deliveries(store, tenant, delivery(tenant, nid, sweep_at=NOW + timedelta(seconds=10)))
    topic = notification(
        tenant,
        1,
        topic="ops",
        recipient_id=None,
        fanout=Fanout(),
        sweep_at=NOW + timedelta(seconds=10),
    )
    store.create_notification(topic, [], None)
    ours = {DeliveryKey(tenant, nid, "alice", Channel.WEBHOOK), (tenant, topic.id)}

    def found_due(now: datetime) -> set[Any]:
        due = store.due_for_sweep(now, 500)
        return ours & ({s.delivery for s in due} | {s.notification for s in due})

    assert found_due(NOW + timedelta(seconds=11)) == ours
    assert found_due(NOW) == set()
    found = store.get_delivery(DeliveryKey(tenant, nid, "alice", Channel.WEBHOOK))
    assert store.bump_sweep(found, sweep_at=NOW + timedelta(days=1))
    assert not store.bump_sweep(found, sweep_at=NOW + timedelta(days=2))


def test_a_fan_out_page_is_begun_and_ended_once(store: Store, tenant: str) -> None:
    topic = notification(tenant, topic="ops", recipient_id=None, fanout=Fanout())
    store.create_notification(topic, [], None)
    read = store.get_notification(tenant, topic.id)
    assert store.begin_page(read)
    written = [
        delivery(
            tenant, topic.id, f"r{index}", channel=Channel.INBOX, status=DeliveryStatus.DELIVERED
        )
        for index in range(30)
    ]
    store.put_deliveries(written)
    assert set(store.existing_deliveries([d.key for d in written[:3]])) == {
        d.key for d in written[:3]
    }
    assert store.checkpoint_page(
        read, cursor="r29", counts=Counts(delivered=30), recipients=30, done=False, sweep_at=NOW
    )
    assert not store.checkpoint_page(
        read, cursor="r29", counts=Counts(delivered=30), recipients=30, done=False, sweep_at=NOW
    )
    assert not store.begin_page(read)
    after = store.get_notification(tenant, topic.id)
    assert after is not None
    assert after.fanout == Fanout(cursor="r29", writing=None, done=False, pages=1)
    assert after.counts == Counts(delivered=30)
    assert after.recipients == 30
    assert store.begin_page(after)
    assert store.checkpoint_page(
        after, cursor=None, counts=Counts(), recipients=0, done=True, sweep_at=None
    )
    final = store.get_notification(tenant, topic.id)
    assert final is not None
    assert final.fanout is not None
    assert final.fanout.done


def test_subscriptions_list_by_id_and_by_first_word_after_a_recipient(
    store: Store, tenant: str
) -> None:
    for rid, sid, pattern in [
        ("a", "s1", "ops.#"),
        ("b", "s2", "ops.db"),
        ("b", "s3", "*.db"),
        ("c", "s4", "ops"),
    ]:
        store.put_subscription(
            Subscription(
                tenant_id=tenant,
                subscription_id=sid,
                recipient_id=rid,
                pattern=pattern,
                min_severity=Severity.WARNING,
                created_at=NOW,
            )
        )
    ids = store.list_subscriptions(tenant, keep=None, limit=10, cursor=None)
    assert [s.subscription_id for s in ids.items] == ["s1", "s2", "s3", "s4"]
    ops = store.subscriptions_by_first_word(tenant, "ops", after_recipient=None, limit=10)
    assert [(s.recipient_id, s.subscription_id) for s in ops.items] == [
        ("a", "s1"),
        ("b", "s2"),
        ("c", "s4"),
    ]
    assert ops.next_cursor is None
    after_a = store.subscriptions_by_first_word(tenant, "ops", after_recipient="a", limit=1)
    assert [s.subscription_id for s in after_a.items] == ["s2"]
    assert after_a.next_cursor is not None
    assert store.delete_subscription(tenant, "s2")
    assert store.get_subscription(tenant, "s2") is None
    assert not store.delete_subscription(tenant, "s2")


def test_webhook_health_changes_only_for_the_url_it_concerns(store: Store, tenant: str) -> None:
    url = "https://hooks.example.com/in"
    store.put_recipient(
        Recipient(
            tenant_id=tenant, recipient_id="alice", webhook_url=url, created_at=NOW, updated_at=NOW
        )
    )
    assert store.note_webhook_failure(tenant, "alice", "https://other", NOW) is None
    failing = store.note_webhook_failure(tenant, "alice", url, NOW)
    assert failing is not None
    assert failing.webhook_failing_since == NOW
    again = store.note_webhook_failure(tenant, "alice", url, NOW + timedelta(seconds=5))
    assert again is not None
    assert again.webhook_failing_since == NOW
    assert not store.disable_webhook(tenant, "alice", url, NOW + timedelta(seconds=1), NOW)
    assert store.disable_webhook(tenant, "alice", url, NOW, NOW + timedelta(seconds=70))
    assert store.get_recipients(tenant, ["alice", "nobody"])[
        0
    ].webhook_disabled_at == NOW + timedelta(seconds=70)
    assert store.enable_webhook(tenant, "alice")
    enabled = store.get_recipient(tenant, "alice")
    assert enabled is not None
    assert (enabled.webhook_failing_since, enabled.webhook_disabled_at) == (None, None)
    assert not store.enable_webhook(tenant, "nobody")


def test_endpoint_slots_are_taken_until_released_or_expired(store: Store, tenant: str) -> None:
    store.put_recipient(
        Recipient(tenant_id=tenant, recipient_id="alice", created_at=NOW, updated_at=NOW)
    )
    until = NOW + timedelta(seconds=20)
    assert store.take_endpoint_slot(tenant, "alice", 0, until, NOW)
    assert not store.take_endpoint_slot(tenant, "alice", 0, until, NOW)
    assert store.take_endpoint_slot(tenant, "alice", 1, until, NOW)
    store.release_endpoint_slot(tenant, "alice", 0, until)
    assert store.take_endpoint_slot(tenant, "alice", 0, until, NOW)
    assert store.take_endpoint_slot(
        tenant, "alice", 1, until + timedelta(seconds=1), until + timedelta(seconds=1)
    )


def test_a_webhook_success_is_found_by_its_time(store: Store, tenant: str) -> None:
    nid = notification(tenant).id
    with_deliveries(
        store, tenant, delivery(tenant, nid, status=DeliveryStatus.DELIVERED, delivered_at=NOW)
    )
    assert store.webhook_succeeded_since(tenant, "alice", NOW - timedelta(seconds=1))
    assert not store.webhook_succeeded_since(tenant, "alice", NOW + timedelta(seconds=1))


def test_a_delivery_keeps_its_attempt_log_but_the_inline_copy_does_not(
    store: Store, tenant: str
) -> None:
    # GIVEN a one-recipient notification with a pending webhook delivery
    created = with_deliveries(store, tenant, delivery(tenant, notification(tenant).id))
    key = DeliveryKey(tenant, created.id, "alice", Channel.WEBHOOK)
    claim = store.claim(key, token="t1", now=NOW, until=NOW + timedelta(seconds=30), sweep_at=NOW)
    assert claim is not None
    # WHEN an attempt is recorded with its log entry
    failed = claim.delivery.model_copy()
    failed.status = DeliveryStatus.FAILED
    failed.attempts = 1
    failed.failed_at = NOW
    failed.attempt_log = [
        Attempt(
            at=NOW,
            outcome=DeliveryStatus.FAILED,
            endpoint="https://hooks.example.com",
            http_status=410,
            latency_ms=12,
            error="HTTP 410",
        )
    ]
    assert store.record(failed, previous=DeliveryStatus.PENDING, token="t1", first=True)
    # THEN the delivery read back, and listed, has it; the notification's copy does not
    assert store.get_delivery(key).attempt_log == failed.attempt_log
    [listed] = store.list_deliveries(tenant, created.id, keep=None, limit=10, cursor=None).items
    assert listed.attempt_log == failed.attempt_log
    inline = store.get_notification(tenant, created.id).deliveries
    assert [d.attempt_log for d in inline] == [[]]
    # AND a reopen keeps the log
    [reopened] = store.reopen([listed], now=NOW, sweep_at=NOW)
    assert store.get_delivery(key).attempt_log == failed.attempt_log
    assert reopened.status is DeliveryStatus.PENDING


def test_console_sessions_are_stored_by_hash_until_deleted(store: Store) -> None:
    session = ConsoleSession(
        session_hash=uuid.uuid4().hex,
        tenant="acme",
        key_prefix="tsn_000000000001",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=8),
    )
    store.put_session(session)
    assert store.get_session(session.session_hash) == session
    store.delete_session(session.session_hash)
    assert store.get_session(session.session_hash) is None
    store.delete_session(session.session_hash)  # again: nothing to delete, no error


def test_a_tenants_keys_and_recipients_are_listed_for_it_alone(store: Store, tenant: str) -> None:
    # GIVEN two keys and three recipients of the tenant, and one of each of another tenant
    other = f"{tenant}-other"
    for prefix, owner in (("tsn_a", tenant), ("tsn_b", tenant), ("tsn_c", other)):
        store.put_api_key(
            ApiKeyRecord(prefix=f"{prefix}{tenant}", tenant=owner, key_hash="h", created_at=NOW)
        )
    for rid, owner in (("carol", tenant), ("alice", tenant), ("bob", tenant), ("eve", other)):
        store.put_recipient(
            Recipient(tenant_id=owner, recipient_id=rid, created_at=NOW, updated_at=NOW)
        )
    # THEN each listing has the tenant's own only, recipients by id and in pages
    assert [k.prefix for k in store.list_api_keys(tenant)] == [f"tsn_a{tenant}", f"tsn_b{tenant}"]
    first = store.list_recipients(tenant, limit=2, cursor=None)
    assert [r.recipient_id for r in first.items] == ["alice", "bob"]
    rest = store.list_recipients(tenant, limit=2, cursor=first.next_cursor)
    assert [r.recipient_id for r in rest.items] == ["carol"]
    assert rest.next_cursor is None


def test_a_delivery_keeps_the_targets_it_has_not_reached(store: Store, tenant: str) -> None:
    nid = notification(tenant).id
    with_deliveries(
        store,
        tenant,
        delivery(tenant, nid, channel=Channel.PUSH, targets=["fcm:a", "apns:b"]),
    )
    key = DeliveryKey(tenant, nid, "alice", Channel.PUSH)
    claim = store.claim(key, token="t1", now=NOW, until=NOW + timedelta(seconds=20), sweep_at=NOW)
    assert claim is not None
    assert claim.delivery.targets == ["fcm:a", "apns:b"]
    retrying = claim.delivery.model_copy()
    retrying.status = DeliveryStatus.RETRYING
    retrying.targets = ["apns:b"]
    retrying.targets_reached = 1
    assert store.record(retrying, previous=DeliveryStatus.PENDING, token="t1", first=True)
    stored = store.get_delivery(key)
    assert stored is not None
    assert (stored.targets, stored.targets_reached) == (["apns:b"], 1)


def test_invalid_push_tokens_leave_the_recipient_and_nothing_else(
    store: Store, tenant: str
) -> None:
    store.put_recipient(
        Recipient(
            tenant_id=tenant,
            recipient_id="alice",
            email="alice@example.com",
            push_tokens=[
                PushToken(platform=PushPlatform.FCM, token="a"),
                PushToken(platform=PushPlatform.APNS, token="b"),
            ],
            created_at=NOW,
            updated_at=NOW,
        )
    )
    store.remove_push_tokens(tenant, "alice", ["fcm:a", "fcm:unknown"])
    kept = store.get_recipient(tenant, "alice")
    assert kept is not None
    assert [token.target for token in kept.push_tokens or []] == ["apns:b"]
    assert kept.email == "alice@example.com"
    store.remove_push_tokens(tenant, "alice", ["apns:b"])
    emptied = store.get_recipient(tenant, "alice")
    assert emptied is not None
    assert emptied.push_tokens is None
    store.remove_push_tokens(tenant, "nobody", ["apns:b"])


def test_a_push_token_keeps_its_endpoint_until_deleted(store: Store, tenant: str) -> None:
    target = f"fcm:{tenant}-token"
    assert store.get_push_endpoint(target) is None
    store.put_push_endpoint(target, "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1")
    assert (
        store.get_push_endpoint(target) == "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1"
    )
    store.delete_push_endpoint(target)
    assert store.get_push_endpoint(target) is None


def test_unattempted_deliveries_move_with_their_counts_under_their_conditions(
    store: Store, tenant: str
) -> None:
    # GIVEN two scheduled deliveries and one leased pending one
    nid = notification(tenant).id
    later = NOW + timedelta(hours=1)
    webhook = delivery(tenant, nid, status=DeliveryStatus.SCHEDULED, next_attempt_at=later)
    inbox = delivery(tenant, nid, channel=Channel.INBOX, status=DeliveryStatus.SCHEDULED)
    email = delivery(
        tenant, nid, channel=Channel.EMAIL, lease_token="t", lease_until=NOW + timedelta(seconds=5)
    )
    with_deliveries(store, tenant, webhook, inbox, email)
    # WHEN they are moved (the email one as read before it was leased)
    released = webhook.model_copy(
        update={"status": DeliveryStatus.PENDING, "next_attempt_at": None}
    )
    shown = inbox.model_copy(update={"status": DeliveryStatus.DELIVERED, "delivered_at": NOW})
    email_read = email.model_copy(update={"lease_token": None, "lease_until": None})
    skipped = email_read.model_copy(update={"status": DeliveryStatus.SKIPPED})
    moved = store.move([(webhook, released), (inbox, shown), (email_read, skipped)], now=NOW)
    # THEN the two scheduled ones moved, with the counts and the inline copies; not the leased
    assert {d.channel for d in moved} == {Channel.WEBHOOK, Channel.INBOX}
    stored = store.get_notification(tenant, nid)
    assert (stored.counts.pending, stored.counts.delivered, stored.counts.scheduled) == (2, 1, 0)
    assert {d.channel: d.status for d in stored.deliveries} == {
        Channel.WEBHOOK: DeliveryStatus.PENDING,
        Channel.INBOX: DeliveryStatus.DELIVERED,
        Channel.EMAIL: DeliveryStatus.PENDING,
    }
    # AND a second move of the same finds them moved already
    assert store.move([(webhook, released)], now=NOW) == []
    keys = [d.key for d in (webhook, inbox, email)]
    assert {d.status for d in store.get_deliveries(keys)} == {
        DeliveryStatus.PENDING,
        DeliveryStatus.DELIVERED,
    }


def test_a_notification_id_is_taken_once(store: Store, tenant: str) -> None:
    created = notification(tenant)
    store.create_notification(created, [], None)
    with pytest.raises(NotificationExists):
        store.create_notification(created, [], None)


@pytest.fixture
def timers_from_scratch(store: Store, request: pytest.FixtureRequest) -> None:
    """The DynamoDB table is shared by the session's tests: start its timer cursor afresh."""
    if isinstance(store, DynamoStore):
        moto: Moto = request.getfixturevalue("moto")
        moto.client("dynamodb").delete_item(
            TableName="tocsin", Key={"pk": {"S": "TIMERS"}, "sk": {"S": "CURSOR"}}
        )


def release(tenant: str, nid: str, due: datetime) -> Timer:
    return Timer(kind=TimerKind.RELEASE, tenant_id=tenant, due=due, notification_id=nid)


@pytest.mark.usefixtures("timers_from_scratch")
def test_timers_come_due_earliest_first_until_deleted(store: Store, tenant: str) -> None:
    base = NOW + timedelta(days=400)
    far = release(tenant, "far", base + timedelta(days=300))
    soon = release(tenant, "soon", base + timedelta(seconds=30))
    sooner = release(tenant, "sooner", base + timedelta(seconds=5))
    store.put_timers([far, soon, sooner])

    def due(until: datetime, now: datetime) -> list[str | None]:
        found = store.due_timers(until=until, now=now, limit=100)
        return [t.notification_id for t in found if t.tenant_id == tenant]

    assert due(base, base) == []
    assert due(base + timedelta(minutes=1), base) == ["sooner", "soon"]
    store.delete_timer(sooner)
    assert due(base + timedelta(minutes=1), base) == ["soon"]


@pytest.mark.usefixtures("timers_from_scratch")
def test_no_timer_is_missed_however_long_no_one_looked(store: Store, tenant: str) -> None:
    # GIVEN timers set an hour apart, and scans that run once, then not for three hours
    base = NOW + timedelta(days=800)
    store.due_timers(until=base, now=base, limit=100)
    timers = [release(tenant, f"n{hour}", base + timedelta(hours=hour)) for hour in (1, 2)]
    store.put_timers(timers)
    later = base + timedelta(hours=3)
    # WHEN the next scan comes
    found = store.due_timers(until=later, now=later, limit=100)
    # THEN both are due; and once done, the cursor moves on past them
    assert [t.notification_id for t in found if t.tenant_id == tenant] == ["n1", "n2"]
    for timer in timers:
        store.delete_timer(timer)
    store.due_timers(until=later, now=later, limit=100)
    # a timer set just before now (a late writer) is still found: recent minutes stay open
    late = release(tenant, "late", later - timedelta(minutes=2))
    store.put_timers([late])
    found = store.due_timers(until=later, now=later, limit=100)
    assert [t.notification_id for t in found if t.tenant_id == tenant] == ["late"]


def window(tenant: str, wid: str, **fields: Any) -> DigestWindow:
    return DigestWindow(
        tenant_id=tenant,
        recipient_id="alice",
        key="disk",
        window_id=wid,
        window_seconds=60,
        opened_at=NOW,
        closes_at=NOW + timedelta(seconds=60),
        **fields,
    )


def entry(tenant: str, wid: str, nid: str) -> DigestEntry:
    return DigestEntry(
        tenant_id=tenant,
        window_id=wid,
        notification_id=nid,
        created_at=NOW,
        content=Content(title=nid),
        channels=[Channel.WEBHOOK],
    )


def test_a_digest_window_opens_once_and_takes_entries_until_closed(
    store: Store, tenant: str
) -> None:
    def join(index: int, wid: str, *, opens: bool, replaces: str | None = None) -> None:
        created = notification(tenant, index)
        store.create_notification(
            created,
            [],
            None,
            digest=DigestJoin(
                window=window(tenant, wid),
                entry=entry(tenant, wid, created.id),
                opens=opens,
                replaces=replaces,
                max_items=3,
            ),
        )

    # GIVEN a window opened
    join(0, "W1", opens=True)
    # THEN a second opening that saw no window is refused, and nothing of it is stored
    with pytest.raises(DigestWindowMoved):
        join(1, "W2", opens=True)
    assert store.get_notification(tenant, notification(tenant, 1).id) is None
    # WHEN two more join, the window is full: a fourth is refused
    join(2, "W1", opens=False)
    join(3, "W1", opens=False)
    with pytest.raises(DigestWindowMoved):
        join(4, "W1", opens=False)
    current = store.get_digest_window(tenant, "alice", "disk")
    assert (current.window_id, current.items, current.closed) == ("W1", 3, False)
    # WHEN it closes, nobody joins it any more; a new window replaces it
    store.close_digest_window(tenant, "alice", "disk", "W1")
    with pytest.raises(DigestWindowMoved):
        join(5, "W1", opens=False)
    join(6, "W2", opens=True, replaces="W1")
    # THEN each window lists exactly what joined it
    assert [e.notification_id for e in store.digest_entries(tenant, "W1")] == [
        notification(tenant, index).id for index in (0, 2, 3)
    ]
    assert [e.notification_id for e in store.digest_entries(tenant, "W2")] == [
        notification(tenant, 6).id
    ]
    # AND closing a window that was replaced changes nothing
    store.close_digest_window(tenant, "alice", "disk", "W1")
    assert not store.get_digest_window(tenant, "alice", "disk").closed


def test_preferences_are_stored_alone_and_templates_list_by_name(store: Store, tenant: str) -> None:
    assert store.get_tenant_preferences(tenant) is None
    defaults = TenantPreferences(categories={"ops": TenantCategoryPreference(required=True)})
    store.put_tenant_preferences(tenant, defaults)
    assert store.get_tenant_preferences(tenant) == defaults

    own = RecipientPreferences(channels={Channel.SMS: False})
    assert not store.put_recipient_preferences(tenant, "nobody", own)
    store.put_recipient(
        Recipient(tenant_id=tenant, recipient_id="alice", name="A", created_at=NOW, updated_at=NOW)
    )
    assert store.put_recipient_preferences(tenant, "alice", own)
    stored = store.get_recipient(tenant, "alice")
    assert (stored.name, stored.preferences) == ("A", own)

    for name in ("b", "a", "c"):
        store.put_template(
            Template(tenant_id=tenant, name=name, title=name, created_at=NOW, updated_at=NOW)
        )
    first = store.list_templates(tenant, limit=2, cursor=None)
    rest = store.list_templates(tenant, limit=2, cursor=first.next_cursor)
    assert [t.name for t in first.items + rest.items] == ["a", "b", "c"]
    assert rest.next_cursor is None
    assert store.delete_template(tenant, "a")
    assert not store.delete_template(tenant, "a")
    assert store.get_template(tenant, "a") is None


def test_cancelling_unsent_deliveries_skips_the_open_and_unleased_only(
    store: Store, tenant: str
) -> None:
    # GIVEN a notification with a pending, a leased, a retrying and a delivered delivery
    nid = notification(tenant).id
    with_deliveries(
        store,
        tenant,
        delivery(tenant, nid, channel=Channel.WEBHOOK),
        delivery(tenant, nid, channel=Channel.EMAIL, address="a@example.com"),
        delivery(tenant, nid, channel=Channel.SMS, status=DeliveryStatus.RETRYING, attempts=1),
        delivery(tenant, nid, channel=Channel.INBOX, status=DeliveryStatus.DELIVERED),
    )
    leased = DeliveryKey(tenant, nid, "alice", Channel.EMAIL)
    until = NOW + timedelta(seconds=20)
    assert store.claim(leased, token="a", now=NOW, until=until, sweep_at=until) is not None
    # WHEN its unsent deliveries are cancelled
    cancelled = store.cancel_unsent_deliveries(tenant, nid, NOW)
    # THEN the pending and retrying ones are skipped (reason cancelled), counts and copy moved
    assert cancelled == 2
    stored = store.get_notification(tenant, nid)
    assert stored is not None
    assert stored.counts == Counts(pending=1, skipped=2, delivered=1)
    assert stored.deliveries is not None
    by_channel = {d.channel: d for d in stored.deliveries}
    assert (by_channel[Channel.WEBHOOK].status, by_channel[Channel.WEBHOOK].reason) == (
        DeliveryStatus.SKIPPED,
        Reason.CANCELLED,
    )
    assert by_channel[Channel.SMS].status is DeliveryStatus.SKIPPED
    assert by_channel[Channel.EMAIL].status is DeliveryStatus.PENDING
    # AND a claim finds the cancelled ones final; a second pass cancels nothing more
    webhook = store.claim(
        DeliveryKey(tenant, nid, "alice", Channel.WEBHOOK),
        token="b",
        now=NOW,
        until=until,
        sweep_at=until,
    )
    assert webhook is not None
    assert not webhook.held
    assert store.cancel_unsent_deliveries(tenant, nid, NOW) == 0
    assert store.cancel_unsent_deliveries(tenant, nid, until) == 1
