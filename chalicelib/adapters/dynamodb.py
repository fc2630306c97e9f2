"""Every store port on one DynamoDB table (single-table design).

Static parts of an item sit in ``doc`` (its model as JSON); what conditions, counters and
indexes need sits beside it as attributes of its own. Times in attributes are epoch
milliseconds.

| item          | pk                    | sk                   | indexes                                   |
|---------------|-----------------------|----------------------|-------------------------------------------|
| tenant        | TENANT#{t}            | TENANT               |                                           |
| API key       | APIKEY#{prefix}       | APIKEY               | gsi1 TENANT#{t}#KEYS / {prefix}           |
| console       | SESSION#{sha256}      | SESSION              | TTL expires_at_epoch                      |
| session       |                       |                      |                                           |
| recipient     | T#{t}#R#{r}           | RECIPIENT            | gsi1 T#{t}#R / {r}                        |
| subscription  | T#{t}#S#{id}          | SUBSCRIPTION         | gsi2 T#{t}#S / {id}                       |
| its copy      | T#{t}#SW#{first word} | {r}#{id}             | (what a fan-out reads, by partition)      |
| notification  | T#{t}#N#{id}          | NOTIFICATION         | gsi1 T#{t}#N / {id}; gsi2 (one recipient) |
|               |                       |                      | T#{t}#R#{r}#N / {id}; sweep while its     |
|               |                       |                      | fan-out is unfinished                     |
| delivery      | T#{t}#N#{id}#D        | {r}#{channel}        | sweep while open; gsi1 T#{t}#DL / {failed |
|               |                       |                      | ms}#... when failed; inbox: gsi2          |
|               |                       |                      | T#{t}#R#{r}#INBOX / {id}, gsi1            |
|               |                       |                      | T#{t}#R#{r}#UNREAD / {id} until read;     |
|               |                       |                      | delivered webhook: gsi2 T#{t}#R#{r}#WHOK  |
| idempotency   | T#{t}#IK#{sha256}     | IDEMPOTENCY          | TTL expires_at_epoch                      |
| push endpoint | PUSHEP#{sha256}       | PUSHEP               | (the SNS endpoint of one push token)      |
| tenant prefs  | T#{t}#PREFERENCES     | PREFERENCES          |                                           |
| template      | T#{t}#TEMPLATES       | {name}               | (listed by partition)                     |
| timer         | TIMER#{minute}#{shard}| {due ms}#{name}      | (found by partition, see due_timers)      |
| timer cursor  | TIMERS                | CURSOR               |                                           |
| digest window | T#{t}#R#{r}#DGW#{key} | DIGEST               |                                           |
| digest entry  | T#{t}#DGE#{window}    | {notification id}    |                                           |

A notification keeps its deliveries' counts by status (``n_*``, changed only by ``ADD`` in the
same transaction as the delivery they concern); a one-recipient notification also keeps a copy
of each delivery's state (``dlv``), so that reading it is one ``GetItem``.

Alerting's items (alerts, their keys and timers, silences, escalation policies, integrations,
rate-limit counters) share the table; their layout is in ``chalicelib.adapters.dynamodb_alerts``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import random
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError

from chalicelib.domain.topics import first_word
from chalicelib.models.common import Channel, DeliveryStatus, Reason
from chalicelib.models.preferences import RecipientPreferences, TenantPreferences
from chalicelib.models.scheduling import DigestEntry, DigestJoin, DigestWindow, Timer
from chalicelib.models.stored import (
    ApiKeyRecord,
    Attempt,
    ConsoleSession,
    Content,
    Counts,
    DeadLetter,
    Delivery,
    DeliveryKey,
    Fanout,
    IdempotencyRecord,
    InboxItem,
    Notification,
    Recipient,
    Subscription,
    Tenant,
)
from chalicelib.models.templates import Template
from chalicelib.ports import (
    Claim,
    DigestWindowMoved,
    IdempotencyKeyTaken,
    InvalidCursor,
    NotificationExists,
    Page,
    Swept,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

Item = dict[str, "AttributeValueTypeDef"]

log = logging.getLogger(__name__)

GSI_BY_TENANT = "gsi1"
GSI_BY_RECIPIENT = "gsi2"
GSI_SWEEP = "sweep"
SWEEP_SHARDS = 8
# Reads one list request may make when a filter leaves pages short.
MAX_READS_PER_PAGE = 5
BATCH_WRITE = 25
BATCH_GET = 100
MAX_TRANSACTION_TRIES = 10

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INDEX_KEYS = {
    None: ("pk", "sk"),
    GSI_BY_TENANT: ("gsi1pk", "gsi1sk"),
    GSI_BY_RECIPIENT: ("gsi2pk", "gsi2sk"),
}
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
_COUNTED = tuple(DeliveryStatus)


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(value: str | int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(value))


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _ms(moment: datetime) -> AttributeValueTypeDef:
    return _n(epoch_ms(moment))


def _key(pk: str, sk: str) -> Item:
    return {"pk": _s(pk), "sk": _s(sk)}


def _doc(item: Mapping[str, Any]) -> str:
    doc: str = item["doc"]["S"]
    return doc


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _failed_condition(error: ClientError) -> bool:
    return _error_code(error) == "ConditionalCheckFailedException"


def _cancel_reasons(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [reason.get("Code", "") for reason in reasons]


def _sweep_shard(pk: str, sk: str) -> str:
    return f"SWEEP#{zlib.crc32(f'{pk}|{sk}'.encode()) % SWEEP_SHARDS}"


class _Cursor:
    """Opaque page cursors: the last returned item's keys, bound to the list they came from."""

    @staticmethod
    def encode(key: Mapping[str, Any]) -> str:
        plain = {name: value["S"] for name, value in key.items()}
        raw = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(cursor: str, names: Sequence[str], partition: tuple[str, str]) -> Item:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            plain = json.loads(raw)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidCursor("malformed cursor") from None
        if (
            not isinstance(plain, dict)
            or set(plain) != set(names)
            or not all(isinstance(value, str) for value in plain.values())
        ):
            raise InvalidCursor("malformed cursor")
        name, value = partition
        if plain[name] != value:
            raise InvalidCursor("this cursor belongs to another list")
        return {name: _s(value) for name, value in plain.items()}


def delivery_pk(tenant_id: str, notification_id: str) -> str:
    return f"T#{tenant_id}#N#{notification_id}#D"


def delivery_item_key(key: DeliveryKey) -> Item:
    return _key(
        delivery_pk(key.tenant_id, key.notification_id), f"{key.recipient_id}#{key.channel.value}"
    )


# Timers sit in one partition per minute of their due time (and shard), so that finding those
# due is a read of a few small partitions, whatever lies ahead; a cursor item says which
# minute is the first not known to be done.
TIMER_BUCKET_MS = 60_000
TIMER_SHARDS = 4
TIMER_SETTLE = timedelta(minutes=5)
MAX_TIMER_BUCKETS = 240
TIMER_CURSOR = ("TIMERS", "CURSOR")
# Delivery moves per transaction (with the notification's counts: DynamoDB takes 100 items).
MOVES_PER_TRANSACTION = 90


def timer_bucket(moment: datetime) -> int:
    return epoch_ms(moment) // TIMER_BUCKET_MS


def timer_key(timer: Timer) -> Item:
    due = epoch_ms(timer.due)
    shard = zlib.crc32(timer.name.encode()) % TIMER_SHARDS
    return _key(f"TIMER#{due // TIMER_BUCKET_MS}#{shard}", f"{due:013d}#{timer.name}")


def timer_item(timer: Timer) -> Item:
    return {**timer_key(timer), "doc": _s(timer.model_dump_json())}


def digest_entries_pk(tenant_id: str, window_id: str) -> str:
    return f"T#{tenant_id}#DGE#{window_id}"


