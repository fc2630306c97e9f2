"""Notifications, their retries, and dead letters."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.operations import Call, operation, reply
from chalicelib.api.problems import single_error
from chalicelib.api.queries import DeliveryListQuery, NotificationListQuery, PageQuery
from chalicelib.api.representations import dead_letter_out, delivery_out, notification_out
from chalicelib.domain.digests import DigestRequest
from chalicelib.domain.notifications import SendNotification, request_fingerprint
from chalicelib.models.api import (
    DeadLetterPage,
    DeliveryPage,
    NotificationIn,
    NotificationOut,
    NotificationPage,
    RedriveIn,
    RedriveOut,
    RetryOut,
)
from chalicelib.models.common import NotificationStatus, RecipientId, Severity
from chalicelib.models.stored import Content
from chalicelib.wiring import services

notifications = Blueprint(__name__)

BY_ID = {"notification_id": RecipientId}
LOCATION = {"Location": "/v1/notifications/{id}"}


@operation(
    notifications,
    "/v1/notifications",
    "POST",
    summary="Send a notification (202), or replay an idempotent request (200)",
    tag="notifications",
    success={202: NotificationOut, 200: NotificationOut},
    body=NotificationIn,
    errors=(409, 429),
    request_headers={"Idempotency-Key": "Same meaning as the body's idempotency_key (24 h)"},
    response_headers=LOCATION,
)
def create_notification(call: Call) -> Response:
    services().alerting.rate_limits.admit(call.tenant)
    request: NotificationIn = call.body
    command = SendNotification(
        content=Content(
            # Empty with a template: the template's title then.
            title=request.title or "",
            body=request.body,
            severity=request.severity or Severity.INFO,
            category=request.category,
            data=request.data,
        ),
        recipient_id=request.recipient_id,
        topic=request.topic,
        channels=request.channels,
        idempotency_key=idempotency_key(request, call.headers.get("idempotency-key")),
        fingerprint=request_fingerprint(call.raw_body),
        deliver_at=request.deliver_at,
        template=request.template,
        digest=(
            None
            if request.digest is None
            else DigestRequest(key=request.digest.key, window_seconds=request.digest.window_seconds)
        ),
    )
    accepted = services().notifications.accept(call.tenant, command)
    notification = accepted.notification
    return reply(
        202 if accepted.created else 200,
        # A notification just accepted is shown as such, whatever of it is already done.
        notification_out(
            notification, status=NotificationStatus.ACCEPTED if accepted.created else None
        ),
        {"Location": f"/v1/notifications/{notification.id}"},
    )


def idempotency_key(request: NotificationIn, header_key: str | None) -> str | None:
    """The header and the body field are one key space: either, or both equal."""
    if header_key is None:
        return request.idempotency_key
    if not 1 <= len(header_key) <= 128:
        raise single_error(["header", "Idempotency-Key"], "must be 1 to 128 characters")
    if request.idempotency_key is not None and request.idempotency_key != header_key:
        raise single_error(
            ["header", "Idempotency-Key"],
            "differs from the body's idempotency_key; give one, or both equal",
        )
    return header_key


@operation(
    notifications,
    "/v1/notifications",
    "GET",
    summary="List notifications, newest first",
    tag="notifications",
    success={200: NotificationPage},
    query=NotificationListQuery,
)
def list_notifications(call: Call) -> Response:
    query: NotificationListQuery = call.query
    page = services().notifications.list(
        call.tenant,
        recipient_id=query.recipient_id,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
    )
    return reply(
        200,
        NotificationPage(
            items=[notification_out(item) for item in page.items], next=page.next_cursor
        ),
    )


@operation(
    notifications,
    "/v1/notifications/{notification_id}",
    "GET",
    summary="Read a notification and its deliveries",
    tag="notifications",
    success={200: NotificationOut},
    path_params=BY_ID,
)
def get_notification(call: Call, notification_id: str) -> Response:
    return reply(200, notification_out(services().notifications.get(call.tenant, notification_id)))


@operation(
    notifications,
    "/v1/notifications/{notification_id}/deliveries",
    "GET",
    summary="List a notification's deliveries (by recipient, then channel)",
    tag="notifications",
    success={200: DeliveryPage},
    path_params=BY_ID,
    query=DeliveryListQuery,
)
def list_deliveries(call: Call, notification_id: str) -> Response:
    query: DeliveryListQuery = call.query
    page = services().notifications.deliveries(
        call.tenant,
        notification_id,
        status=query.status,
        channel=query.channel,
        recipient_id=query.recipient_id,
        limit=query.limit,
        cursor=query.cursor,
    )
    return reply(
        200,
        DeliveryPage(
            items=[delivery_out(item, with_attempts=True) for item in page.items],
            next=page.next_cursor,
        ),
    )


@operation(
    notifications,
    "/v1/notifications/{notification_id}/cancel",
    "POST",
    summary="Cancel: every delivery not attempted yet is skipped (reason cancelled); 409 when "
    "every delivery is final already",
    tag="notifications",
    success={200: NotificationOut},
    path_params=BY_ID,
    errors=(409,),
)
def cancel_notification(call: Call, notification_id: str) -> Response:
    notification = services().notifications.cancel(call.tenant, notification_id)
    return reply(200, notification_out(notification))


@operation(
    notifications,
    "/v1/notifications/{notification_id}/retry",
    "POST",
    summary="Attempt the notification's failed deliveries again, with a fresh budget",
    tag="dead letters",
    success={202: RetryOut},
    path_params=BY_ID,
)
def retry_notification(call: Call, notification_id: str) -> Response:
    retried = services().dead_letters.retry(call.tenant, notification_id)
    return reply(202, RetryOut(id=notification_id, retried=retried))


@operation(
    notifications,
    "/v1/dead-letters",
    "GET",
    summary="List failed deliveries, newest first",
    tag="dead letters",
    success={200: DeadLetterPage},
    query=PageQuery,
)
def list_dead_letters(call: Call) -> Response:
    query: PageQuery = call.query
    page = services().dead_letters.list(call.tenant, limit=query.limit, cursor=query.cursor)
    return reply(
        200,
        DeadLetterPage(items=[dead_letter_out(item) for item in page.items], next=page.next_cursor),
    )


@operation(
    notifications,
    "/v1/dead-letters/redrive",
    "POST",
    summary="Retry every dead letter (optionally only one channel or recipient)",
    tag="dead letters",
    success={202: RedriveOut},
    body=RedriveIn,
    body_required=False,
)
def redrive_dead_letters(call: Call) -> Response:
    request: RedriveIn = call.body
    redriven = services().dead_letters.redrive(
        call.tenant, channel=request.channel, recipient_id=request.recipient_id
    )
    return reply(202, RedriveOut(redriven=redriven))
