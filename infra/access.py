"""What each deployed function may do, in the names of the single definition.

The deploy template turns these grants into one IAM role per function, each statement scoped to
the ARNs of the resources named here. They list exactly what the code calls (read
chalicelib/adapters and chalicelib/triggers before changing them):

- ``api_handler``: every store operation of the HTTP API (tenants and keys, recipients,
  notifications with idempotency records, the inbox, dead letters and their redrive), queries on
  the table and the by-tenant and by-recipient indexes, and publishing accepted and redriven
  notifications to the notifications topic.
- ``deliver``: reads and writes of notifications, tenants and inbox items (no query), the
  deliveries queue (its event source mapping, visibility changes, re-sends of long waits), the
  dead-letter queue (dead-letter announcements), email through SES from the sender address, SMS
  through SNS straight to phone numbers.
- ``sweep``: queries on the sweep index, reads and writes of notifications, and publishing
  republished notifications to the notifications topic.

DynamoDB authorises each item of ``TransactWriteItems`` as the ``PutItem``/``DeleteItem``/
``UpdateItem`` it contains; there is no IAM action for the transaction itself. The operator CLI's
``Scan`` runs with the operator's credentials, never in Lambda.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.dynamodb import GSI_BY_RECIPIENT, GSI_BY_TENANT, GSI_SWEEP
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


Grant = TableGrant | QueueGrant | TopicGrant | EmailGrant | SmsGrant

# What Lambda's poller calls on a queue for an SQS event source mapping, on the function's role.
QUEUE_CONSUMER_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")


def function_grants(definition: Definition) -> dict[str, tuple[Grant, ...]]:
    """Grants per Chalice function name, beyond the logs of its own log group and what its
    event source mappings need (the template adds both)."""
    settings = stage_settings(definition.stage)
    table = settings.table_name
    topic = TopicGrant(settings.notifications_topic_name)
    notifications_read_write = TableGrant(table, ("GetItem", "PutItem"))
    return {
        "api_handler": (
            TableGrant(table, ("GetItem", "PutItem", "DeleteItem", "UpdateItem", "Query")),
            TableGrant(table, ("Query",), index=GSI_BY_TENANT),
            TableGrant(table, ("Query",), index=GSI_BY_RECIPIENT),
            topic,
        ),
        "deliver": (
            notifications_read_write,
            QueueGrant(
                settings.deliveries_queue_name,
                ("GetQueueUrl", "ChangeMessageVisibility", "SendMessage"),
            ),
            QueueGrant(settings.deliveries_dlq_name, ("GetQueueUrl", "SendMessage")),
            EmailGrant(settings.email_sender),
            SmsGrant(),
        ),
        "sweep": (
            notifications_read_write,
            TableGrant(table, ("Query",), index=GSI_SWEEP),
            topic,
        ),
    }
