"""The in-app inbox: a recipient's inbox deliveries, newest first.

An inbox delivery is complete when it is written (with its notification, or by a fan-out
page): its record is the inbox entry, so there is no sender for this channel.
"""

from __future__ import annotations

from chalicelib.domain.errors import NotFound
from chalicelib.domain.notifications import first_id_at
from chalicelib.models.stored import InboxItem, Recipient
from chalicelib.ports import Clock, InboxStore, Page, RecipientStore


class InboxService:
    def __init__(self, *, inbox: InboxStore, recipients: RecipientStore, clock: Clock) -> None:
        self._inbox = inbox
        self._recipients = recipients
        self._clock = clock

    def list(
        self,
        tenant_id: str,
        recipient_id: str,
        *,
        unread_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[InboxItem]:
        recipient = self._require_recipient(tenant_id, recipient_id)
        return self._inbox.list_inbox(
            tenant_id,
            recipient_id,
            since_id=self._since_id(recipient),
            unread_only=unread_only,
            limit=limit,
            cursor=cursor,
        )

    def mark_read(self, tenant_id: str, recipient_id: str, notification_id: str) -> None:
        recipient = self._require_recipient(tenant_id, recipient_id)
        if notification_id < self._since_id(recipient) or not self._inbox.mark_read(
            tenant_id, recipient_id, notification_id, self._clock.now()
        ):
            raise NotFound("inbox item")

    @staticmethod
    def _since_id(recipient: Recipient) -> str:
        """A recipient sees only notifications accepted since it was created: one deleted and
        created again under the same id starts with an empty inbox."""
        return first_id_at(recipient.created_at)

    def _require_recipient(self, tenant_id: str, recipient_id: str) -> Recipient:
        recipient = self._recipients.get_recipient(tenant_id, recipient_id)
        if recipient is None:
            raise NotFound("recipient")
        return recipient
