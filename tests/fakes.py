"""One fake per port, for unit tests of the domain (no AWS, no network, no sleeps).

The fake store keeps the DynamoDB store's promises: the same conditions on each write, the same
order and page boundaries on each list (a bounded number of reads when filtering, with a cursor
to go on from), and opaque cursors bound to their list. ``tests/integration/test_store.py``
runs one suite against both.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.adapters.dynamodb import cancelled_delivery
from chalicelib.domain.topics import first_word
from chalicelib.models.common import Channel, DeliveryStatus
from chalicelib.models.messages import DeadLetterMessage, DeliveryMessage, FanoutMessage
from chalicelib.models.preferences import RecipientPreferences, TenantPreferences
from chalicelib.models.scheduling import DigestEntry, DigestJoin, DigestWindow, Timer
from chalicelib.models.stored import (
    ApiKeyRecord,
    ConsoleSession,
    Counts,
    DeadLetter,
    Delivery,
    DeliveryKey,
    Fanout,
    IdempotencyRecord,
    InboxItem,
    Notification,
    Recipient,
    Subscription,
    Tenant,
)
from chalicelib.models.templates import Template
from chalicelib.ports import (
    Claim,
    DigestWindowMoved,
    IdempotencyKeyTaken,
    InvalidCursor,
    NotificationExists,
    Outgoing,
    Page,
    PublishFailed,
    SendOutcome,
    Swept,
)

# As the DynamoDB store: reads of 100 items, at most five per filtered page.
READ_SIZE = 100
MAX_READS_PER_PAGE = 5


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def _cursor(scope: str, after: str) -> str:
    raw = json.dumps({"scope": scope, "after": after}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(scope: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("malformed cursor") from None
    if not isinstance(plain, dict) or not isinstance(plain.get("after"), str):
        raise InvalidCursor("malformed cursor")
    if plain.get("scope") != scope:
        raise InvalidCursor("this cursor belongs to another list")
    after: str = plain["after"]
    return after


def paged[T](
    rows: Sequence[tuple[str, T]],
    scope: str,
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool,
    keep: Callable[[T], bool] | None = None,
) -> Page[T]:
    """A page of ``rows`` (sort key, item) as the DynamoDB store pages a query."""
    after = _after(scope, cursor)
    ordered = sorted(rows, key=lambda row: row[0], reverse=newest_first)
    if after is not None:
        ordered = [row for row in ordered if (row[0] < after if newest_first else row[0] > after)]
    budget = MAX_READS_PER_PAGE * READ_SIZE if keep else limit + 1
    examined = ordered[:budget]
    kept = [row for row in examined if keep is None or keep(row[1])]
    if len(kept) > limit:
        kept = kept[:limit]
        return Page([item for _, item in kept], _cursor(scope, kept[-1][0]))
    more = len(ordered) > len(examined)
    next_cursor = _cursor(scope, examined[-1][0]) if more and examined else None
    return Page([item for _, item in kept], next_cursor)


class FakeStore:
    """Every store port in memory, with the DynamoDB store's conditions and paging."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.keys: dict[str, ApiKeyRecord] = {}
        self.sessions: dict[str, ConsoleSession] = {}
        self.recipients: dict[tuple[str, str], Recipient] = {}
        self.slots: dict[tuple[str, str, int], datetime] = {}
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.notifications: dict[tuple[str, str], Notification] = {}
        self.deliveries: dict[DeliveryKey, Delivery] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.push_endpoints: dict[str, str] = {}
        self.tenant_preferences: dict[str, TenantPreferences] = {}
        self.templates: dict[tuple[str, str], Template] = {}
        # Keyed as the DynamoDB store keys them: a timer set again for another time is another.
        self.timers: dict[tuple[str, datetime], Timer] = {}
        self.windows: dict[tuple[str, str, str], DigestWindow] = {}
        self.entries: dict[tuple[str, str], dict[str, DigestEntry]] = {}
        # Called before a delivery write commits: lets a test interleave a concurrent writer.
        self.before_write: list[Callable[[], None]] = []

    # --- tenants ------------------------------------------------------------------------------
    def get_tenant(self, name: str) -> Tenant | None:
        return self.tenants.get(name)

    def create_tenant(self, tenant: Tenant) -> Tenant:
        return self.tenants.setdefault(tenant.name, tenant)

    def put_api_key(self, record: ApiKeyRecord) -> None:
        self.keys[record.prefix] = record

    def get_api_key(self, prefix: str) -> ApiKeyRecord | None:
        return self.keys.get(prefix)

    def delete_api_key(self, prefix: str) -> bool:
        return self.keys.pop(prefix, None) is not None

    def list_api_keys(self, tenant_id: str) -> list[ApiKeyRecord]:
        return sorted(
            (record for record in self.keys.values() if record.tenant == tenant_id),
            key=lambda record: record.prefix,
        )

    # --- console sessions ---------------------------------------------------------------------
    def put_session(self, session: ConsoleSession) -> None:
        self.sessions[session.session_hash] = session.model_copy()

    def get_session(self, session_hash: str) -> ConsoleSession | None:
        found = self.sessions.get(session_hash)
        return None if found is None else found.model_copy()

    def delete_session(self, session_hash: str) -> None:
        self.sessions.pop(session_hash, None)

    # --- recipients and their endpoints -------------------------------------------------------
    def list_recipients(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Recipient]:
        rows = [
            (rid, recipient.model_copy())
            for (tid, rid), recipient in self.recipients.items()
            if tid == tenant_id
        ]
        return paged(rows, f"R#{tenant_id}", limit=limit, cursor=cursor, newest_first=False)

    def get_recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None:
        found = self.recipients.get((tenant_id, recipient_id))
        return None if found is None else found.model_copy()

    def get_recipients(self, tenant_id: str, recipient_ids: Sequence[str]) -> list[Recipient]:
        return [
            recipient.model_copy()
            for rid in dict.fromkeys(recipient_ids)
            if (recipient := self.recipients.get((tenant_id, rid))) is not None
        ]

    def put_recipient(self, recipient: Recipient) -> None:
        self.recipients[(recipient.tenant_id, recipient.recipient_id)] = recipient.model_copy()

    def delete_recipient(self, tenant_id: str, recipient_id: str) -> bool:
        return self.recipients.pop((tenant_id, recipient_id), None) is not None

    def remove_push_tokens(self, tenant_id: str, recipient_id: str, targets: Sequence[str]) -> None:
        recipient = self.recipients.get((tenant_id, recipient_id))
        if recipient is None or not recipient.push_tokens:
            return
        kept = [token for token in recipient.push_tokens if token.target not in set(targets)]
        recipient.push_tokens = kept or None

    # --- push endpoints -----------------------------------------------------------------------
    def get_push_endpoint(self, target: str) -> str | None:
        return self.push_endpoints.get(target)

    def put_push_endpoint(self, target: str, endpoint_arn: str) -> None:
        self.push_endpoints[target] = endpoint_arn

    def delete_push_endpoint(self, target: str) -> None:
        self.push_endpoints.pop(target, None)

    def _endpoint(self, tenant_id: str, recipient_id: str, url: str | None) -> Recipient | None:
        recipient = self.recipients.get((tenant_id, recipient_id))
        if recipient is None or (url is not None and recipient.webhook_url != url):
            return None
        return recipient

    def note_webhook_failure(
        self, tenant_id: str, recipient_id: str, url: str, now: datetime
    ) -> Recipient | None:
        recipient = self._endpoint(tenant_id, recipient_id, url)
        if recipient is None:
            return None
        recipient.webhook_failing_since = recipient.webhook_failing_since or now
        return recipient.model_copy()

    def restart_webhook_failing(
        self, tenant_id: str, recipient_id: str, url: str, since: datetime
    ) -> None:
        recipient = self._endpoint(tenant_id, recipient_id, url)
        if recipient is not None:
            recipient.webhook_failing_since = since

    def disable_webhook(
        self, tenant_id: str, recipient_id: str, url: str, failing_since: datetime, now: datetime
    ) -> bool:
        recipient = self._endpoint(tenant_id, recipient_id, url)
        if (
            recipient is None
            or recipient.webhook_failing_since != failing_since
            or recipient.webhook_disabled_at is not None
        ):
            return False
        recipient.webhook_disabled_at = now
        return True

    def clear_webhook_failing(self, tenant_id: str, recipient_id: str, url: str) -> None:
        recipient = self._endpoint(tenant_id, recipient_id, url)
        if recipient is not None and recipient.webhook_disabled_at is None:
            recipient.webhook_failing_since = None

    def enable_webhook(self, tenant_id: str, recipient_id: str) -> bool:
        recipient = self._endpoint(tenant_id, recipient_id, None)
        if recipient is None:
            return False
        recipient.webhook_failing_since = None
        recipient.webhook_disabled_at = None
        return True

    def webhook_succeeded_since(self, tenant_id: str, recipient_id: str, since: datetime) -> bool:
        return any(
            d.tenant_id == tenant_id
            and d.recipient_id == recipient_id
            and d.channel is Channel.WEBHOOK
            and d.status is DeliveryStatus.DELIVERED
            and d.delivered_at is not None
            and d.delivered_at >= since
            for d in self.deliveries.values()
        )

    def take_endpoint_slot(
        self, tenant_id: str, recipient_id: str, slot: int, until: datetime, now: datetime
    ) -> bool:
        if self._endpoint(tenant_id, recipient_id, None) is None:
            return False
        held = self.slots.get((tenant_id, recipient_id, slot))
        if held is not None and held >= now:
            return False
        self.slots[(tenant_id, recipient_id, slot)] = until
        return True

    def release_endpoint_slot(
        self, tenant_id: str, recipient_id: str, slot: int, until: datetime
    ) -> None:
        if self.slots.get((tenant_id, recipient_id, slot)) == until:
            del self.slots[(tenant_id, recipient_id, slot)]

    # --- subscriptions ------------------------------------------------------------------------
    def put_subscription(self, subscription: Subscription) -> None:
        key = (subscription.tenant_id, subscription.subscription_id)
        self.subscriptions[key] = subscription.model_copy()

    def get_subscription(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        found = self.subscriptions.get((tenant_id, subscription_id))
        return None if found is None else found.model_copy()

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        return self.subscriptions.pop((tenant_id, subscription_id), None) is not None

    def list_subscriptions(
        self,
        tenant_id: str,
        *,
        keep: Callable[[Subscription], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Subscription]:
        rows = [(sid, s) for (t, sid), s in self.subscriptions.items() if t == tenant_id]
        return paged(
            rows, f"subs:{tenant_id}", limit=limit, cursor=cursor, newest_first=False, keep=keep
        )

    def subscriptions_by_first_word(
        self, tenant_id: str, first_word_: str, *, after_recipient: str | None, limit: int
    ) -> Page[Subscription]:
        rows = sorted(
            (f"{s.recipient_id}#{s.subscription_id}", s)
            for (t, _), s in self.subscriptions.items()
            if t == tenant_id
            and first_word(s.pattern) == first_word_
            and (after_recipient is None or s.recipient_id > after_recipient)
        )
        items = [s for _, s in rows[:limit]]
        return Page(items, "more" if len(rows) >= limit else None)

    # --- notifications ------------------------------------------------------------------------
    def create_notification(
        self,
        notification: Notification,
        deliveries: Sequence[Delivery],
        idempotency: IdempotencyRecord | None,
        *,
        timers: Sequence[Timer] = (),
        digest: DigestJoin | None = None,
    ) -> None:
        if idempotency is not None:
            key = (idempotency.tenant_id, idempotency.key)
            existing = self.idempotency.get(key)
            if existing is not None and existing.expires_at > notification.created_at:
                raise IdempotencyKeyTaken(idempotency.key)
        if (notification.tenant_id, notification.id) in self.notifications:
            raise NotificationExists(notification.id)
        if digest is not None:
            self._check_join(digest)
        if idempotency is not None:
            self.idempotency[(idempotency.tenant_id, idempotency.key)] = idempotency
        self.notifications[(notification.tenant_id, notification.id)] = notification.model_copy(
            deep=True
        )
        for delivery in deliveries:
            self.deliveries[delivery.key] = delivery.model_copy()
        self.put_timers(timers)
        if digest is not None:
            self._join(digest)

    def _check_join(self, join: DigestJoin) -> None:
        window = join.window
        current = self.windows.get((window.tenant_id, window.recipient_id, window.key))
        if join.opens:
            holds = (current is None and join.replaces is None) or (
                current is not None and current.window_id == join.replaces
            )
        else:
            holds = (
                current is not None
                and current.window_id == window.window_id
                and not current.closed
                and current.items < join.max_items
            )
        if not holds:
            raise DigestWindowMoved(window.window_id)

    def _join(self, join: DigestJoin) -> None:
        window = join.window
        key = (window.tenant_id, window.recipient_id, window.key)
        if join.opens:
            self.windows[key] = window.model_copy(update={"closed": False, "items": 1})
        else:
            self.windows[key].items += 1
        entry = join.entry
        self.entries.setdefault((entry.tenant_id, entry.window_id), {})[entry.notification_id] = (
            entry.model_copy()
        )

    def get_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        return self.idempotency.get((tenant_id, key))

    def get_notification(self, tenant_id: str, notification_id: str) -> Notification | None:
        stored = self.notifications.get((tenant_id, notification_id))
        return None if stored is None else stored.model_copy(deep=True)

    def list_notifications(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        keep: Callable[[Notification], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Notification]:
        rows = [
            (nid, n.model_copy(deep=True))
            for (t, nid), n in self.notifications.items()
            if t == tenant_id and (recipient_id is None or n.recipient_id == recipient_id)
        ]
        scope = f"notifications:{tenant_id}:{recipient_id}"
        return paged(rows, scope, limit=limit, cursor=cursor, newest_first=True, keep=keep)

    def list_deliveries(
        self,
        tenant_id: str,
        notification_id: str,
        *,
        keep: Callable[[Delivery], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        rows = [
            (f"{d.recipient_id}#{d.channel.value}", d.model_copy())
            for key, d in self.deliveries.items()
            if key.tenant_id == tenant_id and key.notification_id == notification_id
        ]
        scope = f"deliveries:{tenant_id}:{notification_id}"
        return paged(rows, scope, limit=limit, cursor=cursor, newest_first=False, keep=keep)

    def cancel_notification(self, tenant_id: str, notification_id: str, at: datetime) -> None:
        notification = self.notifications[(tenant_id, notification_id)]
        notification.cancelled_at = notification.cancelled_at or at

    def cancel_unsent_deliveries(self, tenant_id: str, notification_id: str, now: datetime) -> int:
        cancelled = 0
        keys = [
            key
            for key in self.deliveries
            if key.tenant_id == tenant_id and key.notification_id == notification_id
        ]
        for key in keys:
            self._before_write()
            stored = self.deliveries[key]
            leased = stored.lease_until is not None and stored.lease_until > now
            if stored.status.is_final or leased:
                continue
            updated = cancelled_delivery(stored)
            self.deliveries[key] = updated
            self._count(updated, {stored.status: -1, DeliveryStatus.SKIPPED: 1})
            cancelled += 1
        return cancelled

    # --- deliveries ---------------------------------------------------------------------------
    def get_delivery(self, key: DeliveryKey) -> Delivery | None:
        found = self.deliveries.get(key)
        return None if found is None else found.model_copy()

    def claim(
        self, key: DeliveryKey, *, token: str, now: datetime, until: datetime, sweep_at: datetime
    ) -> Claim | None:
        self._before_write()
        delivery = self.deliveries.get(key)
        if delivery is None:
            return None
        due = (
            delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
            and (delivery.next_attempt_at is None or delivery.next_attempt_at <= now)
            and (delivery.lease_until is None or delivery.lease_until <= now)
        )
        if not due:
            return Claim(delivery.model_copy(), held=False)
        delivery.lease_token = token
        delivery.lease_until = until
        delivery.sweep_at = sweep_at
        return Claim(delivery.model_copy(), held=True)

    def record(
        self, delivery: Delivery, *, previous: DeliveryStatus, token: str | None, first: bool
    ) -> bool:
        self._before_write()
        stored = self.deliveries.get(delivery.key)
        if stored is None:
            return False
        if token is not None and stored.lease_token != token:
            return False
        if token is None and stored.status is not previous:
            return False
        self.deliveries[delivery.key] = delivery.model_copy()
        self._count(
            delivery, {previous: -1, delivery.status: 1} if previous is not delivery.status else {}
        )
        notification = self.notifications.get((delivery.tenant_id, delivery.notification_id))
        if notification is not None and first:
            notification.attempted += 1
        return True

    def _count(self, delivery: Delivery, moves: dict[DeliveryStatus, int]) -> None:
        notification = self.notifications.get((delivery.tenant_id, delivery.notification_id))
        if notification is None:
            return
        for status, change in moves.items():
            setattr(notification.counts, status.value, notification.counts.of(status) + change)
        if delivery.inline and notification.deliveries is not None:
            # The inline copy leaves out the attempt log, as the table's does.
            notification.deliveries = [
                delivery.model_copy(update={"attempt_log": []})
                if d.channel is delivery.channel
                else d
                for d in notification.deliveries
            ]

    def reopen(
        self, deliveries: Sequence[Delivery], *, now: datetime, sweep_at: datetime
    ) -> list[Delivery]:
        reopened = []
        for delivery in deliveries:
            stored = self.deliveries.get(delivery.key)
            if stored is None or stored.status is not DeliveryStatus.FAILED:
                continue
            fresh = stored.model_copy()
            fresh.status = DeliveryStatus.PENDING
            fresh.budget_attempts = 0
            fresh.failed_at = None
            fresh.next_attempt_at = None
            fresh.lease_token = None
            fresh.lease_until = None
            fresh.sweep_at = sweep_at
            fresh.sweeps = 0
            self.deliveries[fresh.key] = fresh
            self._count(fresh, {DeliveryStatus.FAILED: -1, DeliveryStatus.PENDING: 1})
            reopened.append(fresh.model_copy())
        return reopened

    def bump_sweep(self, delivery: Delivery, *, sweep_at: datetime) -> bool:
        stored = self.deliveries.get(delivery.key)
        if (
            stored is None
            or stored.status is not delivery.status
            or stored.sweep_at != delivery.sweep_at
        ):
            return False
        stored.sweep_at = sweep_at
        stored.sweeps += 1
        return True

    def move(
        self, changes: Sequence[tuple[Delivery, Delivery]], *, now: datetime
    ) -> list[Delivery]:
        moved = []
        for before, after in changes:
            stored = self.deliveries.get(before.key)
            if (
                stored is None
                or stored.status is not before.status
                or stored.attempts != before.attempts
                or (stored.lease_until is not None and stored.lease_until > now)
            ):
                continue
            self.deliveries[after.key] = after.model_copy()
            self._count(after, {before.status: -1, after.status: 1})
            moved.append(after.model_copy())
        return moved

    def get_deliveries(self, keys: Sequence[DeliveryKey]) -> list[Delivery]:
        return [self.deliveries[key].model_copy() for key in keys if key in self.deliveries]

    # --- timers and digests -------------------------------------------------------------------
    def put_timers(self, timers: Sequence[Timer]) -> None:
        for timer in timers:
            self.timers[(timer.name, timer.due)] = timer.model_copy()

    def due_timers(self, *, until: datetime, now: datetime, limit: int) -> list[Timer]:
        due = sorted(
            (timer for timer in self.timers.values() if timer.due <= until), key=lambda t: t.due
        )
        return [timer.model_copy() for timer in due[:limit]]

    def delete_timer(self, timer: Timer) -> None:
        self.timers.pop((timer.name, timer.due), None)

    def get_digest_window(self, tenant_id: str, recipient_id: str, key: str) -> DigestWindow | None:
        found = self.windows.get((tenant_id, recipient_id, key))
        return None if found is None else found.model_copy()

    def close_digest_window(
        self, tenant_id: str, recipient_id: str, key: str, window_id: str
    ) -> None:
        window = self.windows.get((tenant_id, recipient_id, key))
        if window is not None and window.window_id == window_id:
            window.closed = True

    def digest_entries(self, tenant_id: str, window_id: str) -> list[DigestEntry]:
        entries = self.entries.get((tenant_id, window_id), {})
        return [entries[nid].model_copy() for nid in sorted(entries)]

    # --- preferences and templates ------------------------------------------------------------
    def get_tenant_preferences(self, tenant_id: str) -> TenantPreferences | None:
        found = self.tenant_preferences.get(tenant_id)
        return None if found is None else found.model_copy(deep=True)

    def put_tenant_preferences(self, tenant_id: str, preferences: TenantPreferences) -> None:
        self.tenant_preferences[tenant_id] = preferences.model_copy(deep=True)

    def put_recipient_preferences(
        self, tenant_id: str, recipient_id: str, preferences: RecipientPreferences
    ) -> bool:
        recipient = self.recipients.get((tenant_id, recipient_id))
        if recipient is None:
            return False
        recipient.preferences = preferences.model_copy(deep=True)
        return True

    def put_template(self, template: Template) -> None:
        self.templates[(template.tenant_id, template.name)] = template.model_copy(deep=True)

    def get_template(self, tenant_id: str, name: str) -> Template | None:
        found = self.templates.get((tenant_id, name))
        return None if found is None else found.model_copy(deep=True)

    def delete_template(self, tenant_id: str, name: str) -> bool:
        return self.templates.pop((tenant_id, name), None) is not None

    def list_templates(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Template]:
        rows = [
            (name, t.model_copy(deep=True))
            for (tid, name), t in self.templates.items()
            if tid == tenant_id
        ]
        return paged(rows, f"templates:{tenant_id}", limit=limit, cursor=cursor, newest_first=False)

    def _before_write(self) -> None:
        while self.before_write:
            self.before_write.pop(0)()

    # --- fan-out ------------------------------------------------------------------------------
    def _stored_fanout(self, notification: Notification) -> tuple[Notification, Fanout] | None:
        stored = self.notifications.get((notification.tenant_id, notification.id))
        if stored is None or stored.fanout is None:
            return None
        return stored, stored.fanout

    def begin_page(self, notification: Notification) -> bool:
        found = self._stored_fanout(notification)
        expected = (notification.fanout or Fanout()).cursor
        if found is None:
            return False
        _, fanout = found
        if fanout.done or fanout.error is not None or fanout.cursor != expected:
            return False
        fanout.writing = expected or ""
        return True

    def existing_deliveries(self, keys: Sequence[DeliveryKey]) -> dict[DeliveryKey, Delivery]:
        return {key: self.deliveries[key].model_copy() for key in keys if key in self.deliveries}

    def put_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self.deliveries[delivery.key] = delivery.model_copy()

    def checkpoint_page(
        self,
        notification: Notification,
        *,
        cursor: str | None,
        counts: Counts,
        recipients: int,
        done: bool,
        sweep_at: datetime | None,
    ) -> bool:
        found = self._stored_fanout(notification)
        start = (notification.fanout or Fanout()).cursor or ""
        if found is None:
            return False
        stored, fanout = found
        if fanout.writing != start or fanout.done:
            return False
        fanout.cursor = cursor
        fanout.writing = None
        fanout.done = done
        fanout.pages += 1
        for status in DeliveryStatus:
            setattr(stored.counts, status.value, stored.counts.of(status) + counts.of(status))
        stored.recipients += recipients
        stored.sweep_at = sweep_at
        stored.sweeps = 0 if sweep_at is not None else stored.sweeps
        return True

    def fail_fanout(self, notification: Notification, error: str) -> None:
        stored = self.notifications[(notification.tenant_id, notification.id)]
        assert stored.fanout is not None
        stored.fanout.error = error
        stored.sweep_at = None

    def bump_notification_sweep(self, notification: Notification, *, sweep_at: datetime) -> bool:
        stored = self.notifications.get((notification.tenant_id, notification.id))
        if stored is None or stored.sweep_at != notification.sweep_at:
            return False
        stored.sweep_at = sweep_at
        stored.sweeps += 1
        return True

    # --- sweep --------------------------------------------------------------------------------
    def due_for_sweep(self, now: datetime, limit: int) -> list[Swept]:
        due = [
            Swept(delivery=key)
            for key, d in self.deliveries.items()
            if d.sweep_at is not None and d.sweep_at <= now and not d.status.is_final
        ]
        due += [
            Swept(notification=key)
            for key, n in self.notifications.items()
            if n.sweep_at is not None and n.sweep_at <= now
        ]
        return due[:limit]

    # --- inbox --------------------------------------------------------------------------------
    def list_inbox(
        self,
        tenant_id: str,
        recipient_id: str,
        *,
        since_id: str,
        unread_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[InboxItem]:
        rows = []
        for key, delivery in self.deliveries.items():
            if (
                key.tenant_id != tenant_id
                or key.recipient_id != recipient_id
                or key.channel is not Channel.INBOX
                or delivery.status is not DeliveryStatus.DELIVERED
                or key.notification_id < since_id
                or (unread_only and delivery.read_at is not None)
            ):
                continue
            notification = self.notifications[(tenant_id, key.notification_id)]
            item = InboxItem(
                tenant_id=tenant_id,
                recipient_id=recipient_id,
                notification_id=key.notification_id,
                content=delivery.content or notification.content,
                created_at=delivery.created_at or notification.created_at,
                read_at=delivery.read_at,
            )
            rows.append((key.notification_id, item))
        scope = f"inbox:{tenant_id}:{recipient_id}:{unread_only}"
        return paged(rows, scope, limit=limit, cursor=cursor, newest_first=True)

    def mark_read(
        self, tenant_id: str, recipient_id: str, notification_id: str, at: datetime
    ) -> bool:
        delivery = self.deliveries.get(
            DeliveryKey(tenant_id, notification_id, recipient_id, Channel.INBOX)
        )
        if delivery is None:
            return False
        delivery.read_at = delivery.read_at or at
        return True

    # --- dead letters -------------------------------------------------------------------------
    def list_dead_letters(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[DeadLetter]:
        rows = [
            (
                f"{d.failed_at.isoformat()}#{d.notification_id}#{d.channel.value}#{d.recipient_id}",
                DeadLetter(
                    tenant_id=d.tenant_id,
                    notification_id=d.notification_id,
                    channel=d.channel,
                    recipient_id=d.recipient_id,
                    attempts=d.attempts,
                    last_error=d.last_error,
                    failed_at=d.failed_at,
                ),
            )
            for d in self.deliveries.values()
            if d.tenant_id == tenant_id
            and d.status is DeliveryStatus.FAILED
            and d.failed_at is not None
        ]
        return paged(rows, f"dead:{tenant_id}", limit=limit, cursor=cursor, newest_first=True)

    def table_reachable(self) -> bool:
        return True


@dataclass
class FakeTimerQueue:
    """Records the timers handed to the queue, with the delay each was given."""

    hinted: list[tuple[Timer, float]] = field(default_factory=list)
    failing: bool = False

    def hint(self, timers: Sequence[Timer], *, now: datetime) -> None:
        if self.failing:
            raise PublishFailed("SQS is down")
        self.hinted += [(timer, max(0.0, (timer.due - now).total_seconds())) for timer in timers]


@dataclass
class FakePublisher:
    announced: list[tuple[DeliveryMessage, list[Channel]]] = field(default_factory=list)
    fanouts: list[FanoutMessage] = field(default_factory=list)
    queued: list[tuple[Channel, DeliveryMessage]] = field(default_factory=list)
    dead: list[tuple[Channel, DeadLetterMessage]] = field(default_factory=list)
    failing: bool = False

    def announce(self, message: DeliveryMessage, channels: Sequence[Channel]) -> None:
        self._check()
        self.announced.append((message, list(channels)))

    def start_fanout(self, message: FanoutMessage) -> None:
        self._check()
        self.fanouts.append(message)

    def enqueue(self, channel: Channel, messages: Sequence[DeliveryMessage]) -> None:
        self._check()
        self.queued += [(channel, message) for message in messages]

    def dead_letter(self, channel: Channel, message: DeadLetterMessage) -> None:
        self.dead.append((channel, message))

    def _check(self) -> None:
        if self.failing:
            raise PublishFailed("SNS is down")


class ScriptedSender:
    """A channel whose answers are scripted; records every attempt."""

    def __init__(self, channel: Channel, *outcomes: SendOutcome) -> None:
        self.channel = channel
        self._outcomes = list(outcomes)
        self.sent: list[tuple[str, str, str | None]] = []
        self.outgoing: list[Outgoing] = []
        self.during_send: list[Callable[[], None]] = []

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        self.sent.append((outgoing.notification_id, delivery.recipient_id, delivery.webhook_id))
        self.outgoing.append(outgoing)
        while self.during_send:
            self.during_send.pop(0)()
        return self._outcomes.pop(0) if self._outcomes else SendOutcome.ok()


class Crash(BaseException):
    """Stands for the process dying at a crash point."""
