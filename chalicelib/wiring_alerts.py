"""Alerting's composition: its services on the table, built by ``chalicelib.wiring`` beside the
others (its notification service sends every notification an alert sends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chalicelib import aws
from chalicelib.adapters.dynamodb_alerts import DynamoAlertStore
from chalicelib.domain.ack_links import AckLinks
from chalicelib.domain.alerts import AlertService
from chalicelib.domain.escalation import EscalationPolicyService
from chalicelib.domain.integrations import IntegrationService
from chalicelib.domain.notifications import NotificationService
from chalicelib.domain.rate_limits import Limit, RateLimiter
from chalicelib.domain.silences import SilenceService
from chalicelib.ports import Clock
from chalicelib.settings import Settings


@dataclass(frozen=True)
class AlertServices:
    alerts: AlertService
    silences: SilenceService
    policies: EscalationPolicyService
    integrations: IntegrationService
    rate_limits: RateLimiter


def build_alerting(
    settings: Settings, *, notifications: NotificationService, clock: Clock
) -> AlertServices:
    store = DynamoAlertStore(aws.dynamodb(), settings.table_name)
    silences = SilenceService(silences=store, clock=clock)
    window = settings.rate_limit_window_seconds
    return AlertServices(
        alerts=AlertService(
            alerts=store,
            notifications=notifications,
            notification_store=store,
            silences=silences,
            policies=store,
            links=AckLinks(
                signing_key=store.alert_signing_key,
                clock=clock,
                ttl=timedelta(seconds=settings.ack_link_ttl_seconds),
            ),
            clock=clock,
            recheck=timedelta(seconds=settings.alert_recheck),
            public_url=settings.public_url,
        ),
        silences=silences,
        policies=EscalationPolicyService(policies=store, recipients=store, clock=clock),
        integrations=IntegrationService(
            integrations=store, tenants=store, policies=store, clock=clock
        ),
        rate_limits=RateLimiter(
            counters=store,
            clock=clock,
            per_tenant=Limit(settings.rate_limit_tenant, window),
            per_integration=Limit(settings.rate_limit_integration, window),
        ),
    )
