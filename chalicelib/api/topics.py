"""Topics and subscriptions."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.operations import Call, operation, reply
from chalicelib.api.queries import PageQuery, SubscriptionListQuery
from chalicelib.api.representations import (
    subscriber_out,
    subscription_details,
    subscription_out,
)
from chalicelib.models.api import (
    SubscriberPage,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
)
from chalicelib.models.common import RecipientId, TopicName
from chalicelib.wiring import services

topics = Blueprint(__name__)

SUBSCRIPTION = "/v1/subscriptions/{subscription_id}"
BY_SUBSCRIPTION = {"subscription_id": RecipientId}


@operation(
    topics,
    SUBSCRIPTION,
    "PUT",
    summary="Create or replace a subscription of a recipient to a topic pattern",
    tag="topics",
    success={200: SubscriptionOut},
    body=SubscriptionIn,
    path_params=BY_SUBSCRIPTION,
)
def put_subscription(call: Call, subscription_id: str) -> Response:
    subscription = services().subscriptions.put(
        call.tenant, subscription_id, subscription_details(call.body)
    )
    return reply(200, subscription_out(subscription))


@operation(
    topics,
    SUBSCRIPTION,
    "GET",
    summary="Read a subscription",
    tag="topics",
    success={200: SubscriptionOut},
    path_params=BY_SUBSCRIPTION,
)
def get_subscription(call: Call, subscription_id: str) -> Response:
    return reply(200, subscription_out(services().subscriptions.get(call.tenant, subscription_id)))


@operation(
    topics,
    SUBSCRIPTION,
    "DELETE",
    summary="Delete a subscription",
    tag="topics",
    success={204: None},
    path_params=BY_SUBSCRIPTION,
)
def delete_subscription(call: Call, subscription_id: str) -> Response:
    services().subscriptions.delete(call.tenant, subscription_id)
    return reply(204)


@operation(
    topics,
    "/v1/subscriptions",
    "GET",
    summary="List subscriptions (by id), optionally of one recipient or pattern",
    tag="topics",
    success={200: SubscriptionPage},
    query=SubscriptionListQuery,
)
def list_subscriptions(call: Call) -> Response:
    query: SubscriptionListQuery = call.query
    page = services().subscriptions.list(
        call.tenant,
        recipient_id=query.recipient_id,
        pattern=query.pattern,
        limit=query.limit,
        cursor=query.cursor,
    )
    return reply(
        200,
        SubscriptionPage(
            items=[subscription_out(item) for item in page.items], next=page.next_cursor
        ),
    )


@operation(
    topics,
    "/v1/topics/{topic}/subscribers",
    "GET",
    summary="Who a notification to this topic reaches now, with the subscriptions that match",
    tag="topics",
    success={200: SubscriberPage},
    path_params={"topic": TopicName},
    query=PageQuery,
)
def list_subscribers(call: Call, topic: str) -> Response:
    query: PageQuery = call.query
    page = services().subscriptions.subscribers(
        call.tenant, topic, limit=query.limit, cursor=query.cursor
    )
    return reply(
        200,
        SubscriberPage(items=[subscriber_out(item) for item in page.items], next=page.next_cursor),
    )