def recipient_item(recipient: Recipient) -> Item:
    item: Item = {
        **_key(f"T#{recipient.tenant_id}#R#{recipient.recipient_id}", "RECIPIENT"),
        "doc": _s(
            recipient.model_dump_json(
                exclude={"webhook_failing_since", "webhook_disabled_at", "preferences"}
            )
        ),
    }
    # The console's listing of a tenant's recipients (an operator's page, never a hot path).
    item["gsi1pk"] = _s(f"T#{recipient.tenant_id}#R")
    item["gsi1sk"] = _s(recipient.recipient_id)
    if recipient.preferences is not None:
        # An attribute of its own: replaced alone by PUT .../preferences.
        item["prefs"] = _s(recipient.preferences.model_dump_json())
    if recipient.webhook_url is not None:
        item["wh_url"] = _s(recipient.webhook_url)
    if recipient.webhook_failing_since is not None:
        item["wh_failing"] = _ms(recipient.webhook_failing_since)
    if recipient.webhook_disabled_at is not None:
        item["wh_disabled"] = _ms(recipient.webhook_disabled_at)
    return item


def subscription_match_item(subscription: Subscription) -> Item:
    """A subscription's copy under its pattern's first word: what a fan-out reads."""
    return {
        **_key(
            f"T#{subscription.tenant_id}#SW#{first_word(subscription.pattern)}",
            f"{subscription.recipient_id}#{subscription.subscription_id}",
        ),
        "doc": _s(subscription.model_dump_json()),
    }


_attempt_log_adapter = TypeAdapter(list[Attempt])


def _leased(delivery: Delivery, now: datetime) -> bool:
    return delivery.lease_until is not None and delivery.lease_until > now


def cancelled_delivery(delivery: Delivery) -> Delivery:
    """An open delivery cancelled before it was sent: ``skipped``, reason ``cancelled``."""
    updated = delivery.model_copy()
    updated.status = DeliveryStatus.SKIPPED
    updated.reason = Reason.CANCELLED
    updated.last_error = "cancelled before it was sent" + (
        f" (last error: {delivery.last_error})" if delivery.last_error else ""
    )
    updated.next_attempt_at = None
    updated.lease_token = None
    updated.lease_until = None
    updated.sweep_at = None
    return updated


def _public_delivery(delivery: Delivery) -> str:
    """The part of a delivery a one-recipient notification keeps a copy of."""
    return delivery.model_dump_json(
        include={
            "tenant_id",
            "notification_id",
            "recipient_id",
            "channel",
            "status",
            "reason",
            "attempts",
            "last_error",
            "delivered_at",
            "failed_at",
            "next_attempt_at",
        }
    )


class DynamoStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    # --- health -------------------------------------------------------------------------------
    def table_reachable(self) -> bool:
        try:
            self._db.get_item(TableName=self._table, Key=_key("HEALTH", "HEALTH"))
        except (BotoCoreError, ClientError):
            return False
        return True

    # --- tenants and keys -------------------------------------------------------------------
    def get_tenant(self, name: str) -> Tenant | None:
        item = self._get(f"TENANT#{name}", "TENANT")
        return None if item is None else Tenant.model_validate_json(_doc(item))

    def create_tenant(self, tenant: Tenant) -> Tenant:
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **_key(f"TENANT#{tenant.name}", "TENANT"),
                    "doc": _s(tenant.model_dump_json()),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise
            existing = self.get_tenant(tenant.name)
            assert existing is not None
            return existing
        return tenant

    def list_tenants(self) -> list[str]:
        """Every tenant's name (a scan: for operator tools, not for request paths)."""
        names: list[str] = []
        paginator = self._db.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": _s("TENANT#")},
            ProjectionExpression="pk",
        ):
            names += [item["pk"]["S"].removeprefix("TENANT#") for item in page.get("Items", [])]
        return sorted(names)

    def put_api_key(self, record: ApiKeyRecord) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(f"APIKEY#{record.prefix}", "APIKEY"),
                "doc": _s(record.model_dump_json()),
                # The console's listing of a tenant's keys (an operator's page, never a hot path).
                "gsi1pk": _s(f"TENANT#{record.tenant}#KEYS"),
                "gsi1sk": _s(record.prefix),
            },
        )

    def list_api_keys(self, tenant_id: str) -> list[ApiKeyRecord]:
        keys: list[ApiKeyRecord] = []
        cursor = None
        while True:
            page = self._page(
                GSI_BY_TENANT,
                f"TENANT#{tenant_id}#KEYS",
                100,
                cursor,
                lambda item: ApiKeyRecord.model_validate_json(_doc(item)),
                newest_first=False,
            )
            keys += page.items
            if page.next_cursor is None:
                return keys
            cursor = page.next_cursor

    # --- console sessions ---------------------------------------------------------------------
    def put_session(self, session: ConsoleSession) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(f"SESSION#{session.session_hash}", "SESSION"),
                "doc": _s(session.model_dump_json()),
                "expires_at_epoch": _n(int(session.expires_at.timestamp())),
            },
        )

    def get_session(self, session_hash: str) -> ConsoleSession | None:
        item = self._get(f"SESSION#{session_hash}", "SESSION")
        return None if item is None else ConsoleSession.model_validate_json(_doc(item))

    def delete_session(self, session_hash: str) -> None:
        self._delete(f"SESSION#{session_hash}", "SESSION")

    def get_api_key(self, prefix: str) -> ApiKeyRecord | None:
        item = self._get(f"APIKEY#{prefix}", "APIKEY")
        return None if item is None else ApiKeyRecord.model_validate_json(_doc(item))

    def delete_api_key(self, prefix: str) -> bool:
        return self._delete(f"APIKEY#{prefix}", "APIKEY")

    # --- recipients ---------------------------------------------------------------------------
    @staticmethod
    def _recipient_key(tenant_id: str, recipient_id: str) -> Item:
        return _key(f"T#{tenant_id}#R#{recipient_id}", "RECIPIENT")

    def get_recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None:
        item = self._get(f"T#{tenant_id}#R#{recipient_id}", "RECIPIENT")
        return None if item is None else self._recipient(item)

    def get_recipients(self, tenant_id: str, recipient_ids: Sequence[str]) -> list[Recipient]:
        keys = [self._recipient_key(tenant_id, rid) for rid in dict.fromkeys(recipient_ids)]
        return [self._recipient(item) for item in self._batch_get(keys)]

    def put_recipient(self, recipient: Recipient) -> None:
        self._db.put_item(TableName=self._table, Item=recipient_item(recipient))

    def delete_recipient(self, tenant_id: str, recipient_id: str) -> bool:
        return self._delete(f"T#{tenant_id}#R#{recipient_id}", "RECIPIENT")

    def list_recipients(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Recipient]:
        return self._page(
            GSI_BY_TENANT, f"T#{tenant_id}#R", limit, cursor, self._recipient, newest_first=False
        )

    def remove_push_tokens(self, tenant_id: str, recipient_id: str, targets: Sequence[str]) -> None:
        """The recipient's doc is rewritten only if it has not changed since it was read (a
        PUT meanwhile wins; the next send finds the token invalid again)."""
        gone = set(targets)
        for _ in range(MAX_TRANSACTION_TRIES):
            item = self._get(f"T#{tenant_id}#R#{recipient_id}", "RECIPIENT")
            if item is None:
                return
            recipient = self._recipient(item)
            kept = [token for token in recipient.push_tokens or [] if token.target not in gone]
            if len(kept) == len(recipient.push_tokens or []):
                return
            recipient.push_tokens = kept or None
            new_doc = recipient_item(recipient)["doc"]
            if (
                self._update_recipient(
                    tenant_id,
                    recipient_id,
                    "SET doc = :new",
                    "doc = :old",
                    {":new": new_doc, ":old": item["doc"]},
                )
                is not None
            ):
                return

    # --- push endpoints -----------------------------------------------------------------------
    @staticmethod
    def _push_endpoint_pk(target: str) -> str:
        return f"PUSHEP#{hashlib.sha256(target.encode()).hexdigest()}"

    def get_push_endpoint(self, target: str) -> str | None:
        item = self._get(self._push_endpoint_pk(target), "PUSHEP")
        return None if item is None else str(item["arn"]["S"])

    def put_push_endpoint(self, target: str, endpoint_arn: str) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={**_key(self._push_endpoint_pk(target), "PUSHEP"), "arn": _s(endpoint_arn)},
        )

    def delete_push_endpoint(self, target: str) -> None:
        self._delete(self._push_endpoint_pk(target), "PUSHEP")

    @staticmethod
    def _recipient(item: Mapping[str, Any]) -> Recipient:
        recipient = Recipient.model_validate_json(_doc(item))
        if "prefs" in item:
            recipient.preferences = RecipientPreferences.model_validate_json(item["prefs"]["S"])
        if "wh_failing" in item:
            recipient.webhook_failing_since = from_ms(item["wh_failing"]["N"])
        if "wh_disabled" in item:
            recipient.webhook_disabled_at = from_ms(item["wh_disabled"]["N"])
        return recipient

    # --- endpoint health ----------------------------------------------------------------------
    def _update_recipient(
        self,
        tenant_id: str,
        recipient_id: str,
        update: str,
        condition: str,
        values: Item,
        *,
        names: dict[str, str] | None = None,
        returns: bool = False,
    ) -> Mapping[str, Any] | None:
        """The recipient's attributes after the update (with ``returns``), {} without; None
        when the condition failed."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._recipient_key(tenant_id, recipient_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        if names:
            request["ExpressionAttributeNames"] = names
        if returns:
            request["ReturnValues"] = "ALL_NEW"
        try:
            response = self._db.update_item(**request)
        except ClientError as error:
            if _failed_condition(error):
                return None
            raise
        attributes: Mapping[str, Any] = response.get("Attributes", {})
        return attributes

    def note_webhook_failure(
        self, tenant_id: str, recipient_id: str, url: str, now: datetime
    ) -> Recipient | None:
        item = self._update_recipient(
            tenant_id,
            recipient_id,
            "SET wh_failing = if_not_exists(wh_failing, :now)",
            "wh_url = :url",
            {":now": _ms(now), ":url": _s(url)},
            returns=True,
        )
        return None if item is None else self._recipient(item)

    def restart_webhook_failing(
        self, tenant_id: str, recipient_id: str, url: str, since: datetime
    ) -> None:
        self._update_recipient(
            tenant_id,
            recipient_id,
            "SET wh_failing = :since",
            "wh_url = :url",
            {":since": _ms(since), ":url": _s(url)},
        )

    def disable_webhook(
        self, tenant_id: str, recipient_id: str, url: str, failing_since: datetime, now: datetime
    ) -> bool:
        return (
            self._update_recipient(
                tenant_id,
                recipient_id,
                "SET wh_disabled = :now",
                "wh_url = :url AND wh_failing = :since AND attribute_not_exists(wh_disabled)",
                {":now": _ms(now), ":url": _s(url), ":since": _ms(failing_since)},
            )
            is not None
        )

    def clear_webhook_failing(self, tenant_id: str, recipient_id: str, url: str) -> None:
        self._update_recipient(
            tenant_id,
            recipient_id,
            "REMOVE wh_failing",
            "wh_url = :url AND attribute_not_exists(wh_disabled)",
            {":url": _s(url)},
        )

    def enable_webhook(self, tenant_id: str, recipient_id: str) -> bool:
        return (
            self._update_recipient(
                tenant_id,
                recipient_id,
                "REMOVE wh_failing, wh_disabled",
                "attribute_exists(pk)",
                {},
            )
            is not None
        )

    def webhook_succeeded_since(self, tenant_id: str, recipient_id: str, since: datetime) -> bool:
        response = self._db.query(
            TableName=self._table,
            IndexName=GSI_BY_RECIPIENT,
            KeyConditionExpression="gsi2pk = :partition AND gsi2sk >= :since",
            ExpressionAttributeValues={
                ":partition": _s(f"T#{tenant_id}#R#{recipient_id}#WHOK"),
                ":since": _s(f"{epoch_ms(since):013d}"),
            },
            Limit=1,
        )
        return bool(response.get("Items"))

    def take_endpoint_slot(
        self, tenant_id: str, recipient_id: str, slot: int, until: datetime, now: datetime
    ) -> bool:
        return (
            self._update_recipient(
                tenant_id,
                recipient_id,
                "SET #slot = :until",
                "attribute_exists(pk) AND (attribute_not_exists(#slot) OR #slot < :now)",
                {":until": _ms(until), ":now": _ms(now)},
                names={"#slot": f"slot{slot}"},
            )
            is not None
        )

    def release_endpoint_slot(
        self, tenant_id: str, recipient_id: str, slot: int, until: datetime
    ) -> None:
        self._update_recipient(
            tenant_id,
            recipient_id,
            "REMOVE #slot",
            "#slot = :until",
            {":until": _ms(until)},
            names={"#slot": f"slot{slot}"},
        )

    # --- subscriptions ------------------------------------------------------------------------
    @staticmethod
    def _subscription_match_key(subscription: Subscription) -> Item:
        item = subscription_match_item(subscription)
        return {"pk": item["pk"], "sk": item["sk"]}

    def put_subscription(self, subscription: Subscription) -> None:
        """The subscription, and its copy under its pattern's first word (what a fan-out
        reads, a partition at a time), in one transaction; the copy it had under another word
        goes. Tried again if the subscription changed meanwhile."""
        tenant, sid = subscription.tenant_id, subscription.subscription_id
        doc = _s(subscription.model_dump_json())
        for _ in range(MAX_TRANSACTION_TRIES):
            previous = self._get(f"T#{tenant}#S#{sid}", "SUBSCRIPTION")
            put: dict[str, Any] = {
                "TableName": self._table,
                "Item": {
                    **_key(f"T#{tenant}#S#{sid}", "SUBSCRIPTION"),
                    "doc": doc,
                    "gsi2pk": _s(f"T#{tenant}#S"),
                    "gsi2sk": _s(sid),
                },
            }
            items: list[dict[str, Any]] = [
                {"Put": put},
                {"Put": {"TableName": self._table, "Item": subscription_match_item(subscription)}},
            ]
            if previous is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "doc = :previous"
                put["ExpressionAttributeValues"] = {":previous": previous["doc"]}
                old_key = self._subscription_match_key(
                    Subscription.model_validate_json(_doc(previous))
                )
                if old_key != self._subscription_match_key(subscription):
                    items.append({"Delete": {"TableName": self._table, "Key": old_key}})
            try:
                self._transact(cast("list[TransactWriteItemTypeDef]", items))
            except ClientError as error:
                if _cancel_reasons(error)[:1] == ["ConditionalCheckFailed"]:
                    continue
                raise
            return
        raise RuntimeError(f"subscription {sid}: too many concurrent writers")

    def get_subscription(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        item = self._get(f"T#{tenant_id}#S#{subscription_id}", "SUBSCRIPTION")
        return None if item is None else Subscription.model_validate_json(_doc(item))

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        response = self._db.delete_item(
            TableName=self._table,
            Key=_key(f"T#{tenant_id}#S#{subscription_id}", "SUBSCRIPTION"),
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes")
        if old is None:
            return False
        subscription = Subscription.model_validate_json(_doc(old))
        self._db.delete_item(TableName=self._table, Key=self._subscription_match_key(subscription))
        return True

    def list_subscriptions(
        self,
        tenant_id: str,
        *,
        keep: Callable[[Subscription], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Subscription]:
        return self._page(
            GSI_BY_RECIPIENT,
            f"T#{tenant_id}#S",
            limit,
            cursor,
            lambda item: Subscription.model_validate_json(_doc(item)),
            newest_first=False,
            keep=keep,
        )

    def subscriptions_by_first_word(
        self, tenant_id: str, first_word: str, *, after_recipient: str | None, limit: int
    ) -> Page[Subscription]:
        condition = "pk = :partition"
        values: Item = {":partition": _s(f"T#{tenant_id}#SW#{first_word}")}
        if after_recipient is not None:
            # "{r}#..." sorts below "{r}$": every subscription of ``after_recipient`` is passed.
            condition += " AND sk >= :after"
            values[":after"] = _s(after_recipient + "$")
        response = self._db.query(
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            Limit=limit,
        )
        items = [Subscription.model_validate_json(_doc(item)) for item in response["Items"]]
        more = "LastEvaluatedKey" in response
        return Page(items, "more" if more else None)

    # --- notifications ------------------------------------------------------------------------
    def create_notification(
        self,
        notification: Notification,
        deliveries: Sequence[Delivery],
        idempotency: IdempotencyRecord | None,
        *,
        timers: Sequence[Timer] = (),
        digest: DigestJoin | None = None,
    ) -> None:
        items: list[TransactWriteItemTypeDef] = []
        if idempotency is not None:
            expires = epoch_ms(idempotency.expires_at)
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **self._idempotency_key(idempotency.tenant_id, idempotency.key),
                            "doc": _s(idempotency.model_dump_json()),
                            "expires_at_ms": _n(expires),
                            "expires_at_epoch": _n(expires // 1000),
                        },
                        # A record past its window counts as absent (TTL deletes lazily).
                        "ConditionExpression": "attribute_not_exists(pk) OR expires_at_ms < :now",
                        "ExpressionAttributeValues": {":now": _ms(notification.created_at)},
                    }
                }
            )
        notification_index = len(items)
        items.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._notification_item(notification),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        items += [
            {"Put": {"TableName": self._table, "Item": self._delivery_item(delivery)}}
            for delivery in deliveries
        ]
        items += [
            {"Put": {"TableName": self._table, "Item": timer_item(timer)}} for timer in timers
        ]
        window_index = len(items)
        if digest is not None:
            items += self._digest_writes(digest)
        if len(items) == 1:
            try:
                self._db.put_item(**items[0]["Put"])
            except ClientError as error:
                if _failed_condition(error):
                    raise NotificationExists(notification.id) from None
                raise
            return
        try:
            self._transact(items)
        except ClientError as error:
            reasons = _cancel_reasons(error)
            failed = [
                index for index, code in enumerate(reasons) if code == "ConditionalCheckFailed"
            ]
            if idempotency is not None and failed[:1] == [0]:
                raise IdempotencyKeyTaken(idempotency.key) from None
            if failed[:1] == [notification_index]:
                raise NotificationExists(notification.id) from None
            if digest is not None and failed[:1] == [window_index]:
                raise DigestWindowMoved(digest.window.window_id) from None
            raise

    def get_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        response = self._db.get_item(
            TableName=self._table,
            Key=self._idempotency_key(tenant_id, key),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if item is None else IdempotencyRecord.model_validate_json(_doc(item))

    def get_notification(self, tenant_id: str, notification_id: str) -> Notification | None:
        item = self._get(f"T#{tenant_id}#N#{notification_id}", "NOTIFICATION")
        return None if item is None else self._notification(item)

    def list_notifications(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        keep: Callable[[Notification], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Notification]:
        if recipient_id is not None:
            index, partition = GSI_BY_RECIPIENT, f"T#{tenant_id}#R#{recipient_id}#N"
        else:
            index, partition = GSI_BY_TENANT, f"T#{tenant_id}#N"
        return self._page(
            index, partition, limit, cursor, self._notification, newest_first=True, keep=keep
        )

    def list_deliveries(
        self,
        tenant_id: str,
        notification_id: str,
        *,
        keep: Callable[[Delivery], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        return self._page(
            None,
            delivery_pk(tenant_id, notification_id),
            limit,
            cursor,
            self._delivery,
            newest_first=False,
            keep=keep,
        )

    def cancel_notification(self, tenant_id: str, notification_id: str, at: datetime) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_key(f"T#{tenant_id}#N#{notification_id}", "NOTIFICATION"),
            UpdateExpression="SET cancelled_at = if_not_exists(cancelled_at, :at)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":at": _ms(at)},
        )

    def cancel_unsent_deliveries(self, tenant_id: str, notification_id: str, now: datetime) -> int:
        cancelled = 0
        cursor = None
        while True:
            page = self._page(
                None,
                delivery_pk(tenant_id, notification_id),
                100,
                cursor,
                self._delivery,
                newest_first=False,
            )
            for delivery in page.items:
                if not delivery.status.is_final and not _leased(delivery, now):
                    cancelled += self._cancel_delivery(delivery, now)
            cursor = page.next_cursor
            if cursor is None:
                return cancelled

    def _cancel_delivery(self, delivery: Delivery, now: datetime) -> int:
        """1 when the delivery was cancelled, 0 when it moved or was leased meanwhile."""
        updated = cancelled_delivery(delivery)
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": self._delivery_item(updated),
            "ConditionExpression": (
                "st = :previous AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
            ),
            "ExpressionAttributeValues": {
                ":previous": _s(delivery.status.value),
                ":now": _ms(now),
            },
        }
        update = self._count_update(
            delivery.tenant_id,
            delivery.notification_id,
            moves={delivery.status: -1, DeliveryStatus.SKIPPED: 1},
            attempted=0,
            inline=[updated] if updated.inline else [],
        )
        assert update is not None
        try:
            self._transact(
                cast("list[TransactWriteItemTypeDef]", [{"Put": put}, {"Update": update}])
            )
        except ClientError as error:
            if _cancel_reasons(error)[:1] == ["ConditionalCheckFailed"]:
                return 0
            raise
        return 1

    # --- deliveries ---------------------------------------------------------------------------
    def get_delivery(self, key: DeliveryKey) -> Delivery | None:
        response = self._db.get_item(
            TableName=self._table, Key=delivery_item_key(key), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else self._delivery(item)

    def claim(
        self, key: DeliveryKey, *, token: str, now: datetime, until: datetime, sweep_at: datetime
    ) -> Claim | None:
        item_key = delivery_item_key(key)
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=item_key,
                UpdateExpression=(
                    "SET lease_token = :token, lease_until = :until, sweep_at = :sweep, "
                    "sweep_pk = :shard"
                ),
                ConditionExpression=(
                    "st IN (:pending, :retrying) "
                    "AND (attribute_not_exists(next_at) OR next_at <= :now) "
                    "AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
                ),
                ExpressionAttributeValues={
                    ":token": _s(token),
                    ":until": _ms(until),
                    ":sweep": _ms(sweep_at),
                    ":shard": _s(_sweep_shard(item_key["pk"]["S"], item_key["sk"]["S"])),
                    ":pending": _s(DeliveryStatus.PENDING.value),
                    ":retrying": _s(DeliveryStatus.RETRYING.value),
                    ":now": _ms(now),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise
            current = cast("Mapping[str, Any] | None", error.response.get("Item"))
            if current is None:
                return None
            return Claim(self._delivery(current), held=False)
        return Claim(self._delivery(response["Attributes"]), held=True)

    def record(
        self, delivery: Delivery, *, previous: DeliveryStatus, token: str | None, first: bool
    ) -> bool:
        put: dict[str, Any] = {"TableName": self._table, "Item": self._delivery_item(delivery)}
        if token is not None:
            put["ConditionExpression"] = "lease_token = :token"
            put["ExpressionAttributeValues"] = {":token": _s(token)}
        else:
            put["ConditionExpression"] = "st = :previous"
            put["ExpressionAttributeValues"] = {":previous": _s(previous.value)}
        update = self._count_update(
            delivery.tenant_id,
            delivery.notification_id,
            moves={previous: -1, delivery.status: 1} if previous is not delivery.status else {},
            attempted=1 if first else 0,
            inline=[delivery] if delivery.inline else [],
        )
        try:
            if update is None:
                self._db.put_item(**put)
            else:
                self._transact(
                    cast("list[TransactWriteItemTypeDef]", [{"Put": put}, {"Update": update}])
                )
        except ClientError as error:
            if _failed_condition(error) or _cancel_reasons(error)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def reopen(
        self, deliveries: Sequence[Delivery], *, now: datetime, sweep_at: datetime
    ) -> list[Delivery]:
        candidates = [d for d in deliveries if d.status is DeliveryStatus.FAILED]
        while candidates:
            reopened = []
            for delivery in candidates:
                fresh = delivery.model_copy()
                fresh.status = DeliveryStatus.PENDING
                fresh.budget_attempts = 0
                fresh.failed_at = None
                fresh.next_attempt_at = None
                fresh.lease_token = None
                fresh.lease_until = None
                fresh.sweep_at = sweep_at
                fresh.sweeps = 0
                reopened.append(fresh)
            items: list[TransactWriteItemTypeDef] = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._delivery_item(delivery),
                        "ConditionExpression": "st = :failed",
                        "ExpressionAttributeValues": {":failed": _s(DeliveryStatus.FAILED.value)},
                    }
                }
                for delivery in reopened
            ]
            first = reopened[0]
            update = self._count_update(
                first.tenant_id,
                first.notification_id,
                moves={
                    DeliveryStatus.FAILED: -len(reopened),
                    DeliveryStatus.PENDING: len(reopened),
                },
                attempted=0,
                inline=[delivery for delivery in reopened if delivery.inline],
            )
            assert update is not None
            items.append({"Update": update})  # type: ignore[typeddict-item]
            # Leave out those no longer failed, and try the rest again.
            held = self._transact_or_held(items, candidates)
            if held is not None:
                candidates = held
                continue
            return reopened
        return []

    def bump_sweep(self, delivery: Delivery, *, sweep_at: datetime) -> bool:
        values: Item = {":new": _ms(sweep_at), ":one": _n(1), ":st": _s(delivery.status.value)}
        condition = "st = :st AND "
        if delivery.sweep_at is None:
            condition += "attribute_not_exists(sweep_at)"
        else:
            condition += "sweep_at = :old"
            values[":old"] = _ms(delivery.sweep_at)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=delivery_item_key(delivery.key),
                UpdateExpression="SET sweep_at = :new ADD sweeps :one",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    # --- fan-out ------------------------------------------------------------------------------
    def begin_page(self, notification: Notification) -> bool:
        fanout = notification.fanout or Fanout()
        return self._update_fanout(
            notification,
            "SET fo_writing = :start",
            {":start": _s(fanout.cursor or "")},
        )

    def existing_deliveries(self, keys: Sequence[DeliveryKey]) -> dict[DeliveryKey, Delivery]:
        found = [
            self._delivery(item)
            for item in self._batch_get([delivery_item_key(key) for key in keys])
        ]
        return {delivery.key: delivery for delivery in found}

    def put_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        requests = [
            {"PutRequest": {"Item": self._delivery_item(delivery)}} for delivery in deliveries
        ]
        for start in range(0, len(requests), BATCH_WRITE):
            self._batch_write(requests[start : start + BATCH_WRITE])

    def checkpoint_page(
        self,
        notification: Notification,
        *,
        cursor: str | None,
        counts: Counts,
        recipients: int,
        done: bool,
        sweep_at: datetime | None,
    ) -> bool:
        sets = ["fo_done = :done"]
        removes = ["fo_writing"]
        values: Item = {":done": {"BOOL": done}, ":recipients": _n(recipients), ":one": _n(1)}
        adds = ["n_recipients :recipients", "fo_pages :one"]
        for status in _COUNTED:
            if counts.of(status):
                adds.append(f"n_{status.value} :{status.value}")
                values[f":{status.value}"] = _n(counts.of(status))
        if cursor is None:
            removes.append("fo_cursor")
        else:
            sets.append("fo_cursor = :cursor")
            values[":cursor"] = _s(cursor)
        if sweep_at is None:
            removes += ["sweep_pk", "sweep_at"]
        else:
            sets += ["sweep_at = :sweep", "sweeps = :zero"]
            values[":sweep"] = _ms(sweep_at)
            values[":zero"] = _n(0)
        start = (notification.fanout or Fanout()).cursor or ""
        values[":start"] = _s(start)
        update = f"SET {', '.join(sets)} REMOVE {', '.join(removes)} ADD {', '.join(adds)}"
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(f"T#{notification.tenant_id}#N#{notification.id}", "NOTIFICATION"),
                UpdateExpression=update,
                ConditionExpression="fo_writing = :start AND fo_done = :false",
                ExpressionAttributeValues={**values, ":false": {"BOOL": False}},
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    def fail_fanout(self, notification: Notification, error: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_key(f"T#{notification.tenant_id}#N#{notification.id}", "NOTIFICATION"),
            UpdateExpression="SET fo_error = :error REMOVE sweep_pk, sweep_at",
            ExpressionAttributeValues={":error": _s(error)},
        )

    def bump_notification_sweep(self, notification: Notification, *, sweep_at: datetime) -> bool:
        values: Item = {":new": _ms(sweep_at), ":one": _n(1)}
        condition = "attribute_not_exists(sweep_at)"
        if notification.sweep_at is not None:
            condition = "sweep_at = :old"
            values[":old"] = _ms(notification.sweep_at)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(f"T#{notification.tenant_id}#N#{notification.id}", "NOTIFICATION"),
                UpdateExpression="SET sweep_at = :new ADD sweeps :one",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    def _update_fanout(self, notification: Notification, update: str, values: Item) -> bool:
        fanout = notification.fanout or Fanout()
        condition = "fo_done = :false AND attribute_not_exists(fo_error) AND "
        if fanout.cursor is None:
            condition += "attribute_not_exists(fo_cursor)"
        else:
            condition += "fo_cursor = :cursor"
            values = {**values, ":cursor": _s(fanout.cursor)}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(f"T#{notification.tenant_id}#N#{notification.id}", "NOTIFICATION"),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues={**values, ":false": {"BOOL": False}},
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    # --- sweep --------------------------------------------------------------------------------
    def due_for_sweep(self, now: datetime, limit: int) -> list[Swept]:
        due: list[Swept] = []
        for shard in range(SWEEP_SHARDS):
            response = self._db.query(
                TableName=self._table,
                IndexName=GSI_SWEEP,
                KeyConditionExpression="sweep_pk = :shard AND sweep_at <= :now",
                ExpressionAttributeValues={":shard": _s(f"SWEEP#{shard}"), ":now": _ms(now)},
                Limit=limit,
            )
            for key in response.get("Items", []):
                swept = self._swept(key["pk"]["S"], key["sk"]["S"])
                if swept is not None:
                    due.append(swept)
            if len(due) >= limit:
                break
        return due[:limit]

    @staticmethod
    def _swept(pk: str, sk: str) -> Swept | None:
        parts = pk.split("#")
        if len(parts) == 4 and parts[0] == "T" and parts[2] == "N" and sk == "NOTIFICATION":
            return Swept(notification=(parts[1], parts[3]))
        if len(parts) == 5 and parts[0] == "T" and parts[2] == "N" and parts[4] == "D":
            recipient_id, _, channel = sk.rpartition("#")
            try:
                return Swept(
                    delivery=DeliveryKey(parts[1], parts[3], recipient_id, Channel(channel))
                )
            except ValueError:
                return None
        return None

    # --- inbox --------------------------------------------------------------------------------
    def list_inbox(
        self,
        tenant_id: str,
        recipient_id: str,
        *,
        since_id: str,
        unread_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[InboxItem]:
        if unread_only:
            index, partition = GSI_BY_TENANT, f"T#{tenant_id}#R#{recipient_id}#UNREAD"
        else:
            index, partition = GSI_BY_RECIPIENT, f"T#{tenant_id}#R#{recipient_id}#INBOX"
        page = self._page(
            index, partition, limit, cursor, self._delivery, newest_first=True, since=since_id
        )
        notifications = {
            notification.id: notification
            for notification in (
                self._notification(item)
                for item in self._batch_get(
                    [
                        _key(f"T#{tenant_id}#N#{nid}", "NOTIFICATION")
                        for nid in dict.fromkeys(d.notification_id for d in page.items)
                    ]
                )
            )
        }
        items = [
            InboxItem(
                tenant_id=tenant_id,
                recipient_id=recipient_id,
                notification_id=delivery.notification_id,
                # A recipient's own rendering of a topic notification's template, if any.
                content=delivery.content or notifications[delivery.notification_id].content,
                created_at=delivery.created_at
                or notifications[delivery.notification_id].created_at,
                read_at=delivery.read_at,
            )
            for delivery in page.items
            if delivery.notification_id in notifications
        ]
        return Page(items, page.next_cursor)

    def mark_read(
        self, tenant_id: str, recipient_id: str, notification_id: str, at: datetime
    ) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=delivery_item_key(
                    DeliveryKey(tenant_id, notification_id, recipient_id, Channel.INBOX)
                ),
                UpdateExpression="SET read_at = if_not_exists(read_at, :at) REMOVE gsi1pk, gsi1sk",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": _ms(at)},
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    # --- dead letters -------------------------------------------------------------------------
    def list_dead_letters(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[DeadLetter]:
        return self._page(
            GSI_BY_TENANT,
            f"T#{tenant_id}#DL",
            limit,
            cursor,
            self._dead_letter,
            newest_first=True,
        )

    def _dead_letter(self, item: Mapping[str, Any]) -> DeadLetter:
        delivery = self._delivery(item)
        assert delivery.failed_at is not None
        return DeadLetter(
            tenant_id=delivery.tenant_id,
            notification_id=delivery.notification_id,
            channel=delivery.channel,
            recipient_id=delivery.recipient_id,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            failed_at=delivery.failed_at,
        )

    # --- scheduled and cancelled deliveries ------------------------------------------------------
    def move(
        self, changes: Sequence[tuple[Delivery, Delivery]], *, now: datetime
    ) -> list[Delivery]:
        moved: list[Delivery] = []
        for start in range(0, len(changes), MOVES_PER_TRANSACTION):
            moved += self._move_chunk(list(changes[start : start + MOVES_PER_TRANSACTION]), now)
        return moved

    def _move_chunk(
        self, changes: list[tuple[Delivery, Delivery]], now: datetime
    ) -> list[Delivery]:
        while changes:
            items: list[TransactWriteItemTypeDef] = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._delivery_item(after),
                        "ConditionExpression": (
                            "st = :before AND att = :attempts AND "
                            "(attribute_not_exists(lease_until) OR lease_until <= :now)"
                        ),
                        "ExpressionAttributeValues": {
                            ":before": _s(before.status.value),
                            ":attempts": _n(before.attempts),
                            ":now": _ms(now),
                        },
                    }
                }
                for before, after in changes
            ]
            moves: dict[DeliveryStatus, int] = {}
            for before, after in changes:
                moves[before.status] = moves.get(before.status, 0) - 1
                moves[after.status] = moves.get(after.status, 0) + 1
            first = changes[0][1]
            update = self._count_update(
                first.tenant_id,
                first.notification_id,
                moves=moves,
                attempted=0,
                inline=[after for _, after in changes if after.inline],
            )
            if update is not None:
                items.append({"Update": update})  # type: ignore[typeddict-item]
            # Leave out those that moved meanwhile, and try the rest again.
            held = self._transact_or_held(items, changes)
            if held is not None:
                changes = held
                continue
            return [after for _, after in changes]
        return []

    def _transact_or_held[S](
        self, items: Sequence[TransactWriteItemTypeDef], subjects: list[S]
    ) -> list[S] | None:
        """Writes the transaction whose first items are the subjects' conditional writes: None
        once it commits; else the subjects whose condition held (the others changed meanwhile),
        for the caller to try again."""
        try:
            self._transact(items)
        except ClientError as error:
            reasons = _cancel_reasons(error)
            if "ConditionalCheckFailed" not in reasons:
                raise
            return [
                subject
                for subject, reason in zip(subjects, reasons, strict=False)
                if reason != "ConditionalCheckFailed"
            ]
        return None

    def get_deliveries(self, keys: Sequence[DeliveryKey]) -> list[Delivery]:
        items = self._batch_get([delivery_item_key(key) for key in dict.fromkeys(keys)])
        return [self._delivery(item) for item in items]

    # --- timers -------------------------------------------------------------------------------
    def put_timers(self, timers: Sequence[Timer]) -> None:
        requests = [{"PutRequest": {"Item": timer_item(timer)}} for timer in timers]
        for start in range(0, len(requests), BATCH_WRITE):
            self._batch_write(requests[start : start + BATCH_WRITE])

    def delete_timer(self, timer: Timer) -> None:
        self._db.delete_item(TableName=self._table, Key=timer_key(timer))

    def due_timers(self, *, until: datetime, now: datetime, limit: int) -> list[Timer]:
        """Walks the minute buckets from the stored cursor to ``until``'s. The cursor moves
        past a bucket once it is empty and settled (no timer can be written into it any more:
        each is written due after its writer's clock, and a writer is never that late)."""
        cursor = self._get(*TIMER_CURSOR)
        settled = timer_bucket(now - TIMER_SETTLE)
        start = int(cursor["bucket"]["N"]) if cursor is not None else settled
        last = min(timer_bucket(until), start + MAX_TIMER_BUCKETS)
        found: list[Timer] = []
        advance_to = start
        empty_so_far = True
        for bucket in range(start, last + 1):
            seen = False
            for shard in range(TIMER_SHARDS):
                response = self._db.query(
                    TableName=self._table,
                    KeyConditionExpression="pk = :bucket AND sk <= :until",
                    ExpressionAttributeValues={
                        ":bucket": _s(f"TIMER#{bucket}#{shard}"),
                        ":until": _s(f"{epoch_ms(until):013d}~"),
                    },
                    ConsistentRead=True,
                    Limit=limit,
                )
                rows = response.get("Items", [])
                seen = seen or bool(rows) or "LastEvaluatedKey" in response
                found += [
                    timer
                    for row in rows
                    if (timer := self._parsed(lambda r: Timer.model_validate_json(_doc(r)), row))
                    is not None
                ]
            if empty_so_far and not seen and bucket < settled:
                advance_to = bucket + 1
            else:
                empty_so_far = False
            if len(found) >= limit:
                break
        if cursor is None or advance_to > start:
            self._advance_timer_cursor(advance_to)
        return sorted(found, key=lambda timer: timer.due)[:limit]

    def _advance_timer_cursor(self, to: int) -> None:
        condition = "attribute_not_exists(#bucket) OR #bucket < :to"
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(*TIMER_CURSOR),
                UpdateExpression="SET #bucket = :to",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#bucket": "bucket"},
                ExpressionAttributeValues={":to": _n(to)},
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise  # another scan moved it further: fine

    # --- digests ------------------------------------------------------------------------------
    @staticmethod
    def _window_key(tenant_id: str, recipient_id: str, key: str) -> Item:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return _key(f"T#{tenant_id}#R#{recipient_id}#DGW#{digest}", "DIGEST")

    def _digest_writes(self, join: DigestJoin) -> list[TransactWriteItemTypeDef]:
        window, entry = join.window, join.entry
        key = self._window_key(window.tenant_id, window.recipient_id, window.key)
        window_write: dict[str, Any]
        if join.opens:
            put: dict[str, Any] = {
                "TableName": self._table,
                "Item": {
                    **key,
                    "doc": _s(window.model_dump_json(exclude={"closed", "items"})),
                    "wid": _s(window.window_id),
                    "closed": {"BOOL": False},
                    "n": _n(1),
                },
            }
            if join.replaces is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "wid = :replaced"
                put["ExpressionAttributeValues"] = {":replaced": _s(join.replaces)}
            window_write = {"Put": put}
        else:
            window_write = {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": "ADD n :one",
                    "ConditionExpression": "wid = :wid AND closed = :false AND n < :max",
                    "ExpressionAttributeValues": {
                        ":one": _n(1),
                        ":wid": _s(window.window_id),
                        ":false": {"BOOL": False},
                        ":max": _n(join.max_items),
                    },
                }
            }
        entry_write = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **_key(
                        digest_entries_pk(entry.tenant_id, entry.window_id), entry.notification_id
                    ),
                    "doc": _s(entry.model_dump_json()),
                },
            }
        }
        return cast("list[TransactWriteItemTypeDef]", [window_write, entry_write])

    def get_digest_window(self, tenant_id: str, recipient_id: str, key: str) -> DigestWindow | None:
        key_item = self._window_key(tenant_id, recipient_id, key)
        item = self._get(key_item["pk"]["S"], key_item["sk"]["S"])
        if item is None:
            return None
        window = DigestWindow.model_validate_json(_doc(item))
        window.window_id = item["wid"]["S"]
        window.closed = bool(item["closed"]["BOOL"])
        window.items = int(item["n"]["N"])
        return window

    def close_digest_window(
        self, tenant_id: str, recipient_id: str, key: str, window_id: str
    ) -> None:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._window_key(tenant_id, recipient_id, key),
                UpdateExpression="SET closed = :true",
                ConditionExpression="wid = :wid",
                ExpressionAttributeValues={":true": {"BOOL": True}, ":wid": _s(window_id)},
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise  # replaced by a newer window: closed already

    def digest_entries(self, tenant_id: str, window_id: str) -> list[DigestEntry]:
        entries: list[DigestEntry] = []
        start: Item | None = None
        while True:
            query: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(digest_entries_pk(tenant_id, window_id))},
                "ConsistentRead": True,
            }
            if start is not None:
                query["ExclusiveStartKey"] = start
            response = self._db.query(**query)
            entries += [DigestEntry.model_validate_json(_doc(row)) for row in response["Items"]]
            start = response.get("LastEvaluatedKey")
            if start is None:
                return entries

    # --- preferences and templates ------------------------------------------------------------
    def get_tenant_preferences(self, tenant_id: str) -> TenantPreferences | None:
        item = self._get(f"T#{tenant_id}#PREFERENCES", "PREFERENCES")
        return None if item is None else TenantPreferences.model_validate_json(_doc(item))

    def put_tenant_preferences(self, tenant_id: str, preferences: TenantPreferences) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(f"T#{tenant_id}#PREFERENCES", "PREFERENCES"),
                "doc": _s(preferences.model_dump_json()),
            },
        )

    def put_recipient_preferences(
        self, tenant_id: str, recipient_id: str, preferences: RecipientPreferences
    ) -> bool:
        return (
            self._update_recipient(
                tenant_id,
                recipient_id,
                "SET prefs = :prefs",
                "attribute_exists(pk)",
                {":prefs": _s(preferences.model_dump_json())},
            )
            is not None
        )

    def put_template(self, template: Template) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(f"T#{template.tenant_id}#TEMPLATES", template.name),
                "doc": _s(template.model_dump_json()),
            },
        )

    def get_template(self, tenant_id: str, name: str) -> Template | None:
        item = self._get(f"T#{tenant_id}#TEMPLATES", name)
        return None if item is None else Template.model_validate_json(_doc(item))

    def delete_template(self, tenant_id: str, name: str) -> bool:
        return self._delete(f"T#{tenant_id}#TEMPLATES", name)

    def list_templates(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Template]:
        return self._page(
            None,
            f"T#{tenant_id}#TEMPLATES",
            limit,
            cursor,
            lambda item: Template.model_validate_json(_doc(item)),
            newest_first=False,
        )

    # --- item shapes --------------------------------------------------------------------------
    @staticmethod
    def _idempotency_key(tenant_id: str, key: str) -> Item:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return _key(f"T#{tenant_id}#IK#{digest}", "IDEMPOTENCY")

    @staticmethod
    def _notification_item(notification: Notification) -> Item:
        tenant, nid = notification.tenant_id, notification.id
        pk = f"T#{tenant}#N#{nid}"
        item: Item = {
            **_key(pk, "NOTIFICATION"),
            "doc": _s(
                notification.model_dump_json(
                    include={
                        "tenant_id",
                        "id",
                        "created_at",
                        "recipient_id",
                        "topic",
                        "channels",
                        "content",
                        "idempotency_key",
                        "deliver_at",
                        "template",
                        "template_parts",
                        "digest",
                        "digest_of",
                    }
                )
            ),
            "n_recipients": _n(notification.recipients),
            "n_attempted": _n(notification.attempted),
            "gsi1pk": _s(f"T#{tenant}#N"),
            "gsi1sk": _s(nid),
        }
        for status in _COUNTED:
            item[f"n_{status.value}"] = _n(notification.counts.of(status))
        if notification.recipient_id is not None:
            item["gsi2pk"] = _s(f"T#{tenant}#R#{notification.recipient_id}#N")
            item["gsi2sk"] = _s(nid)
        if notification.deliveries is not None:
            item["dlv"] = {
                "M": {d.channel.value: _s(_public_delivery(d)) for d in notification.deliveries}
            }
        if notification.fanout is not None:
            item["fo_done"] = {"BOOL": notification.fanout.done}
        if notification.sweep_at is not None:
            item["sweep_pk"] = _s(_sweep_shard(pk, "NOTIFICATION"))
            item["sweep_at"] = _ms(notification.sweep_at)
        return item

    @staticmethod
    def _notification(item: Mapping[str, Any]) -> Notification:
        notification = Notification.model_validate_json(_doc(item))
        counts = {
            status.value: int(item[f"n_{status.value}"]["N"])
            for status in _COUNTED
            if f"n_{status.value}" in item
        }
        notification.counts = Counts(**counts)
        notification.recipients = int(item.get("n_recipients", {"N": "0"})["N"])
        notification.attempted = int(item.get("n_attempted", {"N": "0"})["N"])
        if "dlv" in item:
            notification.deliveries = sorted(
                (Delivery.model_validate_json(value["S"]) for value in item["dlv"]["M"].values()),
                key=lambda d: list(Channel).index(d.channel),
            )
        if "fo_done" in item:
            notification.fanout = Fanout(
                cursor=item["fo_cursor"]["S"] if "fo_cursor" in item else None,
                writing=item["fo_writing"]["S"] if "fo_writing" in item else None,
                done=bool(item["fo_done"]["BOOL"]),
                pages=int(item.get("fo_pages", {"N": "0"})["N"]),
                error=item["fo_error"]["S"] if "fo_error" in item else None,
            )
        if "cancelled_at" in item:
            notification.cancelled_at = from_ms(item["cancelled_at"]["N"])
        if "sweep_at" in item:
            notification.sweep_at = from_ms(item["sweep_at"]["N"])
        notification.sweeps = int(item.get("sweeps", {"N": "0"})["N"])
        return notification

    @staticmethod
    def _delivery_item(delivery: Delivery) -> Item:
        key = delivery.key
        item_key = delivery_item_key(key)
        tenant, rid = delivery.tenant_id, delivery.recipient_id
        item: Item = {
            **item_key,
            "tid": _s(tenant),
            "nid": _s(delivery.notification_id),
            "rid": _s(rid),
            "ch": _s(delivery.channel.value),
            "st": _s(delivery.status.value),
            "att": _n(delivery.attempts),
            "batt": _n(delivery.budget_attempts),
            "sweeps": _n(delivery.sweeps),
        }
        texts = {
            "reason": delivery.reason.value if delivery.reason else None,
            "err": delivery.last_error,
            "addr": delivery.address,
            "whid": delivery.webhook_id,
            "lease_token": delivery.lease_token,
        }
        times = {
            "delivered_at": delivery.delivered_at,
            "failed_at": delivery.failed_at,
            "next_at": delivery.next_attempt_at,
            "lease_until": delivery.lease_until,
            "created_at": delivery.created_at,
            "read_at": delivery.read_at,
            "sweep_at": delivery.sweep_at,
        }
        item.update({name: _s(value) for name, value in texts.items() if value is not None})
        item.update({name: _ms(value) for name, value in times.items() if value is not None})
        if delivery.attempt_log:
            item["log"] = _s(_attempt_log_adapter.dump_json(delivery.attempt_log).decode())
        if delivery.targets is not None:
            item["tgts"] = _s(json.dumps(delivery.targets))
        if delivery.targets_reached:
            item["treached"] = _n(delivery.targets_reached)
        if delivery.planned is not None:
            item["pst"] = _s(delivery.planned.value)
        if delivery.content is not None:
            item["cnt"] = _s(delivery.content.model_dump_json())
        if delivery.endpoint_failing:
            item["efail"] = {"BOOL": True}
        if delivery.inline:
            item["inl"] = {"BOOL": True}
        if delivery.sweep_at is not None:
            item["sweep_pk"] = _s(_sweep_shard(item_key["pk"]["S"], item_key["sk"]["S"]))
        nid = delivery.notification_id
        if delivery.channel is Channel.INBOX and delivery.status is DeliveryStatus.DELIVERED:
            item["gsi2pk"] = _s(f"T#{tenant}#R#{rid}#INBOX")
            item["gsi2sk"] = _s(nid)
            if delivery.read_at is None:
                item["gsi1pk"] = _s(f"T#{tenant}#R#{rid}#UNREAD")
                item["gsi1sk"] = _s(nid)
        elif delivery.status is DeliveryStatus.FAILED and delivery.failed_at is not None:
            item["gsi1pk"] = _s(f"T#{tenant}#DL")
            item["gsi1sk"] = _s(
                f"{epoch_ms(delivery.failed_at):013d}#{nid}#{delivery.channel.value}#{rid}"
            )
        elif (
            delivery.channel is Channel.WEBHOOK
            and delivery.status is DeliveryStatus.DELIVERED
            and delivery.delivered_at is not None
        ):
            item["gsi2pk"] = _s(f"T#{tenant}#R#{rid}#WHOK")
            item["gsi2sk"] = _s(f"{epoch_ms(delivery.delivered_at):013d}#{nid}")
        return item

    @staticmethod
    def _delivery(item: Mapping[str, Any]) -> Delivery:
        def text(name: str) -> str | None:
            return item[name]["S"] if name in item else None

        def moment(name: str) -> datetime | None:
            return from_ms(item[name]["N"]) if name in item else None

        reason = text("reason")
        planned = text("pst")
        content = text("cnt")
        return Delivery(
            tenant_id=item["tid"]["S"],
            notification_id=item["nid"]["S"],
            recipient_id=item["rid"]["S"],
            channel=Channel(item["ch"]["S"]),
            status=DeliveryStatus(item["st"]["S"]),
            reason=Reason(reason) if reason else None,
            attempts=int(item["att"]["N"]),
            budget_attempts=int(item["batt"]["N"]),
            last_error=text("err"),
            address=text("addr"),
            targets=json.loads(item["tgts"]["S"]) if "tgts" in item else None,
            targets_reached=int(item.get("treached", {"N": "0"})["N"]),
            webhook_id=text("whid"),
            lease_token=text("lease_token"),
            delivered_at=moment("delivered_at"),
            failed_at=moment("failed_at"),
            next_attempt_at=moment("next_at"),
            lease_until=moment("lease_until"),
            created_at=moment("created_at"),
            read_at=moment("read_at"),
            sweep_at=moment("sweep_at"),
            sweeps=int(item.get("sweeps", {"N": "0"})["N"]),
            endpoint_failing="efail" in item,
            inline="inl" in item,
            attempt_log=_attempt_log_adapter.validate_json(item["log"]["S"])
            if "log" in item
            else [],
            planned=DeliveryStatus(planned) if planned else None,
            content=Content.model_validate_json(content) if content else None,
        )

    def _count_update(
        self,
        tenant_id: str,
        notification_id: str,
        *,
        moves: Mapping[DeliveryStatus, int],
        attempted: int,
        inline: Sequence[Delivery],
    ) -> dict[str, Any] | None:
        """The notification's side of a delivery write: its counts moved, and the copies of
        its one recipient's deliveries; None when nothing changes."""
        adds = []
        sets = []
        values: dict[str, Any] = {}
        names: dict[str, str] = {}
        for status, change in moves.items():
            if change:
                adds.append(f"n_{status.value} :{status.value}")
                values[f":{status.value}"] = _n(change)
        if attempted:
            adds.append("n_attempted :attempted")
            values[":attempted"] = _n(attempted)
        for index, delivery in enumerate(inline):
            names[f"#ch{index}"] = delivery.channel.value
            sets.append(f"dlv.#ch{index} = :inline{index}")
            values[f":inline{index}"] = _s(_public_delivery(delivery))
        if not adds and not sets:
            return None
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"ADD {', '.join(adds)}" if adds else "",
            )
            if part
        )
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(f"T#{tenant_id}#N#{notification_id}", "NOTIFICATION"),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return update

    # --- plumbing -----------------------------------------------------------------------------
    def _get(self, pk: str, sk: str) -> Item | None:
        response = self._db.get_item(TableName=self._table, Key=_key(pk, sk), ConsistentRead=True)
        return response.get("Item")

    def _delete(self, pk: str, sk: str) -> bool:
        response = self._db.delete_item(
            TableName=self._table, Key=_key(pk, sk), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response

    def _transact(self, items: Sequence[TransactWriteItemTypeDef]) -> None:
        """A transaction, tried again when it collided with another one on the same items
        (DynamoDB cancels both sides of such a conflict)."""
        for attempt in range(MAX_TRANSACTION_TRIES):
            try:
                self._db.transact_write_items(TransactItems=list(items))
                return
            except ClientError as error:
                reasons = _cancel_reasons(error)
                conflict = _error_code(error) == "TransactionConflictException" or (
                    "TransactionConflict" in reasons and "ConditionalCheckFailed" not in reasons
                )
                if not conflict or attempt == MAX_TRANSACTION_TRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))

    def _batch_get(self, keys: Sequence[Item]) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET):
            pending: list[Item] = list(keys[start : start + BATCH_GET])
            for attempt in range(MAX_TRANSACTION_TRIES):
                if not pending:
                    break
                response: Any = self._db.batch_get_item(
                    RequestItems={self._table: {"Keys": pending, "ConsistentRead": True}}
                )
                found += response.get("Responses", {}).get(self._table, [])
                pending = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if pending:
                    time.sleep(random.uniform(0, 0.02 * 2**attempt))
            if pending:
                raise RuntimeError(f"{len(pending)} keys left unread after retries")
        return found

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """One BatchWriteItem, with what DynamoDB leaves unprocessed (throttling) written again
        after a growing, jittered pause."""
        pending = requests
        for attempt in range(MAX_TRANSACTION_TRIES):
            response = self._db.batch_write_item(RequestItems={self._table: pending})  # type: ignore[dict-item]
            pending = response.get("UnprocessedItems", {}).get(self._table, [])  # type: ignore[assignment]
            if not pending:
                return
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise RuntimeError(f"{len(pending)} items left unwritten after retries")

    def _page[T](
        self,
        index: str | None,
        partition: str,
        limit: int,
        cursor: str | None,
        parse: Callable[[Mapping[str, Any]], T],
        *,
        newest_first: bool,
        since: str | None = None,
        keep: Callable[[T], bool] | None = None,
    ) -> Page[T]:
        """One page of ``limit`` items and a cursor when more may exist; ``since`` bounds the
        sort key from below. With ``keep``, pages may come back short: this reads on until the
        page is full, but at most MAX_READS_PER_PAGE reads, then answers with what it found and
        a cursor to go on from (a rare status must not make one request read a whole tenant)."""
        pk_name, sk_name = _INDEX_KEYS[index]
        names = {"pk", "sk", pk_name, sk_name}
        start = (
            None if cursor is None else _Cursor.decode(cursor, sorted(names), (pk_name, partition))
        )
        condition = f"{pk_name} = :partition"
        values: Item = {":partition": _s(partition)}
        if since is not None:
            condition += f" AND {sk_name} >= :since"
            values[":since"] = _s(since)
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if index is not None:
            query["IndexName"] = index
        else:
            query["ConsistentRead"] = True
        kept: list[tuple[Mapping[str, Any], T]] = []
        for _ in range(MAX_READS_PER_PAGE):
            page_query = {**query, "Limit": 100 if keep else limit + 1}
            if start is not None:
                page_query["ExclusiveStartKey"] = start
            try:
                response = self._db.query(**page_query)
            except ClientError as error:
                if _error_code(error) == "ValidationException" and cursor:
                    raise InvalidCursor("cursor does not fit this list") from None
                raise
            rows = response.get("Items", [])
            items = rows if index is None else self._items_of(rows)
            for row, item in zip(rows, items, strict=True):
                parsed = None if item is None else self._parsed(parse, item)
                if parsed is not None and (keep is None or keep(parsed)):
                    kept.append((row, parsed))
            start = response.get("LastEvaluatedKey")
            if start is None or len(kept) > limit:
                break
        if len(kept) > limit:
            kept = kept[:limit]
            last = kept[-1][0]
            return Page(
                [parsed for _, parsed in kept],
                _Cursor.encode({name: last[name] for name in names}),
            )
        next_cursor = None if start is None else _Cursor.encode(start)
        return Page([parsed for _, parsed in kept], next_cursor)

    def _items_of(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        """The items that an index's keys name, in the index's order (the indexes project keys
        only); None for one deleted meanwhile."""
        found = {
            (item["pk"]["S"], item["sk"]["S"]): item
            for item in self._batch_get([_key(row["pk"]["S"], row["sk"]["S"]) for row in rows])
        }
        return [found.get((row["pk"]["S"], row["sk"]["S"])) for row in rows]

    @staticmethod
    def _parsed[T](parse: Callable[[Mapping[str, Any]], T], row: Mapping[str, Any]) -> T | None:
        try:
            return parse(row)
        except (ValidationError, KeyError, ValueError):
            # One unreadable item must not stop a list for every other one.
            log.exception("skipping unreadable item %s", row.get("pk", {}).get("S"))
            return None
