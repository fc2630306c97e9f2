"""What alerting needs from the world, beside ``chalicelib.ports``: its stores. The DynamoDB
adapter is ``chalicelib.adapters.dynamodb_alerts``; tests use ``tests.fakes_alerts``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.models.alerts import (
    Alert,
    AlertStatus,
    AlertTimer,
    EscalationPolicy,
    Integration,
    SentNotification,
    Silence,
    TimelineEntry,
)
from chalicelib.ports import Page


@dataclass(frozen=True)
class Progress:
    """A change of an alert's progress, written only if its version is still ``expected``."""

    expected_version: int
    next_step: int
    due_at: datetime | None
    silenced_by: str | None = None
    resolve_sent: bool = False
    entries: Sequence[TimelineEntry] = ()
    sent: Sequence[SentNotification] = ()


@dataclass(frozen=True)
class Taken:
    """The answer of a rate-limit counter: whether one more event fit, and the count after."""

    accepted: bool
    count: int


class AlertStore(Protocol):
    def find_alert_id(self, tenant_id: str, dedup_key: str) -> str | None:
        """The id of the latest alert opened under the key (whatever its status)."""
        ...

    def get_alert(self, tenant_id: str, alert_id: str) -> Alert | None: ...

    def list_alerts(
        self,
        tenant_id: str,
        *,
        keep: Callable[[Alert], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Alert]:
        """Newest first; with ``keep``, pages may come back short, with a cursor."""
        ...

    def create_alert(self, alert: Alert, *, replaces: str | None) -> bool:
        """Stores a new alert as the one open under its key, with a timer for its ``due_at``,
        unless the key names another alert than ``replaces`` (None: no alert) by now; False
        then (another trigger opened one first)."""
        ...

    def retrigger(self, tenant_id: str, alert_id: str, entry: TimelineEntry, *, keep: int) -> bool:
        """Counts one more trigger of an open alert and adds ``entry`` to its timeline while the
        timeline is shorter than ``keep``; False when the alert is resolved."""
        ...

    def advance_alert(self, alert: Alert, progress: Progress) -> bool:
        """Writes the progress (timeline entries and sent notifications appended, the timer
        moved to ``due_at``) if the alert's version is still the expected one; False if not."""
        ...

    def change_alert_status(
        self,
        tenant_id: str,
        alert_id: str,
        *,
        to: AlertStatus,
        at: datetime,
        entry: TimelineEntry,
        due_at: datetime | None,
    ) -> Alert | None:
        """Acknowledges (from ``triggered``) or resolves (from any open status) the alert, with
        its next due time; the alert after the change, None when its status forbade it."""
        ...

    def due_alert_timers(self, now: datetime, limit: int) -> list[AlertTimer]: ...

    def delete_alert_timer(self, timer: AlertTimer) -> None: ...

    def add_silenced_alert(self, tenant_id: str, silence_id: str, alert_id: str) -> None: ...

    def silenced_alerts(self, tenant_id: str, silence_id: str, limit: int) -> list[str]: ...

    def alert_signing_key(self, tenant_id: str) -> bytes | None:
        """The tenant's secret for acknowledge links (made on first use); None when there is
        no such tenant."""
        ...


class SilenceStore(Protocol):
    def put_silence(self, silence: Silence) -> None: ...

    def get_silence(self, tenant_id: str, silence_id: str) -> Silence | None: ...

    def list_silences(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Silence]:
        """Newest first."""
        ...

    def live_silences(self, tenant_id: str, now: datetime) -> list[Silence]:
        """Every silence that has not ended by ``now`` (active or pending)."""
        ...

    def expire_silence(self, tenant_id: str, silence_id: str, at: datetime) -> Silence | None:
        """Ends the silence at ``at`` unless it ended before; the silence after, None when
        there is no such silence."""
        ...


class PolicyStore(Protocol):
    def put_policy(self, policy: EscalationPolicy) -> None: ...

    def get_policy(self, tenant_id: str, policy_id: str) -> EscalationPolicy | None: ...

    def delete_policy(self, tenant_id: str, policy_id: str) -> bool: ...

    def list_policies(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[EscalationPolicy]: ...


class IntegrationStore(Protocol):
    def create_integration(self, integration: Integration) -> None: ...

    def get_integration(self, integration_id: str) -> Integration | None: ...

    def integration_by_routing_key(self, routing_key_hash: str) -> Integration | None: ...

    def list_integrations(self, tenant_id: str) -> list[Integration]: ...

    def delete_integration(self, integration_id: str) -> bool: ...


class RateLimitStore(Protocol):
    def take(self, scope: str, window: int, allowed: int, expires_at: datetime) -> Taken:
        """Counts one event in the window (an atomic, conditional addition) if fewer than
        ``allowed`` are counted there."""
        ...

    def give_back(self, scope: str, window: int) -> None:
        """Uncounts an event that another limit then refused."""
        ...

    def counted(self, scope: str, window: int) -> int: ...
