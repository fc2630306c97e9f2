"""Integrations: where alerts come from. A PagerDuty integration has a routing key (the only
credential of ``POST /v2/enqueue``, naming tenant and topic); an Alertmanager integration names
a topic (and a rate-limit scope) for ``POST /v1/integrations/alertmanager``.

A routing key is 32 lowercase hexadecimal characters (128 random bits, the length PagerDuty's
integration keys have); only its SHA-256 is stored, and its first 8 characters for listings.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ulid import ULID

from chalicelib.alert_ports import IntegrationStore, PolicyStore
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.models.alerts import Integration, IntegrationKind
from chalicelib.ports import Clock, TenantStore

ROUTING_KEY_PREFIX_LENGTH = 8
DEFAULT_TOPIC = "alerts"


def routing_key_hash(routing_key: str) -> str:
    return hashlib.sha256(routing_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedIntegration:
    integration: Integration
    # Shown once, at creation (PagerDuty integrations only).
    routing_key: str | None


class IntegrationService:
    def __init__(
        self,
        *,
        integrations: IntegrationStore,
        tenants: TenantStore,
        policies: PolicyStore,
        clock: Clock,
    ) -> None:
        self._integrations = integrations
        self._tenants = tenants
        self._policies = policies
        self._clock = clock

    def create(
        self,
        tenant_id: str,
        kind: IntegrationKind,
        *,
        topic: str | None = None,
        escalation_policy: str | None = None,
    ) -> CreatedIntegration:
        if self._tenants.get_tenant(tenant_id) is None:
            raise Invalid(["tenant"], "no tenant with this name (create a key for it first)")
        if (
            escalation_policy is not None
            and self._policies.get_policy(tenant_id, escalation_policy) is None
        ):
            raise Invalid(["escalation_policy"], "no escalation policy with this id")
        now = self._clock.now()
        routing_key = secrets.token_hex(16) if kind is IntegrationKind.PAGERDUTY else None
        integration = Integration(
            tenant_id=tenant_id,
            id=str(ULID.from_datetime(now)),
            kind=kind,
            topic=topic or DEFAULT_TOPIC,
            escalation_policy=escalation_policy,
            routing_key_hash=routing_key_hash(routing_key) if routing_key else None,
            routing_key_prefix=routing_key[:ROUTING_KEY_PREFIX_LENGTH] if routing_key else None,
            created_at=now,
        )
        self._integrations.create_integration(integration)
        return CreatedIntegration(integration, routing_key)

    def list(self, tenant_id: str) -> list[Integration]:
        return self._integrations.list_integrations(tenant_id)

    def revoke(self, integration_id: str) -> bool:
        return self._integrations.delete_integration(integration_id)

    def by_routing_key(self, routing_key: str) -> Integration | None:
        integration = self._integrations.integration_by_routing_key(routing_key_hash(routing_key))
        if integration is None or integration.kind is not IntegrationKind.PAGERDUTY:
            return None
        return integration

    def get(self, tenant_id: str, integration_id: str) -> Integration:
        """The tenant's integration; NotFound for another tenant's."""
        integration = self._integrations.get_integration(integration_id)
        if integration is None or integration.tenant_id != tenant_id:
            raise NotFound("integration")
        return integration

    def of_tenant(self, tenant_id: str, integration_id: str, kind: IntegrationKind) -> Integration:
        """The tenant's integration of that kind; NotFound for another tenant's or kind's."""
        integration = self.get(tenant_id, integration_id)
        if integration.kind != kind:
            raise NotFound("integration")
        return integration
