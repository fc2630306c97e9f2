"""A domain wired on fakes: the services as the composition root builds them, minus AWS."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from chalicelib.domain.dead_letters import DeadLetterService
from chalicelib.domain.deliveries import DeliveryService
from chalicelib.domain.inbox import InboxSender
from chalicelib.domain.notifications import NotificationService
from chalicelib.domain.retry import RetryPolicy
from chalicelib.domain.sweeper import Sweeper
from chalicelib.models.api import NotificationIn
from chalicelib.models.common import Channel
from chalicelib.models.stored import Notification, Recipient, Tenant
from chalicelib.ports import SenderRegistry
from tests.fakes import FakeClock, FakeFaults, FakePublisher, FakeStore, ScriptedSender

LEASE = timedelta(seconds=20)
GRACE = timedelta(seconds=10)


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    clock: FakeClock = field(default_factory=FakeClock)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    faults: FakeFaults = field(default_factory=FakeFaults)
    webhook: ScriptedSender = field(default_factory=lambda: ScriptedSender(Channel.WEBHOOK))
    policy: RetryPolicy = field(default_factory=RetryPolicy.local)

    def __post_init__(self) -> None:
        self.store.create_tenant(
            Tenant(
                name="acme",
                webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                created_at=self.clock.now(),
            )
        )
        self.notifications = NotificationService(
            notifications=self.store,
            recipients=self.store,
            publisher=self.publisher,
            clock=self.clock,
            faults=self.faults,
            enabled_channels=frozenset(Channel),
            idempotency_window=timedelta(hours=24),
            sweep_grace=GRACE,
        )
        self.deliveries = DeliveryService(
            notifications=self.store,
            tenant_of=self.store.get_tenant,
            senders=SenderRegistry(
                {Channel.WEBHOOK: self.webhook, Channel.INBOX: InboxSender(self.store)}
            ),
            publisher=self.publisher,
            clock=self.clock,
            policy=self.policy,
            faults=self.faults,
            lease=LEASE,
            sweep_grace=GRACE,
            rng=random.Random(7),
        )
        self.dead_letters = DeadLetterService(
            dead_letters=self.store,
            notifications=self.store,
            announcer=self.notifications,
            clock=self.clock,
            sweep_grace=GRACE,
        )
        self.sweeper = Sweeper(
            notifications=self.store,
            announcer=self.notifications,
            clock=self.clock,
            sweep_grace=GRACE,
        )

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

    def accept(self, **body: object) -> Notification:
        body.setdefault("recipient_id", "alice")
        body.setdefault("title", "Disk almost full")
        request = NotificationIn.model_validate(body)
        return self.notifications.accept(
            "acme", request, fingerprint=str(sorted(body.items())), header_key=None
        ).notification

    def stored(self, notification_id: str) -> Notification:
        notification = self.store.get_notification("acme", notification_id)
        assert notification is not None
        return notification
