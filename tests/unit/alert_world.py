"""The domain world of tests/unit/domain_world.py with alerting on it: every service on fakes
and an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chalicelib.domain.ack_links import AckLinks
from chalicelib.domain.alerts import AlertAction, AlertEvent, AlertService, Ingested
from chalicelib.domain.escalation import EscalationPolicyService, PolicyDetails
from chalicelib.domain.integrations import IntegrationService
from chalicelib.domain.rate_limits import Limit, RateLimiter
from chalicelib.domain.silences import SilenceService
from chalicelib.models.alerts import Alert, EscalationStep, Target
from chalicelib.models.common import Channel
from chalicelib.models.stored import Delivery, Notification
from tests.fakes import FakeStore
from tests.fakes_alerts import FakeAlertStore
from tests.unit.domain_world import World

RECHECK = timedelta(seconds=2)
BASE_URL = "https://tocsin.example"


@dataclass
class AlertWorld(World):
    store: FakeStore = field(default_factory=FakeAlertStore)

    def __post_init__(self) -> None:
        super().__post_init__()
        assert isinstance(self.store, FakeAlertStore)
        self.alert_store: FakeAlertStore = self.store
        self.silences = SilenceService(silences=self.alert_store, clock=self.clock)
        self.policies = EscalationPolicyService(
            policies=self.alert_store, recipients=self.alert_store, clock=self.clock
        )
        self.links = AckLinks(
            signing_key=self.alert_store.alert_signing_key,
            clock=self.clock,
            ttl=timedelta(days=7),
        )
        self.alerts = AlertService(
            alerts=self.alert_store,
            notifications=self.notifications,
            notification_store=self.alert_store,
            silences=self.silences,
            policies=self.alert_store,
            links=self.links,
            clock=self.clock,
            recheck=RECHECK,
        )
        self.integrations = IntegrationService(
            integrations=self.alert_store,
            tenants=self.alert_store,
            policies=self.alert_store,
            clock=self.clock,
        )
        self.limiter = RateLimiter(
            counters=self.alert_store,
            clock=self.clock,
            per_tenant=Limit(events=50, window_seconds=60),
            per_integration=Limit(events=10, window_seconds=60),
        )

    def trigger(self, dedup_key: str | None = "disk-db-1", **fields: Any) -> Ingested:
        fields.setdefault("summary", "Disk almost full on db-1")
        fields.setdefault("base_url", BASE_URL)
        return self.alerts.ingest(
            "acme", AlertEvent(action=AlertAction.TRIGGER, dedup_key=dedup_key, **fields)
        )

    def event(self, action: AlertAction, dedup_key: str = "disk-db-1") -> Ingested:
        return self.alerts.ingest("acme", AlertEvent(action=action, dedup_key=dedup_key))

    def alert(self, alert_id: str) -> Alert:
        return self.alerts.get("acme", alert_id)

    def escalation(self, policy_id: str, *steps: tuple[int, list[Target]], repeat: int = 0) -> None:
        self.policies.put(
            "acme",
            policy_id,
            PolicyDetails(
                steps=[EscalationStep(delay_seconds=d, targets=t) for d, t in steps],
                repeat=repeat,
            ),
        )

    def sent_notifications(self) -> list[Notification]:
        """Every notification accepted so far, oldest first."""
        return sorted(self.store.notifications.values(), key=lambda n: n.id)

    def deliveries_of(self, notification_id: str) -> list[Delivery]:
        return [
            d for key, d in self.store.deliveries.items() if key.notification_id == notification_id
        ]

    def tick(self, seconds: float) -> int:
        """Moves the clock on and runs what is due, as the scheduled function does."""
        self.clock.advance(seconds)
        return self.alerts.run_due()


def webhook_recipient(world: World, recipient_id: str) -> None:
    world.recipient(recipient_id, webhook_url=f"https://hooks.example/{recipient_id}")


INBOX_AND_WEBHOOK = (Channel.WEBHOOK, Channel.INBOX)
