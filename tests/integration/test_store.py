"""The DynamoDB store against a real moto server: conditions, transactions, pages, cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.dynamodb import MAX_READS_PER_PAGE, DynamoStore
from chalicelib.models.common import Channel, DeliveryStatus, NotificationStatus, Severity
from chalicelib.models.stored import (
    DeadLetter,
    Delivery,
    IdempotencyRecord,
    InboxItem,
    Notification,
)
from chalicelib.ports import IdempotencyKeyTaken, InvalidCursor, VersionConflict
from infra.provision import Provisioned
from tests.integration.conftest import Moto

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(moto: Moto, provisioned: Provisioned) -> DynamoStore:
    return DynamoStore(moto.client("dynamodb"), "tocsin")


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def notification(
    tenant: str, index: int = 0, *, status: NotificationStatus = NotificationStatus.ACCEPTED
) -> Notification:
    created = NOW + timedelta(seconds=index)
    return Notification(
        tenant_id=tenant,
        id=f"01J{index:023d}",
        created_at=created,
        recipient_id="alice",
        channels=[Channel.INBOX],
        title=f"n{index}",
        status=status,
        deliveries=[Delivery(channel=Channel.INBOX, recipient_id="alice")],
        sweep_at=created + timedelta(seconds=10),
    )


def test_a_stale_write_is_a_version_conflict(store: DynamoStore, tenant: str) -> None:
    store.create_notification(notification(tenant), None)
    first = store.get_notification(tenant, notification(tenant).id)
    second = store.get_notification(tenant, notification(tenant).id)
    assert first is not None
    assert second is not None
    store.save_notification(first)
    with pytest.raises(VersionConflict):
        store.save_notification(second)
    assert second.version == 1


def test_an_idempotency_key_is_taken_once_per_window(store: DynamoStore, tenant: str) -> None:
    record = IdempotencyRecord(
        tenant_id=tenant,
        key="k",
        body_hash="h",
        notification_id="01J1",
        expires_at=NOW + timedelta(hours=24),
    )
    store.create_notification(notification(tenant, 1), record)
    with pytest.raises(IdempotencyKeyTaken):
        store.create_notification(
            notification(tenant, 2), record.model_copy(update={"notification_id": "01J2"})
        )
    assert store.get_notification(tenant, notification(tenant, 2).id) is None
    later = notification(tenant, 3)
    later.created_at = NOW + timedelta(hours=25)
    store.create_notification(
        later,
        record.model_copy(
            update={"notification_id": later.id, "expires_at": NOW + timedelta(hours=49)}
        ),
    )
    taken = store.get_idempotency(tenant, "k")
    assert taken is not None
    assert taken.notification_id == later.id


def test_lists_page_newest_first_and_filter_without_short_pages(
    store: DynamoStore, tenant: str
) -> None:
    for index in range(7):
        store.create_notification(
            notification(
                tenant,
                index,
                status=NotificationStatus.DELIVERED if index % 2 else NotificationStatus.ACCEPTED,
            ),
            None,
        )
    page = store.list_notifications(tenant, recipient_id=None, status=None, limit=3, cursor=None)
    assert [n.title for n in page.items] == ["n6", "n5", "n4"]
    rest = store.list_notifications(
        tenant, recipient_id="alice", status=None, limit=10, cursor=None
    )
    assert len(rest.items) == 7
    assert rest.next_cursor is None
    delivered = store.list_notifications(
        tenant, recipient_id=None, status=NotificationStatus.DELIVERED, limit=2, cursor=None
    )
    assert [n.title for n in delivered.items] == ["n5", "n3"]
    tail = store.list_notifications(
        tenant,
        recipient_id=None,
        status=NotificationStatus.DELIVERED,
        limit=2,
        cursor=delivered.next_cursor,
    )
    assert [n.title for n in tail.items] == ["n1"]
    assert tail.next_cursor is None


def test_a_cursor_only_fits_its_own_list(store: DynamoStore, tenant: str) -> None:
    for index in range(3):
        store.create_notification(notification(tenant, index), None)
    cursor = store.list_notifications(
        tenant, recipient_id=None, status=None, limit=1, cursor=None
    ).next_cursor
    assert cursor
    with pytest.raises(InvalidCursor):
        store.list_notifications(
            "someone-else", recipient_id=None, status=None, limit=1, cursor=cursor
        )
    with pytest.raises(InvalidCursor):
        store.list_notifications(tenant, recipient_id="alice", status=None, limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):
        store.list_notifications(tenant, recipient_id=None, status=None, limit=1, cursor="bm9wZQ")


def test_inbox_items_are_stored_once_and_read_once(store: DynamoStore, tenant: str) -> None:
    item = InboxItem(
        tenant_id=tenant,
        recipient_id="alice",
        notification_id="01J9",
        title="t",
        severity=Severity.INFO,
        created_at=NOW,
    )
    store.put_inbox_item(item)
    store.put_inbox_item(item.model_copy(update={"title": "changed"}))
    assert [
        i.title
        for i in store.list_inbox(
            tenant, "alice", since_id="0", unread_only=True, limit=10, cursor=None
        ).items
    ] == ["t"]
    assert store.mark_read(tenant, "alice", "01J9", NOW)
    assert store.mark_read(tenant, "alice", "01J9", NOW + timedelta(hours=1))
    [read] = store.list_inbox(
        tenant, "alice", since_id="0", unread_only=False, limit=10, cursor=None
    ).items
    assert read.read_at == NOW
    assert (
        store.list_inbox(
            tenant, "alice", since_id="0", unread_only=True, limit=10, cursor=None
        ).items
        == []
    )
    assert not store.mark_read(tenant, "alice", "01J0", NOW)


def test_dead_letters_change_with_the_notification(store: DynamoStore, tenant: str) -> None:
    store.create_notification(notification(tenant), None)
    stored = store.get_notification(tenant, notification(tenant).id)
    assert stored is not None
    stored.deliveries[0].status = DeliveryStatus.FAILED
    letter = DeadLetter(
        tenant_id=tenant,
        notification_id=stored.id,
        channel=Channel.INBOX,
        recipient_id="alice",
        attempts=8,
        last_error="x",
        failed_at=NOW,
    )
    store.save_notification(stored, add_dead_letters=[letter])
    assert store.list_dead_letters(tenant, limit=10, cursor=None).items == [letter]
    store.save_notification(stored, remove_dead_letters=[letter])
    assert store.list_dead_letters(tenant, limit=10, cursor=None).items == []


def test_open_notifications_come_due_for_the_sweeper(store: DynamoStore, tenant: str) -> None:
    created = notification(tenant, 5)
    store.create_notification(created, None)
    due_ids = {
        n.id for n in store.due_for_sweep(NOW + timedelta(seconds=16), 500) if n.tenant_id == tenant
    }
    assert created.id in due_ids
    stored = store.get_notification(tenant, created.id)
    assert stored is not None
    stored.sweep_at = None
    store.save_notification(stored)
    assert created.id not in {
        n.id for n in store.due_for_sweep(NOW + timedelta(days=1), 500) if n.tenant_id == tenant
    }


def test_concurrent_writers_of_one_version_see_exactly_one_success(
    store: DynamoStore, tenant: str
) -> None:
    import concurrent.futures

    store.create_notification(notification(tenant), None)
    copies = [store.get_notification(tenant, notification(tenant).id) for _ in range(16)]

    def save(copy: Notification | None) -> bool:
        assert copy is not None
        try:
            store.save_notification(copy)
        except VersionConflict:
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(save, copies))
    assert outcomes.count(True) == 1


def test_the_sweep_skips_an_unreadable_item_and_finds_the_rest(
    moto: Moto, store: DynamoStore, tenant: str
) -> None:
    readable = notification(tenant, 6)
    store.create_notification(readable, None)
    moto.client("dynamodb").put_item(
        TableName="tocsin",
        Item={
            "pk": {"S": f"T#{tenant}#N#broken"},
            "sk": {"S": "NOTIFICATION"},
            "doc": {"S": "{not json"},
            "version": {"N": "1"},
            "sweep_pk": {"S": "SWEEP#0"},
            "sweep_at": {"N": "0"},
        },
    )
    due = {n.id for n in store.due_for_sweep(NOW + timedelta(days=1), 500) if n.tenant_id == tenant}
    assert readable.id in due


def test_the_health_probe_gives_up_fast_on_a_table_that_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket
    import time

    from chalicelib import aws

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
    aws.forget_clients()
    try:
        started = time.monotonic()
        assert DynamoStore(aws.dynamodb_probe(), "tocsin").table_reachable() is False
        assert time.monotonic() - started < 10
    finally:
        aws.forget_clients()
        silent.close()


def test_the_inbox_shows_items_from_since_id_on(store: DynamoStore, tenant: str) -> None:
    for notification_id in ("01A", "01B", "01C"):
        store.put_inbox_item(
            InboxItem(
                tenant_id=tenant,
                recipient_id="bob",
                notification_id=notification_id,
                title="t",
                severity=Severity.INFO,
                created_at=NOW,
            )
        )
    for unread_only in (True, False):
        page = store.list_inbox(
            tenant, "bob", since_id="01B", unread_only=unread_only, limit=10, cursor=None
        )
        assert [item.notification_id for item in page.items] == ["01C", "01B"]


def test_a_rare_status_is_searched_a_bounded_number_of_reads_at_a_time(
    store: DynamoStore, tenant: str
) -> None:
    # GIVEN one delivered notification behind more accepted ones than a request reads
    store.create_notification(notification(tenant, 0, status=NotificationStatus.DELIVERED), None)
    for index in range(1, 100 * MAX_READS_PER_PAGE + 50):
        store.create_notification(notification(tenant, index), None)
    # WHEN the delivered ones are listed
    first = store.list_notifications(
        tenant, recipient_id=None, status=NotificationStatus.DELIVERED, limit=10, cursor=None
    )
    # THEN the first answer stops at the read cap with a cursor, and the cursor finds it
    assert first.items == []
    assert first.next_cursor is not None
    second = store.list_notifications(
        tenant,
        recipient_id=None,
        status=NotificationStatus.DELIVERED,
        limit=10,
        cursor=first.next_cursor,
    )
    assert [item.id for item in second.items] == [notification(tenant, 0).id]
    assert second.next_cursor is None
