"""Query-string models of the list routes."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from chalicelib.models.common import (
    Channel,
    DeliveryStatus,
    Model,
    NotificationStatus,
    RecipientId,
    TopicPattern,
)


class PageQuery(Model):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=100, description="Items per page, 1-100")
    cursor: str | None = Field(
        default=None, min_length=1, max_length=2048, description="The `next` of the previous page"
    )


class NotificationListQuery(PageQuery):
    recipient_id: RecipientId | None = None
    status: NotificationStatus | None = None


class InboxQuery(PageQuery):
    unread: bool = Field(default=False, description="true: only unread items")


class SubscriptionListQuery(PageQuery):
    recipient_id: RecipientId | None = None
    pattern: TopicPattern | None = None


class DeliveryListQuery(PageQuery):
    status: DeliveryStatus | None = None
    channel: Channel | None = None
    recipient_id: RecipientId | None = None
