"""What each deployed function may do, in the names of the single definition.

The deploy template turns these grants into one IAM role per function, each statement scoped to
the ARNs of the resources named here. They list exactly what the code calls (read
chalicelib/adapters and chalicelib/triggers before changing them):

- ``api_handler``: every store operation of the HTTP API (tenants and keys, recipients and
  their webhook health, subscriptions, notifications with their deliveries and idempotency
  records, the inbox, dead letters and their retry, alerts, silences, escalation policies,
  integrations and rate-limit counters), queries on the table and both indexes,
  batch reads (the inbox's notifications), publishing accepted notifications to the topic, and
  queueing retried deliveries on the channel queues.
- ``deliver_<channel>``: reads and conditional writes of deliveries, notifications, tenants and
  recipients (webhook health), the by-recipient index (a webhook's successes), its own queue
  (visibility changes, re-sends of long waits), its own DLQ (dead-letter copies); email through
  SES from the sender address; SMS through SNS straight to phone numbers; chat (Slack, Teams,
  Discord) and Apprise only call the internet; push makes SNS platform endpoints in the
  stage's platform applications, publishes to them and deletes those of invalid tokens, keeps
  each token's endpoint ARN in the table and removes invalid tokens from recipients.
- ``fanout``: reads and writes of notifications, queries of the table (subscriptions by the first
  word of their pattern), batch reads of recipients and deliveries, batch writes of deliveries,
  its own queue, and queueing deliveries on the channel queues.
- ``sweep``: queries on the sweep index, reads and writes of deliveries and notifications,
  publishing fan-outs to the topic, and queueing deliveries on the channel queues.
- ``timers``: reads, writes and deletes of timers, deliveries (released in transactions),
  notifications (a digest's, with its deliveries), digest windows and entries; batch reads of
  deliveries; its own queue (waits, timers set again) and queueing deliveries on the channel
  queues.
- ``find_timers``: queries of the timers' minute partitions, the timer cursor, and sending
  timers to the timers queue.
- ``api_handler`` and ``fanout`` also write timers and send them to the timers queue.
- ``alert_timers``: queries of the table (due timers, a notification's deliveries, silences),
  reads, writes and deletes of alerts, their timers, notifications and their deliveries
  (cancelling what an acknowledge stops), and publishing the notifications alerts send.

DynamoDB authorises each item of ``TransactWriteItems`` as the ``PutItem``/``DeleteItem``/
``UpdateItem`` it contains; there is no IAM action for the transaction itself. The operator CLI's
``Scan`` runs with the operator's credentials, never in Lambda.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.dynamodb import GSI_BY_RECIPIENT, GSI_BY_TENANT, GSI_SWEEP
from chalicelib.domain.planning import QUEUED_CHANNELS
from chalicelib.models.common import Channel
from infra.resources import Definition, stage_settings


@dataclass(frozen=True)
class TableGrant:
    table: str
    actions: tuple[str, ...]
    index: str | None = None


@dataclass(frozen=True)
class QueueGrant:
    queue: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class TopicGrant:
    """``sns:Publish`` to one topic of the definition."""

    topic: str


@dataclass(frozen=True)
class EmailGrant:
    """``ses:SendEmail`` with this sender address."""

    sender: str


@dataclass(frozen=True)
class SmsGrant:
    """``sns:Publish`` straight to phone numbers (no topic, no mobile push endpoint)."""


@dataclass(frozen=True)
class PushGrant:
    """``sns:CreatePlatformEndpoint`` in the account's platform applications, and
    ``sns:Publish``/``sns:DeleteEndpoint`` on their endpoints (whose ARNs are made at run time)."""


Grant = TableGrant | QueueGrant | TopicGrant | EmailGrant | SmsGrant | PushGrant

# What Lambda's poller calls on a queue for an SQS event source mapping, on the function's role.
QUEUE_CONSUMER_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")


def function_grants(definition: Definition) -> dict[str, tuple[Grant, ...]]:
    """Grants per Chalice function name, beyond the logs of its own log group and what its
    event source mappings need (the template adds both)."""
    settings = stage_settings(definition.stage)
    table = settings.table_name
    topic = TopicGrant(settings.notifications_topic_name)
    enqueue = tuple(
        QueueGrant(settings.delivery_queue(channel), ("GetQueueUrl", "SendMessage"))
        for channel in QUEUED_CHANNELS
    )
    own_queue = ("GetQueueUrl", "ChangeMessageVisibility", "SendMessage")
    timers = QueueGrant(settings.timers_queue_name, ("GetQueueUrl", "SendMessage"))
    grants: dict[str, tuple[Grant, ...]] = {
        "api_handler": (
            TableGrant(
                table,
                ("GetItem", "PutItem", "DeleteItem", "UpdateItem", "Query", "BatchGetItem"),
            ),
            TableGrant(table, ("Query",), index=GSI_BY_TENANT),
            TableGrant(table, ("Query",), index=GSI_BY_RECIPIENT),
            topic,
            *enqueue,
            timers,
        ),
        "fanout": (
            TableGrant(
                table,
                ("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem", "BatchWriteItem"),
            ),
            QueueGrant(settings.fanout_queue_name, own_queue),
            *enqueue,
            timers,
        ),
        "timers": (
            TableGrant(
                table,
                (
                    "GetItem",
                    "PutItem",
                    "UpdateItem",
                    "DeleteItem",
                    "Query",
                    "BatchGetItem",
                    "BatchWriteItem",
                ),
            ),
            QueueGrant(settings.timers_queue_name, own_queue),
            *enqueue,
        ),
        "find_timers": (
            TableGrant(table, ("GetItem", "UpdateItem", "Query")),
            timers,
        ),
        "sweep": (
            TableGrant(table, ("GetItem", "PutItem", "UpdateItem")),
            TableGrant(table, ("Query",), index=GSI_SWEEP),
            topic,
            *enqueue,
        ),
        "alert_timers": (
            TableGrant(table, ("GetItem", "PutItem", "DeleteItem", "UpdateItem", "Query")),
            topic,
        ),
    }
    senders: dict[Channel, tuple[Grant, ...]] = {
        Channel.WEBHOOK: (TableGrant(table, ("Query",), index=GSI_BY_RECIPIENT),),
        Channel.EMAIL: (EmailGrant(settings.email_sender),),
        Channel.SMS: (SmsGrant(),),
        Channel.SLACK: (),
        Channel.TEAMS: (),
        Channel.DISCORD: (),
        Channel.PUSH: (PushGrant(), TableGrant(table, ("DeleteItem",))),
        Channel.APPRISE: (),
    }
    for channel in QUEUED_CHANNELS:
        grants[f"deliver_{channel.value}"] = (
            TableGrant(table, ("GetItem", "PutItem", "UpdateItem")),
            QueueGrant(settings.delivery_queue(channel), own_queue),
            QueueGrant(settings.delivery_dlq(channel), ("GetQueueUrl", "SendMessage")),
            *senders[channel],
        )
    return grants
