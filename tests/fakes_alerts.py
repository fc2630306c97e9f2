"""Alerting's store ports in memory, with the DynamoDB store's conditions and paging (the
store suite runs against both: tests/integration/test_alert_store.py)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime

from chalicelib.alert_ports import Progress, Taken
from chalicelib.models.alerts import (
    Alert,
    AlertStatus,
    AlertTimer,
    EscalationPolicy,
    Integration,
    Silence,
    TimelineEntry,
)
from chalicelib.ports import Page
from tests.fakes import FakeStore, paged


class FakeAlertStore(FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.alert_keys: dict[tuple[str, str], str] = {}
        self.alert_timers: dict[str, AlertTimer] = {}
        self.silenced: dict[tuple[str, str], list[str]] = {}
        self.silences: dict[tuple[str, str], Silence] = {}
        self.policies: dict[tuple[str, str], EscalationPolicy] = {}
        self.integrations: dict[str, Integration] = {}
        self.counters: dict[tuple[str, int], int] = {}
        self.signing_keys: dict[str, bytes] = {}
        # Called before an alert's progress or status is written: lets a test interleave a
        # concurrent change (an acknowledge landing while a step runs).
        self.before_alert_write: list[Callable[[], None]] = []

    def _interleave(self) -> None:
        while self.before_alert_write:
            self.before_alert_write.pop(0)()

    def _new_timer(self, alert: Alert, due_at: datetime) -> str:
        key = f"{due_at.timestamp():017.3f}#{uuid.uuid4().hex}"
        self.alert_timers[key] = AlertTimer(
            tenant_id=alert.tenant_id, alert_id=alert.id, due_at=due_at, key=key
        )
        return key

    # --- alerts -------------------------------------------------------------------------------
    def find_alert_id(self, tenant_id: str, dedup_key: str) -> str | None:
        return self.alert_keys.get((tenant_id, dedup_key))

    def get_alert(self, tenant_id: str, alert_id: str) -> Alert | None:
        alert = self.alerts.get((tenant_id, alert_id))
        return None if alert is None else alert.model_copy(deep=True)

    def list_alerts(
        self,
        tenant_id: str,
        *,
        keep: Callable[[Alert], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Alert]:
        rows = [
            (aid, a.model_copy(deep=True)) for (t, aid), a in self.alerts.items() if t == tenant_id
        ]
        return paged(
            rows, f"alerts:{tenant_id}", limit=limit, cursor=cursor, newest_first=True, keep=keep
        )

    def create_alert(self, alert: Alert, *, replaces: str | None) -> bool:
        key = (alert.tenant_id, alert.dedup_key)
        if self.alert_keys.get(key) != replaces or (alert.tenant_id, alert.id) in self.alerts:
            return False
        stored = alert.model_copy(deep=True)
        if stored.due_at is not None:
            stored.timer = self._new_timer(stored, stored.due_at)
        self.alert_keys[key] = alert.id
        self.alerts[(alert.tenant_id, alert.id)] = stored
        return True

    def retrigger(self, tenant_id: str, alert_id: str, entry: TimelineEntry, *, keep: int) -> bool:
        alert = self.alerts.get((tenant_id, alert_id))
        if alert is None or alert.status is AlertStatus.RESOLVED:
            return False
        alert.trigger_count += 1
        if len(alert.timeline) < keep:
            alert.timeline.append(entry.model_copy())
        return True

    def advance_alert(self, alert: Alert, progress: Progress) -> bool:
        self._interleave()
        stored = self.alerts.get((alert.tenant_id, alert.id))
        if stored is None or stored.version != progress.expected_version:
            return False
        if alert.timer is not None:
            self.alert_timers.pop(alert.timer, None)
        stored.next_step = progress.next_step
        stored.resolve_sent = progress.resolve_sent
        stored.silenced_by = progress.silenced_by
        stored.timeline += [entry.model_copy() for entry in progress.entries]
        stored.sent += [item.model_copy(deep=True) for item in progress.sent]
        stored.due_at = progress.due_at
        stored.timer = None if progress.due_at is None else self._new_timer(stored, progress.due_at)
        stored.version += 1
        return True

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
        self._interleave()
        stored = self.alerts.get((tenant_id, alert_id))
        if stored is None:
            return None
        if to is AlertStatus.ACKNOWLEDGED and stored.status is not AlertStatus.TRIGGERED:
            return None
        if to is AlertStatus.RESOLVED and stored.status is AlertStatus.RESOLVED:
            return None
        stored.status = to
        if to is AlertStatus.ACKNOWLEDGED:
            stored.acknowledged_at = at
        else:
            stored.resolved_at = at
        stored.timeline.append(entry.model_copy())
        stored.due_at = due_at
        # As the DynamoDB store: the old timer is left behind (stale) for the runner to delete.
        stored.timer = None if due_at is None else self._new_timer(stored, due_at)
        stored.version += 1
        return stored.model_copy(deep=True)

    def due_alert_timers(self, now: datetime, limit: int) -> list[AlertTimer]:
        due = sorted(
            (timer for timer in self.alert_timers.values() if timer.due_at <= now),
            key=lambda timer: timer.due_at,
        )
        return [timer.model_copy() for timer in due[:limit]]

    def delete_alert_timer(self, timer: AlertTimer) -> None:
        self.alert_timers.pop(timer.key, None)

    def add_silenced_alert(self, tenant_id: str, silence_id: str, alert_id: str) -> None:
        members = self.silenced.setdefault((tenant_id, silence_id), [])
        if alert_id not in members:
            members.append(alert_id)

    def silenced_alerts(self, tenant_id: str, silence_id: str, limit: int) -> list[str]:
        return sorted(self.silenced.get((tenant_id, silence_id), []))[:limit]

    def alert_signing_key(self, tenant_id: str) -> bytes | None:
        if tenant_id not in self.tenants:
            return None
        return self.signing_keys.setdefault(tenant_id, secrets.token_bytes(32))

    # --- silences -----------------------------------------------------------------------------
    def put_silence(self, silence: Silence) -> None:
        self.silences[(silence.tenant_id, silence.id)] = silence.model_copy(deep=True)

    def get_silence(self, tenant_id: str, silence_id: str) -> Silence | None:
        silence = self.silences.get((tenant_id, silence_id))
        return None if silence is None else silence.model_copy(deep=True)

    def list_silences(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Silence]:
        rows = [
            (sid, s.model_copy(deep=True))
            for (t, sid), s in self.silences.items()
            if t == tenant_id
        ]
        return paged(rows, f"silences:{tenant_id}", limit=limit, cursor=cursor, newest_first=True)

    def live_silences(self, tenant_id: str, now: datetime) -> list[Silence]:
        return [
            silence.model_copy(deep=True)
            for (t, _), silence in sorted(self.silences.items())
            if t == tenant_id and silence.ends_at > now
        ]

    def expire_silence(self, tenant_id: str, silence_id: str, at: datetime) -> Silence | None:
        silence = self.silences.get((tenant_id, silence_id))
        if silence is None:
            return None
        if silence.ends_at > at:
            silence.ends_at = at
        return silence.model_copy(deep=True)

    # --- escalation policies ------------------------------------------------------------------
    def put_policy(self, policy: EscalationPolicy) -> None:
        self.policies[(policy.tenant_id, policy.policy_id)] = policy.model_copy(deep=True)

    def get_policy(self, tenant_id: str, policy_id: str) -> EscalationPolicy | None:
        policy = self.policies.get((tenant_id, policy_id))
        return None if policy is None else policy.model_copy(deep=True)

    def delete_policy(self, tenant_id: str, policy_id: str) -> bool:
        return self.policies.pop((tenant_id, policy_id), None) is not None

    def list_policies(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[EscalationPolicy]:
        rows = [
            (pid, p.model_copy(deep=True))
            for (t, pid), p in self.policies.items()
            if t == tenant_id
        ]
        return paged(rows, f"policies:{tenant_id}", limit=limit, cursor=cursor, newest_first=False)

    # --- integrations -------------------------------------------------------------------------
    def create_integration(self, integration: Integration) -> None:
        self.integrations[integration.id] = integration.model_copy()

    def get_integration(self, integration_id: str) -> Integration | None:
        integration = self.integrations.get(integration_id)
        return None if integration is None else integration.model_copy()

    def integration_by_routing_key(self, routing_key_hash: str) -> Integration | None:
        for integration in self.integrations.values():
            if integration.routing_key_hash == routing_key_hash:
                return integration.model_copy()
        return None

    def list_integrations(self, tenant_id: str) -> list[Integration]:
        return [
            integration.model_copy()
            for _, integration in sorted(self.integrations.items())
            if integration.tenant_id == tenant_id
        ]

    def delete_integration(self, integration_id: str) -> bool:
        return self.integrations.pop(integration_id, None) is not None

    # --- rate limits --------------------------------------------------------------------------
    def take(self, scope: str, window: int, allowed: int, expires_at: datetime) -> Taken:
        count = self.counters.get((scope, window), 0)
        if count >= allowed:
            return Taken(accepted=False, count=count)
        self.counters[(scope, window)] = count + 1
        return Taken(accepted=True, count=count + 1)

    def give_back(self, scope: str, window: int) -> None:
        count = self.counters.get((scope, window), 0)
        if count > 0:
            self.counters[(scope, window)] = count - 1

    def counted(self, scope: str, window: int) -> int:
        return self.counters.get((scope, window), 0)
