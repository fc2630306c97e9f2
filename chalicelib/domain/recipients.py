"""Recipients: the people and systems notifications go to."""

from __future__ import annotations

from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.domain.webhook_targets import RefusedTarget, Resolver, check_webhook_url
from chalicelib.models.api import RecipientIn
from chalicelib.models.stored import Recipient
from chalicelib.ports import Clock, RecipientStore


class RecipientService:
    def __init__(
        self,
        *,
        recipients: RecipientStore,
        clock: Clock,
        allow_private_webhooks: bool,
        resolve: Resolver,
    ) -> None:
        self._recipients = recipients
        self._clock = clock
        self._allow_private = allow_private_webhooks
        self._resolve = resolve

    def put(self, tenant_id: str, recipient_id: str, request: RecipientIn) -> Recipient:
        if request.webhook_url is not None:
            try:
                check_webhook_url(
                    request.webhook_url, allow_private=self._allow_private, resolve=self._resolve
                )
            except RefusedTarget as refused:
                raise Invalid(["body", "webhook_url"], str(refused)) from None
        now = self._clock.now()
        existing = self._recipients.get_recipient(tenant_id, recipient_id)
        recipient = Recipient(
            tenant_id=tenant_id,
            recipient_id=recipient_id,
            name=request.name,
            email=request.email,
            phone=request.phone,
            webhook_url=request.webhook_url,
            preferences=request.preferences,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
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
