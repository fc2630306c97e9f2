"""Alerts: a tenant's ``dedup_key`` going ``triggered`` -> ``acknowledged`` -> ``resolved``.

Every trigger, acknowledge and resolve arrives here as an ``AlertEvent`` (native events API,
PagerDuty's Events API v2, Alertmanager's webhook). A trigger under a key with no open alert
opens one; a trigger of an open alert only adds to its timeline and notifies nobody. Concurrent
triggers of one key open one alert: the key's record is written on the condition that it still
names what was read.

What an alert sends goes through the notification pipeline (``NotificationService.accept``),
step by step: an alert without an escalation policy has one step, its topic. The steps run from
the alert's stored state, never from memory: the alert records its next step and when it is
due, and a timer record wakes it then; the trigger runs the first step at once, the scheduled
function ``alert_timers`` runs whatever else comes due (later steps, the end of a silence, the
resolution's notices), so a restart loses nothing. Each notification is accepted under an
idempotency key of its own (alert, step, target), so a step run twice (a crash between sending
and recording, two runners at once) sends once. Progress is written on the condition that the
alert's version did not move, so an acknowledge that lands while a step runs is never undone:
the step's notifications are recorded and cancelled with the rest.

An acknowledge (or a resolve) stops everything at once: no further step runs, and every
delivery of the alert's notifications that is not being attempted right now is cancelled
(``skipped``, reason ``cancelled``). A topic notification still fanning out then is looked at
again shortly after, to cancel what its later pages queued.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from ulid import ULID

from chalicelib.alert_ports import AlertStore, PolicyStore, Progress
from chalicelib.domain.ack_links import AckLinks
from chalicelib.domain.errors import Conflict, Invalid, NotFound
from chalicelib.domain.escalation import delay_before
from chalicelib.domain.integrations import DEFAULT_TOPIC
from chalicelib.domain.notifications import NotificationService, SendNotification
from chalicelib.domain.silences import SilenceService
from chalicelib.models.alerts import (
    Alert,
    AlertSeverity,
    AlertStatus,
    EscalationStep,
    SentNotification,
    Silence,
    Target,
    TimelineEntry,
    TimelineType,
)
from chalicelib.models.stored import AlertRef, Content
from chalicelib.ports import Clock, NotificationStore, Page

log = logging.getLogger(__name__)

# Retriggers are written to the timeline while it is shorter than this (the count goes on).
TIMELINE_RETRIGGERS_UNTIL = 500
MAX_RACES = 5
TIMER_BATCH = 100
# What a notification can carry (api.md, Notifications).
TITLE_LIMIT = 200
BODY_LIMIT = 4000
DETAILS_IN_DATA_LIMIT = 8 * 1024
ALERT_CATEGORY = "alert"
_LINE_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class AlertAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class AlertEvent:
    action: AlertAction
    dedup_key: str | None = None
    summary: str | None = None
    source: str | None = None
    severity: AlertSeverity = AlertSeverity.CRITICAL
    labels: Mapping[str, str] = field(default_factory=dict)
    details: dict[str, Any] | None = None
    topic: str = DEFAULT_TOPIC
    escalation_policy: str | None = None
    integration_id: str | None = None
    # The API's address as the request reached it (for acknowledge links).
    base_url: str | None = None
    # Where the event came from, for the timeline ("events API", "PagerDuty integration ...").
    origin: str = "events API"


@dataclass(frozen=True)
class Ingested:
    dedup_key: str
    # The alert the event concerned; None when no alert was ever opened under the key.
    alert_id: str | None
    created: bool = False


def one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_content(alert: Alert, *, resolved: bool, ack_url: str | None) -> Content:
    """What one notification of the alert says."""
    summary = one_line(alert.summary) or alert.dedup_key
    title = clip(f"Resolved: {summary}" if resolved else summary, TITLE_LIMIT)
    lines = []
    if len(summary) > TITLE_LIMIT or resolved:
        lines.append(alert.summary)
    if alert.source:
        lines.append(f"Source: {alert.source}")
    if alert.severity.notification_severity.value != alert.severity.value:
        lines.append(f"Alert severity: {alert.severity.value}")
    if alert.labels:
        lines.append(
            "Labels: "
            + ", ".join(f"{name}={value}" for name, value in sorted(alert.labels.items()))
        )
    data: dict[str, Any] = {
        "alert_id": alert.id,
        "dedup_key": alert.dedup_key,
        "source": alert.source,
        "severity": alert.severity.value,
        "labels": dict(alert.labels),
    }
    if alert.details is not None and len(json.dumps(alert.details)) <= DETAILS_IN_DATA_LIMIT:
        data["details"] = alert.details
    return Content(
        title=title,
        body=clip("\n".join(lines), BODY_LIMIT) or None,
        severity=alert.severity.notification_severity,
        category=ALERT_CATEGORY,
        data=data,
        alert=AlertRef(
            id=alert.id,
            dedup_key=alert.dedup_key,
            status="resolved" if resolved else "triggered",
            ack_url=ack_url,
        ),
    )


class AlertService:
    def __init__(
        self,
        *,
        alerts: AlertStore,
        notifications: NotificationService,
        notification_store: NotificationStore,
        silences: SilenceService,
        policies: PolicyStore,
        links: AckLinks,
        clock: Clock,
        recheck: timedelta,
        public_url: str | None = None,
    ) -> None:
        self._alerts = alerts
        self._notifications = notifications
        self._notification_store = notification_store
        self._silences = silences
        self._policies = policies
        self._links = links
        self._clock = clock
        self._recheck = recheck
        self._public_url = public_url

    # --- events -------------------------------------------------------------------------------
    def ingest(self, tenant_id: str, event: AlertEvent, *, run_now: bool = True) -> Ingested:
        """Applies the event. ``run_now``: a new alert's first step is sent before this
        returns (else the next run of the timers sends it: for large batches)."""
        if event.action is AlertAction.TRIGGER:
            return self._trigger(tenant_id, event, run_now=run_now)
        if event.dedup_key is None:
            raise Invalid(["dedup_key"], f"required to {event.action.value}")
        alert_id = self._alerts.find_alert_id(tenant_id, event.dedup_key)
        if alert_id is None:
            # As PagerDuty: acknowledging or resolving what is not open changes nothing.
            return Ingested(event.dedup_key, None)
        try:
            if event.action is AlertAction.RESOLVE:
                self.resolve(tenant_id, alert_id, by=event.origin)
            else:
                self.acknowledge(tenant_id, alert_id, by=event.origin)
        except Conflict:
            pass  # resolved already: nothing changes
        return Ingested(event.dedup_key, alert_id)

    def _trigger(self, tenant_id: str, event: AlertEvent, *, run_now: bool) -> Ingested:
        if not event.summary:
            raise Invalid(["summary"], "required to trigger")
        key = event.dedup_key or uuid.uuid4().hex
        now = self._clock.now()
        steps: builtins.list[EscalationStep] | None = None
        repeat = 0
        for _ in range(MAX_RACES):
            current = self._alerts.find_alert_id(tenant_id, key)
            if current is not None:
                entry = TimelineEntry(
                    at=now, type=TimelineType.RETRIGGERED, detail=self._trigger_detail(event)
                )
                if self._alerts.retrigger(
                    tenant_id, current, entry, keep=TIMELINE_RETRIGGERS_UNTIL
                ):
                    return Ingested(key, current)
                # Resolved (or gone): this trigger opens a new alert under the key.
            if steps is None:
                steps, repeat = self._steps(tenant_id, event)
            alert = Alert(
                tenant_id=tenant_id,
                id=str(ULID.from_datetime(now)),
                dedup_key=key,
                summary=event.summary,
                source=event.source,
                severity=event.severity,
                labels=dict(event.labels),
                details=event.details,
                topic=event.topic,
                escalation_policy=event.escalation_policy,
                integration_id=event.integration_id,
                steps=steps,
                repeat=repeat,
                base_url=self._public_url or event.base_url,
                created_at=now,
                due_at=now,
                timeline=[
                    TimelineEntry(
                        at=now, type=TimelineType.TRIGGERED, detail=self._trigger_detail(event)
                    )
                ],
            )
            if self._alerts.create_alert(alert, replaces=current):
                if run_now:
                    self._run_safely(tenant_id, alert.id)
                return Ingested(key, alert.id, created=True)
        raise RuntimeError(f"alert {key}: too many concurrent triggers")

    def _run_safely(self, tenant_id: str, alert_id: str) -> Alert | None:
        """Runs what is due at once. A failure loses nothing: the alert's timer brings it back
        to the scheduled function, and the event stays accepted."""
        try:
            return self.run(tenant_id, alert_id)
        except Exception:
            log.exception("alert %s/%s: left to its timer", tenant_id, alert_id)
            return None

    @staticmethod
    def _trigger_detail(event: AlertEvent) -> str:
        return clip(f"via {event.origin}: {one_line(event.summary or '')}", 300)

    def _steps(self, tenant_id: str, event: AlertEvent) -> tuple[list[EscalationStep], int]:
        if event.escalation_policy is None:
            return [EscalationStep(delay_seconds=0, targets=[Target(topic=event.topic)])], 0
        policy = self._policies.get_policy(tenant_id, event.escalation_policy)
        if policy is None:
            raise Invalid(["escalation_policy"], "no escalation policy with this id")
        return policy.steps, policy.repeat

    # --- acknowledge and resolve -------------------------------------------------------------
    def acknowledge(self, tenant_id: str, alert_id: str, *, by: str) -> Alert:
        """Stops the alert's escalation and cancels what its notifications have not sent.
        Acknowledging an acknowledged alert changes nothing; a resolved one is a Conflict."""
        now = self._clock.now()
        changed = self._alerts.change_alert_status(
            tenant_id,
            alert_id,
            to=AlertStatus.ACKNOWLEDGED,
            at=now,
            entry=TimelineEntry(at=now, type=TimelineType.ACKNOWLEDGED, detail=f"by {by}"),
            due_at=None,
        )
        if changed is None:
            current = self.get(tenant_id, alert_id)
            if current.status is AlertStatus.RESOLVED:
                raise Conflict("the alert is resolved")
            return current
        if not self._cancel_unsent(changed):
            self._alerts.advance_alert(
                changed,
                Progress(
                    expected_version=changed.version,
                    next_step=changed.next_step,
                    due_at=now + self._recheck,
                ),
            )
        return self.get(tenant_id, alert_id)

    def resolve(self, tenant_id: str, alert_id: str, *, by: str) -> Alert:
        """Stops the alert and tells those it notified; resolving again is a Conflict."""
        now = self._clock.now()
        changed = self._alerts.change_alert_status(
            tenant_id,
            alert_id,
            to=AlertStatus.RESOLVED,
            at=now,
            entry=TimelineEntry(at=now, type=TimelineType.RESOLVED, detail=f"by {by}"),
            due_at=now,
        )
        if changed is None:
            self.get(tenant_id, alert_id)
            raise Conflict("the alert is already resolved")
        return self._run_safely(tenant_id, alert_id) or changed

    # --- reading ------------------------------------------------------------------------------
    def get(self, tenant_id: str, alert_id: str) -> Alert:
        alert = self._alerts.get_alert(tenant_id, alert_id)
        if alert is None:
            raise NotFound("alert")
        return alert

    def list(
        self, tenant_id: str, *, status: AlertStatus | None, limit: int, cursor: str | None
    ) -> Page[Alert]:
        keep = None if status is None else (lambda alert: alert.status is status)
        return self._alerts.list_alerts(tenant_id, keep=keep, limit=limit, cursor=cursor)

    # --- acknowledge links --------------------------------------------------------------------
    def linked(self, token: str) -> Alert:
        target = self._links.open(token)
        return self.get(target.tenant_id, target.alert_id)

    def acknowledge_by_link(self, token: str) -> Alert:
        target = self._links.open(token)
        return self.acknowledge(target.tenant_id, target.alert_id, by="acknowledge link")

    # --- silences -----------------------------------------------------------------------------
    def expire_silence(self, tenant_id: str, silence_id: str) -> Silence:
        """Ends a silence now; the alerts it held back and that still fire notify at once."""
        silence = self._silences.expire(tenant_id, silence_id)
        now = self._clock.now()
        for alert_id in self._alerts.silenced_alerts(tenant_id, silence_id, TIMER_BATCH):
            alert = self._alerts.get_alert(tenant_id, alert_id)
            if (
                alert is None
                or alert.silenced_by != silence_id
                or alert.status is not AlertStatus.TRIGGERED
                or alert.due_at is None
                or alert.due_at <= now
            ):
                continue
            woken = self._alerts.advance_alert(
                alert,
                Progress(
                    expected_version=alert.version,
                    next_step=alert.next_step,
                    due_at=now,
                    silenced_by=silence_id,
                ),
            )
            if woken:
                self._run_safely(tenant_id, alert_id)
        return silence

    # --- running what is due -----------------------------------------------------------------
    def run_due(self, budget: timedelta | None = None) -> int:
        """Runs every alert whose timer is due (the scheduled function); how many it ran."""
        start = self._clock.now()
        ran = 0
        for timer in self._alerts.due_alert_timers(start, TIMER_BATCH):
            if budget is not None and self._clock.now() - start >= budget:
                break
            try:
                alert = self.run(timer.tenant_id, timer.alert_id)
            except Exception:  # one alert's failure must not hold up the others
                log.exception("alert %s/%s failed to run", timer.tenant_id, timer.alert_id)
                continue
            ran += 1
            if alert is None or alert.due_at is None or alert.timer != timer.key:
                self._alerts.delete_alert_timer(timer)
        return ran

    def run(self, tenant_id: str, alert_id: str) -> Alert | None:
        """Does what is due for the alert, if anything; the alert as it then stands."""
        for _ in range(MAX_RACES):
            alert = self._alerts.get_alert(tenant_id, alert_id)
            now = self._clock.now()
            if alert is None or alert.due_at is None or alert.due_at > now:
                return alert
            if self._run_once(alert):
                return self._alerts.get_alert(tenant_id, alert_id)
        raise RuntimeError(f"alert {alert_id}: too many concurrent changes")

    def _run_once(self, alert: Alert) -> bool:
        """One look at a due alert; False when someone else changed it meanwhile."""
        if alert.status is AlertStatus.TRIGGERED:
            return self._run_step(alert)
        finished = self._cancel_unsent(alert)
        entries: builtins.list[TimelineEntry] = []
        sent: builtins.list[SentNotification] = []
        if alert.status is AlertStatus.RESOLVED and not alert.resolve_sent:
            notified = {
                item.target.key: item.target for item in alert.sent if item.step is not None
            }
            for target in notified.values():
                entry, item = self._notify(alert, target, position=None)
                entries.append(entry)
                if item is not None:
                    sent.append(item)
        return self._alerts.advance_alert(
            alert,
            Progress(
                expected_version=alert.version,
                next_step=alert.next_step,
                due_at=None if finished else self._clock.now() + self._recheck,
                resolve_sent=alert.status is AlertStatus.RESOLVED,
                entries=entries,
                sent=sent,
            ),
        )

    def _run_step(self, alert: Alert) -> bool:
        now = self._clock.now()
        silence = self._silences.silencing(alert.tenant_id, alert.labels)
        if silence is not None:
            self._alerts.add_silenced_alert(alert.tenant_id, silence.id, alert.id)
            return self._alerts.advance_alert(
                alert,
                Progress(
                    expected_version=alert.version,
                    next_step=alert.next_step,
                    due_at=silence.ends_at,
                    silenced_by=silence.id,
                    entries=[
                        TimelineEntry(
                            at=now,
                            type=TimelineType.SILENCED,
                            detail=f"by silence {silence.id} until "
                            f"{silence.ends_at.isoformat().replace('+00:00', 'Z')}",
                        )
                    ],
                ),
            )
        position = alert.next_step
        if position >= alert.schedule_length:
            return self._alerts.advance_alert(
                alert,
                Progress(expected_version=alert.version, next_step=position, due_at=None),
            )
        entries: builtins.list[TimelineEntry] = []
        sent: builtins.list[SentNotification] = []
        for target in alert.step_at(position).targets:
            entry, item = self._notify(alert, target, position=position)
            entries.append(entry)
            if item is not None:
                sent.append(item)
        following = position + 1
        due = now + delay_before(alert, following) if following < alert.schedule_length else None
        if self._alerts.advance_alert(
            alert,
            Progress(
                expected_version=alert.version,
                next_step=following,
                due_at=due,
                entries=entries,
                sent=sent,
            ),
        ):
            return True
        self._keep_sent(alert, sent)
        return False

    def _keep_sent(self, alert: Alert, sent: builtins.list[SentNotification]) -> None:
        """The step's progress lost a race. If the alert was acknowledged or resolved
        meanwhile, what the step just sent is recorded and a look made at once, to cancel it
        with the rest. (A runner that ran the same step won: its notifications are these.)"""
        fresh = self._alerts.get_alert(alert.tenant_id, alert.id)
        if fresh is None or fresh.status is AlertStatus.TRIGGERED:
            return
        known = {item.notification_id for item in fresh.sent}
        missing = [item for item in sent if item.notification_id not in known]
        if missing:
            self._alerts.advance_alert(
                fresh,
                Progress(
                    expected_version=fresh.version,
                    next_step=fresh.next_step,
                    due_at=self._clock.now(),
                    resolve_sent=fresh.resolve_sent,
                    sent=missing,
                ),
            )

    def _notify(
        self, alert: Alert, target: Target, *, position: int | None
    ) -> tuple[TimelineEntry, SentNotification | None]:
        """Sends one notification of the alert to one target: a step's (``position``) or the
        resolution's notice (None)."""
        now = self._clock.now()
        resolved = position is None
        ack_url = self._links.url(alert.base_url, alert.tenant_id, alert.id)
        which = "resolved" if resolved else str(position)
        command = SendNotification(
            content=alert_content(alert, resolved=resolved, ack_url=ack_url),
            recipient_id=target.recipient_id,
            topic=target.topic,
            idempotency_key=f"tocsin-alert:{alert.id}:{which}:{target.key}",
            fingerprint=f"tocsin-alert:{alert.id}:{which}:{target.key}",
        )
        kind = TimelineType.NOTIFIED
        label = "resolution"
        if position is not None:
            steps = len(alert.steps)
            label = f"step {position % steps + 1}"
            if position >= steps:
                label += f", round {position // steps + 1}"
            if position > 0:
                kind = TimelineType.ESCALATED
        try:
            accepted = self._notifications.accept(alert.tenant_id, command)
        except Invalid as problem:
            detail = f"{label}: {target.describe()}: {problem.msg}"
            return TimelineEntry(at=now, type=kind, detail=detail), None
        notification = accepted.notification
        detail = f"{label}: {target.describe()} (notification {notification.id})"
        sent = SentNotification(
            notification_id=notification.id, target=target, step=position, at=now
        )
        return TimelineEntry(at=now, type=kind, detail=detail), sent

    def _cancel_unsent(self, alert: Alert) -> bool:
        """Cancels the unsent deliveries of the alert's step notifications; False while one of
        them is still fanning out (its later pages may queue more)."""
        now = self._clock.now()
        finished = True
        for item in alert.sent:
            if item.step is None:
                continue
            notification = self._notification_store.get_notification(
                alert.tenant_id, item.notification_id
            )
            if notification is None:
                continue
            cancelled = self._notification_store.cancel_unsent_deliveries(
                alert.tenant_id, item.notification_id, now
            )
            if cancelled and notification.cancelled_at is None:
                self._notification_store.cancel_notification(
                    alert.tenant_id, item.notification_id, now
                )
            if notification.fanout is not None and not notification.fanout.done:
                finished = False
        return finished
