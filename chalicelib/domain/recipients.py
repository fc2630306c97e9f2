"""Recipients: the people and systems notifications go to."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.domain.webhook_targets import RefusedTarget, Resolver, check_webhook_url
from chalicelib.models.preferences import RecipientPreferences
from chalicelib.models.stored import Recipient
from chalicelib.ports import Clock, EndpointStore, RecipientStore


@dataclass(frozen=True)
class RecipientDetails:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None
    preferences: RecipientPreferences | None = None
    # The request left preferences out: the stored ones stay (a profile sync must not wipe
    # what the person chose).
    keep_preferences: bool = False


class RecipientService:
    def __init__(
        self,
        *,
        recipients: RecipientStore,
        endpoints: EndpointStore,
        clock: Clock,
        allow_private_webhooks: bool,
        resolve: Resolver,
    ) -> None:
        self._recipients = recipients
        self._endpoints = endpoints
        self._clock = clock
        self._allow_private = allow_private_webhooks
        self._resolve = resolve

    def put(self, tenant_id: str, recipient_id: str, details: RecipientDetails) -> Recipient:
        if details.webhook_url is not None:
            try:
                check_webhook_url(
                    details.webhook_url, allow_private=self._allow_private, resolve=self._resolve
                )
            except RefusedTarget as refused:
                raise Invalid(["webhook_url"], str(refused)) from None
        now = self._clock.now()
        existing = self._recipients.get_recipient(tenant_id, recipient_id)
        recipient = Recipient(
            tenant_id=tenant_id,
            recipient_id=recipient_id,
            name=details.name,
            email=details.email,
            phone=details.phone,
            webhook_url=details.webhook_url,
            preferences=(
                existing.preferences
                if details.keep_preferences and existing is not None
                else details.preferences
            ),
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        if existing is not None and existing.webhook_url == details.webhook_url:
            # The same endpoint keeps its health; a new URL starts afresh.
            recipient.webhook_failing_since = existing.webhook_failing_since
            recipient.webhook_disabled_at = existing.webhook_disabled_at
        self._recipients.put_recipient(recipient)
        return recipient

    def get(self, tenant_id: str, recipient_id: str) -> Recipient:
        recipient = self._recipients.get_recipient(tenant_id, recipient_id)
        if recipient is None:
            raise NotFound("recipient")
        return recipient

    def delete(self, tenant_id: str, recipient_id: str) -> None:
        if not self._recipients.delete_recipient(tenant_id, recipient_id):
            raise NotFound("recipient")

    def enable_webhook(self, tenant_id: str, recipient_id: str) -> None:
        """Enables a disabled webhook again (and forgets its failures)."""
        if not self._endpoints.enable_webhook(tenant_id, recipient_id):
            raise NotFound("recipient")
