"""Notifications, their retries, and dead letters."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.operations import Call, operation, reply
from chalicelib.api.queries import NotificationListQuery, PageQuery
from chalicelib.api.representations import dead_letter_out, notification_out
from chalicelib.domain.notifications import request_fingerprint
from chalicelib.models.api import (
    DeadLetterPage,
    NotificationIn,
    NotificationOut,
    NotificationPage,
    RedriveIn,
    RedriveOut,
    RetryOut,
)
from chalicelib.models.common import RecipientId
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
    errors=(409,),
    request_headers={"Idempotency-Key": "Same meaning as the body's idempotency_key (24 h)"},
    response_headers=LOCATION,
)
def create_notification(call: Call) -> Response:
    accepted = services().notifications.accept(
        call.tenant,
        call.body,
        fingerprint=request_fingerprint(call.raw_body),
        header_key=call.headers.get("idempotency-key"),
    )
    notification = accepted.notification
    return reply(
        202 if accepted.created else 200,
        notification_out(notification),
        {"Location": f"/v1/notifications/{notification.id}"},
    )


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
