"""Escalation policies: who an alert notifies, step after step, until someone acknowledges.

Step 1 is notified when the alert triggers; each later step ``delay_seconds`` after the step
before it. After the last step the steps run again ``repeat`` times, the first of each new round
after step 1's delay (or, when that is 0, after the last step's delay, so a round never follows
the one before at once). An alert keeps a snapshot of its policy's steps, taken when it
triggers; the alert service runs them from the alert's stored state (``chalicelib.domain.alerts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.alert_ports import PolicyStore
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.models.alerts import Alert, EscalationPolicy, EscalationStep
from chalicelib.ports import Clock, Page, RecipientStore


def delay_before(alert: Alert, position: int) -> timedelta:
    """How long after the step at ``position - 1`` the step at ``position`` is notified."""
    step = alert.step_at(position)
    seconds = step.delay_seconds
    if position % len(alert.steps) == 0 and seconds == 0:
        seconds = alert.steps[-1].delay_seconds
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class PolicyDetails:
    steps: Sequence[EscalationStep]
    repeat: int = 0


class EscalationPolicyService:
    def __init__(self, *, policies: PolicyStore, recipients: RecipientStore, clock: Clock) -> None:
        self._policies = policies
        self._recipients = recipients
        self._clock = clock

    def put(self, tenant_id: str, policy_id: str, details: PolicyDetails) -> EscalationPolicy:
        wanted = {
            target.recipient_id
            for step in details.steps
            for target in step.targets
            if target.recipient_id is not None
        }
        found = {r.recipient_id for r in self._recipients.get_recipients(tenant_id, list(wanted))}
        for index, step in enumerate(details.steps):
            for position, target in enumerate(step.targets):
                if target.recipient_id is not None and target.recipient_id not in found:
                    raise Invalid(
                        ["steps", index, "targets", position, "recipient_id"],
                        "no recipient with this id",
                    )
        now = self._clock.now()
        existing = self._policies.get_policy(tenant_id, policy_id)
        policy = EscalationPolicy(
            tenant_id=tenant_id,
            policy_id=policy_id,
            steps=list(details.steps),
            repeat=details.repeat,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        self._policies.put_policy(policy)
        return policy

    def get(self, tenant_id: str, policy_id: str) -> EscalationPolicy:
        policy = self._policies.get_policy(tenant_id, policy_id)
        if policy is None:
            raise NotFound("escalation policy")
        return policy

    def delete(self, tenant_id: str, policy_id: str) -> None:
        if not self._policies.delete_policy(tenant_id, policy_id):
            raise NotFound("escalation policy")

    def list(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[EscalationPolicy]:
        return self._policies.list_policies(tenant_id, limit=limit, cursor=cursor)
