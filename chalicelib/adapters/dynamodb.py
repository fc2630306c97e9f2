"""Every store port on one DynamoDB table (single-table design).

Items keep their model as JSON in ``doc``; key, index and condition attributes sit beside it.

| item          | pk                       | sk                   | indexes                              |
|---------------|--------------------------|----------------------|--------------------------------------|
| tenant        | TENANT#{t}               | TENANT               |                                      |
| API key       | APIKEY#{prefix}          | APIKEY               |                                      |
| recipient     | T#{t}#R#{r}              | RECIPIENT            |                                      |
| notification  | T#{t}#N#{id}             | NOTIFICATION         | gsi1 by tenant, gsi2 by recipient,   |
|               |                          |                      | sweep (sparse, while open)           |
| idempotency   | T#{t}#IK#{sha256(key)}   | IDEMPOTENCY          | TTL expires_at_epoch                 |
| inbox item    | T#{t}#R#{r}#INBOX        | {id}                 | gsi1 unread (sparse)                 |
| dead letter   | T#{t}#DL                 | {failed ms}#{id}#... |                                      |
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from chalicelib.models.common import NotificationStatus
from chalicelib.models.stored import (
    ApiKeyRecord,
    DeadLetter,
    IdempotencyRecord,
    InboxItem,
    Notification,
    Recipient,
    Tenant,
)
from chalicelib.ports import IdempotencyKeyTaken, InvalidCursor, Page, VersionConflict

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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INDEX_KEYS = {
    None: ("pk", "sk"),
    GSI_BY_TENANT: ("gsi1pk", "gsi1sk"),
    GSI_BY_RECIPIENT: ("gsi2pk", "gsi2sk"),
}


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _key(pk: str, sk: str) -> Item:
    return {"pk": _s(pk), "sk": _s(sk)}


def _doc(item: Mapping[str, Any]) -> str:
    doc: str = item["doc"]["S"]
    return doc


def _failed_condition(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _cancel_reasons(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [reason.get("Code", "") for reason in reasons]


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
            Item={**_key(f"APIKEY#{record.prefix}", "APIKEY"), "doc": _s(record.model_dump_json())},
        )

    def get_api_key(self, prefix: str) -> ApiKeyRecord | None:
        item = self._get(f"APIKEY#{prefix}", "APIKEY")
        return None if item is None else ApiKeyRecord.model_validate_json(_doc(item))

    def delete_api_key(self, prefix: str) -> bool:
        return self._delete(f"APIKEY#{prefix}", "APIKEY")

    # --- recipients ---------------------------------------------------------------------------
    def get_recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None:
        item = self._get(f"T#{tenant_id}#R#{recipient_id}", "RECIPIENT")
        return None if item is None else Recipient.model_validate_json(_doc(item))

    def put_recipient(self, recipient: Recipient) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(f"T#{recipient.tenant_id}#R#{recipient.recipient_id}", "RECIPIENT"),
                "doc": _s(recipient.model_dump_json()),
            },
        )

    def delete_recipient(self, tenant_id: str, recipient_id: str) -> bool:
        return self._delete(f"T#{tenant_id}#R#{recipient_id}", "RECIPIENT")

    # --- notifications ------------------------------------------------------------------------
    def create_notification(
        self, notification: Notification, idempotency: IdempotencyRecord | None
    ) -> None:
        notification.version = 1
        put_notification = {
            "TableName": self._table,
            "Item": self._notification_item(notification),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if idempotency is None:
            self._db.put_item(**put_notification)  # type: ignore[arg-type]
            return
        expires = epoch_ms(idempotency.expires_at)
        try:
            self._db.transact_write_items(
                TransactItems=[
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
                            "ExpressionAttributeValues": {
                                ":now": _n(epoch_ms(notification.created_at))
                            },
                        }
                    },
                    {"Put": put_notification},  # type: ignore[typeddict-item]
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = _cancel_reasons(error)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise IdempotencyKeyTaken(idempotency.key) from None
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

    def save_notification(
        self,
        notification: Notification,
        *,
        add_dead_letters: Sequence[DeadLetter] = (),
        remove_dead_letters: Sequence[DeadLetter] = (),
    ) -> None:
        expected = notification.version
        notification.version = expected + 1
        put = {
            "TableName": self._table,
            "Item": self._notification_item(notification),
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": _n(expected)},
        }
        try:
            if not add_dead_letters and not remove_dead_letters:
                self._db.put_item(**put)  # type: ignore[arg-type]
                return
            items: list[TransactWriteItemTypeDef] = [{"Put": put}]  # type: ignore[typeddict-item]
            items += [
                {"Put": {"TableName": self._table, "Item": self._dead_letter_item(letter)}}
                for letter in add_dead_letters
            ]
            items += [
                {"Delete": {"TableName": self._table, "Key": self._dead_letter_key(letter)}}
                for letter in remove_dead_letters
            ]
            self._db.transact_write_items(TransactItems=items)
        except ClientError as error:
            notification.version = expected
            code = error.response.get("Error", {}).get("Code")
            if _failed_condition(error) or (
                code == "TransactionCanceledException"
                and _cancel_reasons(error)[:1] == ["ConditionalCheckFailed"]
            ):
                raise VersionConflict(notification.id) from None
            raise

    def list_notifications(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        status: NotificationStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Notification]:
        if recipient_id is not None:
            index, partition = GSI_BY_RECIPIENT, f"T#{tenant_id}#R#{recipient_id}#N"
        else:
            index, partition = GSI_BY_TENANT, f"T#{tenant_id}#N"
        filters: dict[str, Any] = {}
        if status is not None:
            filters = {
                "FilterExpression": "#status = :status",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":status": _s(status.value)},
            }
        return self._page(
            index, partition, limit, cursor, self._notification, newest_first=True, **filters
        )

    def due_for_sweep(self, now: datetime, limit: int) -> list[Notification]:
        due: list[Notification] = []
        for shard in range(SWEEP_SHARDS):
            response = self._db.query(
                TableName=self._table,
                IndexName=GSI_SWEEP,
                KeyConditionExpression="sweep_pk = :shard AND sweep_at <= :now",
                ExpressionAttributeValues={
                    ":shard": _s(f"SWEEP#{shard}"),
                    ":now": _n(epoch_ms(now)),
                },
                Limit=limit,
            )
            for key in response.get("Items", []):
                item = self._get(key["pk"]["S"], key["sk"]["S"])
                if item is None or "sweep_at" not in item:
                    continue
                try:
                    due.append(self._notification(item))
                except ValidationError:
                    # One unreadable item must not stop the sweep for every other one.
                    log.exception("skipping unreadable notification %s", key["pk"]["S"])
            if len(due) >= limit:
                break
        return due[:limit]

    # --- inbox --------------------------------------------------------------------------------
    def put_inbox_item(self, item: InboxItem) -> None:
        doc = item.model_dump_json(exclude={"read_at"})
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **_key(f"T#{item.tenant_id}#R#{item.recipient_id}#INBOX", item.notification_id),
                    "doc": _s(doc),
                    "gsi1pk": _s(f"T#{item.tenant_id}#R#{item.recipient_id}#UNREAD"),
                    "gsi1sk": _s(item.notification_id),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise

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
            index, partition = None, f"T#{tenant_id}#R#{recipient_id}#INBOX"
        return self._page(
            index, partition, limit, cursor, self._inbox_item, newest_first=True, since=since_id
        )

    def mark_read(
        self, tenant_id: str, recipient_id: str, notification_id: str, at: datetime
    ) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(f"T#{tenant_id}#R#{recipient_id}#INBOX", notification_id),
                UpdateExpression="SET read_at = if_not_exists(read_at, :at) REMOVE gsi1pk, gsi1sk",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": _s(at.isoformat())},
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
            None,
            f"T#{tenant_id}#DL",
            limit,
            cursor,
            lambda item: DeadLetter.model_validate_json(_doc(item)),
            newest_first=True,
        )

    # --- item shapes --------------------------------------------------------------------------
    @staticmethod
    def _idempotency_key(tenant_id: str, key: str) -> Item:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return _key(f"T#{tenant_id}#IK#{digest}", "IDEMPOTENCY")

    @staticmethod
    def _notification_item(notification: Notification) -> Item:
        tenant, nid = notification.tenant_id, notification.id
        item: Item = {
            **_key(f"T#{tenant}#N#{nid}", "NOTIFICATION"),
            "doc": _s(notification.model_dump_json()),
            "version": _n(notification.version),
            "status": _s(notification.status.value),
            "gsi1pk": _s(f"T#{tenant}#N"),
            "gsi1sk": _s(nid),
        }
        if notification.recipient_id is not None:
            item["gsi2pk"] = _s(f"T#{tenant}#R#{notification.recipient_id}#N")
            item["gsi2sk"] = _s(nid)
        if notification.sweep_at is not None:
            item["sweep_pk"] = _s(f"SWEEP#{zlib.crc32(nid.encode()) % SWEEP_SHARDS}")
            item["sweep_at"] = _n(epoch_ms(notification.sweep_at))
        return item

    @staticmethod
    def _notification(item: Mapping[str, Any]) -> Notification:
        notification = Notification.model_validate_json(_doc(item))
        notification.version = int(item["version"]["N"])
        return notification

    @staticmethod
    def _inbox_item(item: Mapping[str, Any]) -> InboxItem:
        inbox_item = InboxItem.model_validate_json(_doc(item))
        if "read_at" in item:
            inbox_item.read_at = datetime.fromisoformat(item["read_at"]["S"])
        return inbox_item

    @staticmethod
    def _dead_letter_key(letter: DeadLetter) -> Item:
        sort = (
            f"{epoch_ms(letter.failed_at):013d}#{letter.notification_id}"
            f"#{letter.channel.value}#{letter.recipient_id}"
        )
        return _key(f"T#{letter.tenant_id}#DL", sort)

    def _dead_letter_item(self, letter: DeadLetter) -> Item:
        return {**self._dead_letter_key(letter), "doc": _s(letter.model_dump_json())}

    # --- plumbing -----------------------------------------------------------------------------
    def _get(self, pk: str, sk: str) -> Item | None:
        response = self._db.get_item(TableName=self._table, Key=_key(pk, sk), ConsistentRead=True)
        return response.get("Item")

    def _delete(self, pk: str, sk: str) -> bool:
        response = self._db.delete_item(
            TableName=self._table, Key=_key(pk, sk), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response

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
        **filters: Any,
    ) -> Page[T]:
        """One page of ``limit`` items and a cursor when more exist; ``since`` bounds the sort
        key from below. With a filter, DynamoDB may return short pages: this reads on until the
        page is full, but at most MAX_READS_PER_PAGE reads, then answers with what it found and
        a cursor to go on from (a rare status must not make one request read a whole tenant)."""
        pk_name, sk_name = _INDEX_KEYS[index]
        names = {"pk", "sk", pk_name, sk_name}
        start = (
            None if cursor is None else _Cursor.decode(cursor, sorted(names), (pk_name, partition))
        )
        condition = f"{pk_name} = :partition"
        values = {":partition": _s(partition), **filters.pop("ExpressionAttributeValues", {})}
        if since is not None:
            condition += f" AND {sk_name} >= :since"
            values[":since"] = _s(since)
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ScanIndexForward": not newest_first,
        }
        if index is not None:
            query["IndexName"] = index
        else:
            query["ConsistentRead"] = True
        query.update(filters)
        query["ExpressionAttributeValues"] = values
        filtered = "FilterExpression" in query
        rows: list[Mapping[str, Any]] = []
        for _ in range(MAX_READS_PER_PAGE):
            page_query = {**query, "Limit": 100 if filtered else limit + 1}
            if start is not None:
                page_query["ExclusiveStartKey"] = start
            try:
                response = self._db.query(**page_query)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ValidationException" and cursor:
                    raise InvalidCursor("cursor does not fit this list") from None
                raise
            rows.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None or len(rows) > limit:
                break
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            return Page(
                [parse(row) for row in rows], _Cursor.encode({name: last[name] for name in names})
            )
        next_cursor = None if start is None else _Cursor.encode(start)
        return Page([parse(row) for row in rows], next_cursor)
