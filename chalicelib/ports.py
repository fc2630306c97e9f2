"""What the domain needs from the world. Adapters implement these; tests inject fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from chalicelib.models.common import Channel, DeliveryStatus, Reason
from chalicelib.models.messages import DeadLetterMessage, DeliveryMessage, FanoutMessage
from chalicelib.models.preferences import RecipientPreferences, TenantPreferences
from chalicelib.models.scheduling import DigestEntry, DigestJoin, DigestWindow, Timer
from chalicelib.models.stored import (
    ApiKeyRecord,
    Content,
    Counts,
    DeadLetter,
    Delivery,
    DeliveryKey,
    IdempotencyRecord,
    InboxItem,
    Notification,
    Recipient,
    Subscription,
    Tenant,
)
from chalicelib.models.templates import Template

# Deliveries written with their notification in one transaction (DynamoDB's limit is 100 items).
MAX_INLINE_DELIVERIES = 90


class NotificationExists(Exception):
    """A notification with this id is stored already."""


class IdempotencyKeyTaken(Exception):
    """Another request created a notification under this idempotency key first."""


class InvalidCursor(Exception):
    """A pagination cursor that this list did not issue."""


class PublishFailed(Exception):
    """A message could not be published (the sweeper will publish it)."""


class DigestWindowMoved(Exception):
    """The digest window a notification was to join closed, or another one opened first."""


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class SendOutcome:
    """What one attempt of one delivery came to."""

    delivered: bool
    permanent: bool = False
    error: str | None = None
    # Seconds the receiver asked us to wait (Retry-After), when it did.
    retry_after: float | None = None
    # The receiver's HTTP status, for channels that speak HTTP and got an answer: a record for
    # the attempt's timeline, not part of what the outcome is (two outcomes that differ only
    # here are the same outcome).
    http_status: int | None = field(default=None, compare=False)
    # Not attempted and never will be (e.g. every push token invalid): the delivery is skipped.
    skip_reason: Reason | None = None
    # A channel with several targets: those still to reach (None: the delivery's are unchanged),
    # how many this attempt reached, and those the platform reports invalid (to forget).
    remaining: tuple[str, ...] | None = None
    reached: int = 0
    invalid: tuple[str, ...] = ()

    @classmethod
    def ok(cls, http_status: int | None = None) -> SendOutcome:
        return cls(delivered=True, http_status=http_status)

    @classmethod
    def transient(
        cls, error: str, retry_after: float | None = None, http_status: int | None = None
    ) -> SendOutcome:
        return cls(delivered=False, error=error, retry_after=retry_after, http_status=http_status)

    @classmethod
    def skipped(cls, reason: Reason, error: str) -> SendOutcome:
        return cls(delivered=False, permanent=True, error=error, skip_reason=reason)

    @classmethod
    def permanent_failure(cls, error: str, http_status: int | None = None) -> SendOutcome:
        return cls(delivered=False, permanent=True, error=error, http_status=http_status)


@dataclass(frozen=True)
class Claim:
    """The answer to a claim on a delivery: the delivery as it now stands, and whether this
    caller holds its lease (else someone else does, it is not due yet, or it is final)."""

    delivery: Delivery
    held: bool


@dataclass(frozen=True)
class Matched:
    """A recipient that a topic reaches, with the subscriptions of it that match."""

    recipient_id: str
    subscriptions: list[Subscription]


@dataclass(frozen=True)
class Swept:
    """An item the sweeper found overdue: a delivery, or a notification whose fan-out stalled."""

    delivery: DeliveryKey | None = None
    notification: tuple[str, str] | None = None


class Clock(Protocol):
    def now(self) -> datetime: ...


class TenantStore(Protocol):
    def get_tenant(self, name: str) -> Tenant | None: ...

    def create_tenant(self, tenant: Tenant) -> Tenant:
        """Stores the tenant unless it exists; returns the stored one either way."""
        ...

    def put_api_key(self, record: ApiKeyRecord) -> None: ...

    def get_api_key(self, prefix: str) -> ApiKeyRecord | None: ...

    def delete_api_key(self, prefix: str) -> bool: ...


class RecipientStore(Protocol):
    def get_recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None: ...

    def get_recipients(self, tenant_id: str, recipient_ids: Sequence[str]) -> list[Recipient]:
        """Those of ``recipient_ids`` that exist, in any order."""
        ...

    def put_recipient(self, recipient: Recipient) -> None: ...

    def delete_recipient(self, tenant_id: str, recipient_id: str) -> bool: ...

    def remove_push_tokens(self, tenant_id: str, recipient_id: str, targets: Sequence[str]) -> None:
        """Removes the push tokens named as ``platform:token`` from the recipient (if it still
        has them), leaving every other change made meanwhile."""
        ...


class PushEndpointStore(Protocol):
    """The SNS platform endpoint made for each push token (one per token, made on first use)."""

    def get_push_endpoint(self, target: str) -> str | None: ...

    def put_push_endpoint(self, target: str, endpoint_arn: str) -> None: ...

    def delete_push_endpoint(self, target: str) -> None: ...


class EndpointStore(Protocol):
    """The health of a recipient's webhook endpoint, and the slots that cap its concurrent
    sends while it fails. Each change names the URL it concerns: a recipient whose URL changed
    meanwhile is left alone."""

    def note_webhook_failure(
        self, tenant_id: str, recipient_id: str, url: str, now: datetime
    ) -> Recipient | None:
        """Marks the endpoint failing since ``now`` unless it already is; the recipient after
        the change (None when the URL changed or the recipient is gone)."""
        ...

    def restart_webhook_failing(
        self, tenant_id: str, recipient_id: str, url: str, since: datetime
    ) -> None: ...

    def disable_webhook(
        self, tenant_id: str, recipient_id: str, url: str, failing_since: datetime, now: datetime
    ) -> bool: ...

    def clear_webhook_failing(self, tenant_id: str, recipient_id: str, url: str) -> None: ...

    def enable_webhook(self, tenant_id: str, recipient_id: str) -> bool:
        """False when there is no such recipient."""
        ...

    def webhook_succeeded_since(
        self, tenant_id: str, recipient_id: str, since: datetime
    ) -> bool: ...

    def take_endpoint_slot(
        self, tenant_id: str, recipient_id: str, slot: int, until: datetime, now: datetime
    ) -> bool: ...

    def release_endpoint_slot(
        self, tenant_id: str, recipient_id: str, slot: int, until: datetime
    ) -> None: ...


class SubscriptionStore(Protocol):
    def put_subscription(self, subscription: Subscription) -> None: ...

    def get_subscription(self, tenant_id: str, subscription_id: str) -> Subscription | None: ...

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool: ...

    def list_subscriptions(
        self,
        tenant_id: str,
        *,
        keep: Callable[[Subscription], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Subscription]: ...

    def subscriptions_by_first_word(
        self, tenant_id: str, first_word: str, *, after_recipient: str | None, limit: int
    ) -> Page[Subscription]:
        """Subscriptions whose pattern starts with ``first_word`` (a word, ``*`` or ``#``),
        ordered by recipient id then subscription id, after every one of ``after_recipient``.
        ``next_cursor`` is set when more may follow."""
        ...


class NotificationStore(Protocol):
    def create_notification(
        self,
        notification: Notification,
        deliveries: Sequence[Delivery],
        idempotency: IdempotencyRecord | None,
        *,
        timers: Sequence[Timer] = (),
        digest: DigestJoin | None = None,
    ) -> None:
        """Stores the notification with its deliveries (at most MAX_INLINE_DELIVERIES), its
        timers and its place in a digest window, all or nothing. Raises IdempotencyKeyTaken
        when a live record already holds the key, DigestWindowMoved when the window is no
        longer as ``digest`` expects, and NotificationExists when the id is taken."""
        ...

    def get_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None: ...

    def get_notification(self, tenant_id: str, notification_id: str) -> Notification | None: ...

    def list_notifications(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        keep: Callable[[Notification], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Notification]:
        """Newest first. With ``keep``, pages may come back short (a bounded number of table
        reads per call) with a cursor to go on from."""
        ...

    def list_deliveries(
        self,
        tenant_id: str,
        notification_id: str,
        *,
        keep: Callable[[Delivery], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        """By recipient id, then channel."""
        ...

    def cancel_notification(self, tenant_id: str, notification_id: str, at: datetime) -> None: ...

    def cancel_unsent_deliveries(self, tenant_id: str, notification_id: str, now: datetime) -> int:
        """Every open delivery of the notification (pending, retrying, scheduled) that no
        attempt holds right now becomes ``skipped`` with reason ``cancelled``, its counts moved
        in the same write; returns how many. A send already under way is left to finish.
        (Used when an alert is acknowledged or resolved.)"""
        ...


class DeliveryStore(Protocol):
    def get_delivery(self, key: DeliveryKey) -> Delivery | None: ...

    def claim(
        self, key: DeliveryKey, *, token: str, now: datetime, until: datetime, sweep_at: datetime
    ) -> Claim | None:
        """Takes the delivery's lease if it is open, due and not leased; None when there is no
        such delivery."""
        ...

    def record(
        self, delivery: Delivery, *, previous: DeliveryStatus, token: str | None, first: bool
    ) -> bool:
        """Writes a delivery's new state and moves its notification's counts from ``previous``
        to the new status (``first``: its first attempt, counted too). With a ``token`` the
        write holds only while that lease does; without, only while the stored status is still
        ``previous``. False when the condition fails (someone else wrote first)."""
        ...

    def reopen(
        self, deliveries: Sequence[Delivery], *, now: datetime, sweep_at: datetime
    ) -> list[Delivery]:
        """Failed deliveries back to ``pending`` with a fresh attempt budget, with their
        counts; those that are no longer failed are left as they are. Returns the reopened."""
        ...

    def bump_sweep(self, delivery: Delivery, *, sweep_at: datetime) -> bool:
        """Moves an open delivery's sweep time on (and counts the sweep) if it has not changed
        since it was read."""
        ...

    def move(
        self, changes: Sequence[tuple[Delivery, Delivery]], *, now: datetime
    ) -> list[Delivery]:
        """Unattempted deliveries of one notification to a new state, each (as read, as it
        becomes), with their counts: each holds only while the stored delivery still has the
        status and attempts it was read with and no live lease. Returns those that moved."""
        ...

    def get_deliveries(self, keys: Sequence[DeliveryKey]) -> list[Delivery]:
        """Those of ``keys`` that exist, in any order."""
        ...


class FanoutStore(Protocol):
    def begin_page(self, notification: Notification) -> bool:
        """Marks the page that starts at the notification's cursor as being written; False
        when the notification moved on meanwhile."""
        ...

    def existing_deliveries(self, keys: Sequence[DeliveryKey]) -> dict[DeliveryKey, Delivery]: ...

    def put_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        """Writes deliveries that no one else writes (a new page's): batched, unconditional."""
        ...

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
        """Ends the page begun from the notification's cursor: moves the cursor, adds the page's
        counts, and ends the fan-out when ``done``. False when someone else ended it."""
        ...

    def fail_fanout(self, notification: Notification, error: str) -> None: ...

    def bump_notification_sweep(
        self, notification: Notification, *, sweep_at: datetime
    ) -> bool: ...


class SweepStore(Protocol):
    def due_for_sweep(self, now: datetime, limit: int) -> list[Swept]: ...


class InboxStore(Protocol):
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
        """Items of notifications whose id sorts at or after ``since_id``, newest first."""
        ...

    def mark_read(
        self, tenant_id: str, recipient_id: str, notification_id: str, at: datetime
    ) -> bool:
        """False when the recipient has no such inbox item."""
        ...


class DeadLetterStore(Protocol):
    def list_dead_letters(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[DeadLetter]: ...


class PreferenceStore(Protocol):
    def get_tenant_preferences(self, tenant_id: str) -> TenantPreferences | None: ...

    def put_tenant_preferences(self, tenant_id: str, preferences: TenantPreferences) -> None: ...

    def put_recipient_preferences(
        self, tenant_id: str, recipient_id: str, preferences: RecipientPreferences
    ) -> bool:
        """Replaces the recipient's preferences alone; False when there is no such recipient."""
        ...


class TemplateStore(Protocol):
    def put_template(self, template: Template) -> None: ...

    def get_template(self, tenant_id: str, name: str) -> Template | None: ...

    def delete_template(self, tenant_id: str, name: str) -> bool: ...

    def list_templates(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Template]:
        """By name."""
        ...


class TimerStore(Protocol):
    def put_timers(self, timers: Sequence[Timer]) -> None: ...

    def due_timers(self, *, until: datetime, now: datetime, limit: int) -> list[Timer]:
        """Stored timers due at or before ``until``, earliest first (at most ``limit``). Cheap
        however many timers lie further ahead, and none is missed however long no one looked
        (``now`` tells which past stretches no timer can be added to any more)."""
        ...

    def delete_timer(self, timer: Timer) -> None: ...


class DigestStore(Protocol):
    def get_digest_window(
        self, tenant_id: str, recipient_id: str, key: str
    ) -> DigestWindow | None: ...

    def close_digest_window(
        self, tenant_id: str, recipient_id: str, key: str, window_id: str
    ) -> None:
        """Closes the window if it is still the current one under its key (no one joins it
        from then on); a window replaced by another is closed already."""
        ...

    def digest_entries(self, tenant_id: str, window_id: str) -> list[DigestEntry]:
        """Every notification that went into the window, oldest first."""
        ...


class TimerQueue(Protocol):
    def hint(self, timers: Sequence[Timer], *, now: datetime) -> None:
        """Has each timer looked at when it is due (up to the queue's longest delay ahead).
        A hint may be lost: the stored timer is the truth. Raises PublishFailed."""
        ...


class HealthProbe(Protocol):
    def table_reachable(self) -> bool: ...


class Publisher(Protocol):
    def announce(self, message: DeliveryMessage, channels: Sequence[Channel]) -> None:
        """One recipient's deliveries on ``channels`` are due. Raises PublishFailed."""
        ...

    def start_fanout(self, message: FanoutMessage) -> None:
        """Raises PublishFailed."""
        ...

    def enqueue(self, channel: Channel, messages: Sequence[DeliveryMessage]) -> None:
        """Onto the channel's queue, in batches. Raises PublishFailed."""
        ...

    def dead_letter(self, channel: Channel, message: DeadLetterMessage) -> None: ...


@dataclass(frozen=True)
class DigestBatch:
    """What a digest notification lists: the notifications of its window."""

    key: str
    entries: list[DigestEntry]

    def on(self, channel: Channel) -> list[DigestEntry]:
        """The entries digested on ``channel``."""
        return [entry for entry in self.entries if channel in entry.channels]


@dataclass(frozen=True)
class Outgoing:
    """What every delivery of one notification sends."""

    notification_id: str
    created_at: datetime
    content: Content
    topic: str | None = None
    digest: DigestBatch | None = None


class ChannelSender(Protocol):
    channel: Channel

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        """One attempt. Never raises for a receiver's failure: it returns the outcome."""
        ...


@dataclass
class SenderRegistry:
    senders: dict[Channel, ChannelSender] = field(default_factory=dict)

    def get(self, channel: Channel) -> ChannelSender | None:
        return self.senders.get(channel)
