"""A domain wired on fakes: the services as the composition root builds them, minus AWS."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chalicelib.adapters.faults import FaultInjector, FaultySender, WitnessedDeliveryStore
from chalicelib.domain.dead_letters import DeadLetterService
from chalicelib.domain.deliveries import DeliveryService, Progress
from chalicelib.domain.digests import DigestService
from chalicelib.domain.endpoints import EndpointHealth
from chalicelib.domain.fanout import FanoutService
from chalicelib.domain.inbox import InboxService
from chalicelib.domain.notifications import NotificationService, Planning, SendNotification
from chalicelib.domain.preferences import PreferenceService
from chalicelib.domain.recipients import RecipientService
from chalicelib.domain.retry import RetryPolicy
from chalicelib.domain.schedules import Scheduler
from chalicelib.domain.status import status_of
from chalicelib.domain.sweeper import Sweeper
from chalicelib.domain.templates import TemplateService
from chalicelib.domain.topics import SubscriptionDetails, SubscriptionService
from chalicelib.models.common import Channel, NotificationStatus, Severity
from chalicelib.models.stored import Content, Delivery, DeliveryKey, Notification, Recipient, Tenant
from chalicelib.ports import ChannelSender, DeliveryStore, SenderRegistry
from tests.fakes import FakeClock, FakePublisher, FakeStore, FakeTimerQueue, ScriptedSender

LEASE = timedelta(seconds=20)
GRACE = timedelta(seconds=10)
DISABLE_AFTER = timedelta(seconds=60)


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    clock: FakeClock = field(default_factory=FakeClock)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    timer_queue: FakeTimerQueue = field(default_factory=FakeTimerQueue)
    webhook: ScriptedSender = field(default_factory=lambda: ScriptedSender(Channel.WEBHOOK))
    email: ScriptedSender = field(default_factory=lambda: ScriptedSender(Channel.EMAIL))
    # Senders of further channels (push, chat, Apprise) a test needs.
    others: dict[Channel, ChannelSender] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy.local)
    page_size: int = 500
    digest_max_items: int = 100
    # Injected faults, wrapped around the ports as the local stage's wiring does.
    faults: FaultInjector | None = None

    def __post_init__(self) -> None:
        self.store.create_tenant(
            Tenant(
                name="acme",
                webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                created_at=self.clock.now(),
            )
        )
        self.templates = TemplateService(
            templates=self.store, recipients=self.store, clock=self.clock
        )
        self.notifications = NotificationService(
            notifications=self.store,
            recipients=self.store,
            publisher=self.publisher,
            clock=self.clock,
            enabled_channels=frozenset(Channel),
            idempotency_window=timedelta(hours=24),
            sweep_grace=GRACE,
            planning=Planning(
                preferences=self.store,
                templates=self.templates,
                digests=self.store,
                timers=self.timer_queue,
                deliveries=self.store,
                subscriptions=self.store,
                digest_max_items=self.digest_max_items,
            ),
        )
        self.preferences = PreferenceService(preferences=self.store, recipients=self.store)
        self.digests = DigestService(
            digests=self.store,
            notifications=self.store,
            recipients=self.store,
            announce=self.notifications.announce,
            clock=self.clock,
            enabled_channels=frozenset(Channel),
            sweep_grace=GRACE,
        )
        self.scheduler = Scheduler(
            timers=self.store,
            queue=self.timer_queue,
            deliveries=self.store,
            notifications=self.store,
            publisher=self.publisher,
            clock=self.clock,
            sweep_grace=GRACE,
            close_digest=self.digests.close,
        )
        self.endpoints = EndpointHealth(
            endpoints=self.store,
            recipients=self.store,
            clock=self.clock,
            disable_after=DISABLE_AFTER,
            max_concurrency=2,
            rng=random.Random(3),
        )
        senders: dict[Channel, ChannelSender] = {
            Channel.WEBHOOK: self.webhook,
            Channel.EMAIL: self.email,
            **self.others,
        }
        deliveries: DeliveryStore = self.store
        if self.faults is not None:
            senders = {channel: FaultySender(s, self.faults) for channel, s in senders.items()}
            deliveries = WitnessedDeliveryStore(self.store, self.faults)
        self.deliveries = DeliveryService(
            deliveries=deliveries,
            notifications=self.store,
            recipients=self.store,
            tenant_of=self.store.get_tenant,
            senders=SenderRegistry(senders),
            publisher=self.publisher,
            endpoints=self.endpoints,
            clock=self.clock,
            policy=self.policy,
            lease=LEASE,
            sweep_grace=GRACE,
            rng=random.Random(7),
            digests=self.store,
        )
        self.fanout = FanoutService(
            notifications=self.store,
            fanout=self.store,
            subscriptions=self.store,
            recipients=self.store,
            publisher=self.publisher,
            clock=self.clock,
            enabled_channels=frozenset(Channel),
            page_size=self.page_size,
            sweep_grace=GRACE,
            audience=self.notifications.audience,
            timers=self.store,
            hint=self.notifications.hint,
            cancel=self.notifications.cancel_deliveries,
        )
        self.dead_letters = DeadLetterService(
            dead_letters=self.store,
            deliveries=self.store,
            notifications=self.store,
            publisher=self.publisher,
            clock=self.clock,
            sweep_grace=GRACE,
        )
        self.sweeper = Sweeper(
            sweep=self.store,
            deliveries=self.store,
            notifications=self.store,
            fanout=self.store,
            publisher=self.publisher,
            clock=self.clock,
            sweep_grace=GRACE,
        )
        self.recipients = RecipientService(
            recipients=self.store,
            endpoints=self.store,
            clock=self.clock,
            allow_private_webhooks=True,
            resolve=lambda host, port: ["127.0.0.1"],
        )
        self.subscriptions = SubscriptionService(
            subscriptions=self.store, recipients=self.store, clock=self.clock
        )
        self.inbox = InboxService(inbox=self.store, recipients=self.store, clock=self.clock)

    def recipient(self, recipient_id: str = "alice", **fields: str) -> Recipient:
        recipient = Recipient(
            tenant_id="acme",
            recipient_id=recipient_id,
            created_at=self.clock.now(),
            updated_at=self.clock.now(),
            **fields,
        )
        self.store.put_recipient(recipient)
        return recipient

    def subscribe(
        self, subscription_id: str, recipient_id: str, pattern: str, **fields: object
    ) -> None:
        self.subscriptions.put(
            "acme",
            subscription_id,
            SubscriptionDetails(recipient_id=recipient_id, pattern=pattern, **fields),  # type: ignore[arg-type]
        )

    def accept(
        self,
        *,
        recipient_id: str | None = "alice",
        topic: str | None = None,
        channels: list[Channel] | None = None,
        severity: Severity = Severity.INFO,
        category: str | None = None,
        key: str | None = None,
        fingerprint: str = "same",
        **more: Any,
    ) -> Notification:
        command = SendNotification(
            content=Content(title="Disk almost full", severity=severity, category=category),
            recipient_id=None if topic else recipient_id,
            topic=topic,
            channels=channels,
            idempotency_key=key,
            fingerprint=fingerprint,
            **more,
        )
        return self.notifications.accept("acme", command).notification

    def stored(self, notification_id: str) -> Notification:
        notification = self.store.get_notification("acme", notification_id)
        assert notification is not None
        return notification

    def status(self, notification_id: str) -> NotificationStatus:
        return status_of(self.stored(notification_id))

    def delivery(
        self, notification_id: str, channel: Channel = Channel.WEBHOOK, recipient_id: str = "alice"
    ) -> Delivery:
        delivery = self.store.get_delivery(key(notification_id, channel, recipient_id))
        assert delivery is not None
        return delivery

    def process(
        self, notification_id: str, channel: Channel = Channel.WEBHOOK, recipient_id: str = "alice"
    ) -> Progress:
        return self.deliveries.process(key(notification_id, channel, recipient_id))

    def fire_due_timers(self) -> int:
        """What the timers queue does by now: each stored timer that is due, done."""
        now = self.clock.now()
        due = self.store.due_timers(until=now, now=now, limit=10_000)
        for timer in due:
            self.scheduler.fire(timer)
        return len(due)

    def expand_all(self, notification_id: str) -> int:
        """Runs the fan-out to its end; the number of steps it took."""
        steps = 0
        while True:
            steps += 1
            if self.fanout.expand("acme", notification_id).finished:
                return steps


def key(
    notification_id: str, channel: Channel = Channel.WEBHOOK, recipient_id: str = "alice"
) -> DeliveryKey:
    return DeliveryKey("acme", notification_id, recipient_id, channel)
