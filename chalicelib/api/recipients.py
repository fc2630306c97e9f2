"""Recipients and their inbox."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.operations import Call, operation, reply
from chalicelib.api.queries import InboxQuery
from chalicelib.api.representations import inbox_item_out, recipient_details, recipient_out
from chalicelib.models.api import InboxPage, RecipientIn, RecipientOut
from chalicelib.models.common import RecipientId
from chalicelib.wiring import services

recipients = Blueprint(__name__)

RECIPIENT = "/v1/recipients/{recipient_id}"
BY_RECIPIENT = {"recipient_id": RecipientId}


@operation(
    recipients,
    RECIPIENT,
    "PUT",
    summary="Create or replace a recipient",
    tag="recipients",
    success={200: RecipientOut},
    body=RecipientIn,
    path_params=BY_RECIPIENT,
)
def put_recipient(call: Call, recipient_id: str) -> Response:
    details = recipient_details(call.body)
    recipient = services().recipients.put(call.tenant, recipient_id, details)
    # The one reply that shows the secret addresses this PUT stored; every later one masks them.
    return reply(200, recipient_out(recipient, given=details))


@operation(
    recipients,
    RECIPIENT,
    "GET",
    summary="Read a recipient",
    tag="recipients",
    success={200: RecipientOut},
    path_params=BY_RECIPIENT,
)
def get_recipient(call: Call, recipient_id: str) -> Response:
    return reply(200, recipient_out(services().recipients.get(call.tenant, recipient_id)))


@operation(
    recipients,
    RECIPIENT,
    "DELETE",
    summary="Delete a recipient",
    tag="recipients",
    success={204: None},
    path_params=BY_RECIPIENT,
)
def delete_recipient(call: Call, recipient_id: str) -> Response:
    services().recipients.delete(call.tenant, recipient_id)
    return reply(204)


@operation(
    recipients,
    RECIPIENT + "/inbox",
    "GET",
    summary="List a recipient's inbox, newest first",
    tag="inbox",
    success={200: InboxPage},
    query=InboxQuery,
    path_params=BY_RECIPIENT,
)
def list_inbox(call: Call, recipient_id: str) -> Response:
    query: InboxQuery = call.query
    page = services().inbox.list(
        call.tenant, recipient_id, unread_only=query.unread, limit=query.limit, cursor=query.cursor
    )
    return reply(
        200, InboxPage(items=[inbox_item_out(item) for item in page.items], next=page.next_cursor)
    )


@operation(
    recipients,
    RECIPIENT + "/inbox/{notification_id}/read",
    "POST",
    summary="Mark an inbox item read (again: no change)",
    tag="inbox",
    success={204: None},
    path_params={**BY_RECIPIENT, "notification_id": RecipientId},
)
def mark_inbox_item_read(call: Call, recipient_id: str, notification_id: str) -> Response:
    services().inbox.mark_read(call.tenant, recipient_id, notification_id)
    return reply(204)


@operation(
    recipients,
    RECIPIENT + "/webhook/enable",
    "POST",
    summary="Enable a webhook disabled after failing (a PUT with a new webhook_url does too)",
    tag="recipients",
    success={204: None},
    path_params=BY_RECIPIENT,
)
def enable_webhook(call: Call, recipient_id: str) -> Response:
    services().recipients.enable_webhook(call.tenant, recipient_id)
    return reply(204)
