"""Alerting's store ports on Tocsin's one table, beside the items of ``DynamoStore``.

| item              | pk                          | sk                   | attributes                        |
|-------------------|-----------------------------|----------------------|-----------------------------------|
| alert             | T#{t}#A                     | {alert id}           | doc; st, ver, nstep, due, tsk,    |
|                   |                             |                      | tl, sent, n_trig, ... (below)     |
| open alert of key | T#{t}#AK#{sha256(key)}      | ALERTKEY             | aid                               |
| alert timer       | ALERTTIMER#{shard}          | {due ms}#{nonce}     | tid, aid                          |
| silenced alert    | T#{t}#SILM#{silence}        | {alert id}           |                                   |
| silence           | T#{t}#SIL                   | {silence id}         | doc, ends; TTL 5 days after end   |
| policy            | T#{t}#EP                    | {policy id}          | doc                               |
| integration       | INTEGRATION#{id}            | INTEGRATION          | doc                               |
|   by tenant       | T#{t}#INT                   | {id}                 | doc                               |
|   by routing key  | ROUTINGKEY#{sha256(key)}    | ROUTINGKEY           | doc                               |
| rate counter      | RATE#{scope}#{window}       | RATE                 | n; TTL                            |
| tenant            | TENANT#{t}                  | TENANT               | ack_key (the acknowledge links')  |

A tenant's alerts share one partition, newest last by id: a list is one query of the base table
(never a scan of an index; see tocsin_local.moto_dynamodb), and so is the scheduled function's
look for due timers, a few shards of ``ALERTTIMER``. A timer is a hint: the alert names the one
it relies on (``tsk``) and the runner deletes any other it finds. What changes on an alert is in
attributes of its own, changed by conditional updates: its status, its progress under a version
number, its timeline and the notifications it sent (appended with ``list_append``), its trigger
count (``ADD``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb import (
    DynamoStore,
    Item,
    _cancel_reasons,
    _doc,
    _failed_condition,
    _key,
    _ms,
    _n,
    _s,
    epoch_ms,
    from_ms,
)
from chalicelib.alert_ports import Progress, Taken
from chalicelib.models.alerts import (
    Alert,
    AlertStatus,
    AlertTimer,
    EscalationPolicy,
    Integration,
    SentNotification,
    Silence,
    TimelineEntry,
)
from chalicelib.ports import Page

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# One partition is ample for timers (a few writes in an alert's life; DynamoDB takes 1,000 a
# second on one), and the runner's look, every second in the local stage, stays one query.
TIMER_SHARDS = 1
SILENCE_RETENTION = timedelta(days=5)
SIGNING_KEY_BYTES = 32

# The alert's fields kept as attributes of their own (the rest is its ``doc``).
_ALERT_STATE = {
    "status",
    "acknowledged_at",
    "resolved_at",
    "trigger_count",
    "timeline",
    "sent",
    "next_step",
    "due_at",
    "timer",
    "silenced_by",
    "resolve_sent",
    "version",
}


def _timer_shard(tenant_id: str, alert_id: str) -> str:
    return f"ALERTTIMER#{zlib.crc32(f'{tenant_id}|{alert_id}'.encode()) % TIMER_SHARDS}"


def _timer_sk(due_at: datetime) -> str:
    return f"{epoch_ms(due_at):013d}#{uuid.uuid4().hex}"


def _json_list(values: list[str]) -> Any:
    return {"L": [_s(value) for value in values]}


class DynamoAlertStore(DynamoStore):
    """Every store port of ``DynamoStore``, and alerting's."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        super().__init__(client, table_name)
        self._signing_keys: dict[str, bytes] = {}

    # --- alerts -------------------------------------------------------------------------------
    @staticmethod
    def _alert_key(tenant_id: str, alert_id: str) -> Item:
        return _key(f"T#{tenant_id}#A", alert_id)

    @staticmethod
    def _dedup_key(tenant_id: str, dedup_key: str) -> Item:
        digest = hashlib.sha256(dedup_key.encode()).hexdigest()
        return _key(f"T#{tenant_id}#AK#{digest}", "ALERTKEY")

    def _timer_item(self, alert: Alert, due_at: datetime, sk: str) -> Item:
        return {
            **_key(_timer_shard(alert.tenant_id, alert.id), sk),
            "tid": _s(alert.tenant_id),
            "aid": _s(alert.id),
        }

    def _alert_item(self, alert: Alert) -> Item:
        item: Item = {
            **self._alert_key(alert.tenant_id, alert.id),
            "doc": _s(alert.model_dump_json(exclude=_ALERT_STATE)),
            "st": _s(alert.status.value),
            "n_trig": _n(alert.trigger_count),
            "tl": _json_list([entry.model_dump_json() for entry in alert.timeline]),
            "sent": _json_list([item.model_dump_json() for item in alert.sent]),
            "nstep": _n(alert.next_step),
            "ver": _n(alert.version),
            "rsent": {"BOOL": alert.resolve_sent},
        }
        optional = {
            "ack_at": _ms(alert.acknowledged_at) if alert.acknowledged_at else None,
            "res_at": _ms(alert.resolved_at) if alert.resolved_at else None,
            "due": _ms(alert.due_at) if alert.due_at else None,
            "tsk": _s(alert.timer) if alert.timer else None,
            "sil_by": _s(alert.silenced_by) if alert.silenced_by else None,
        }
        item.update({name: value for name, value in optional.items() if value is not None})
        return item

    @staticmethod
    def _alert(item: Mapping[str, Any]) -> Alert:
        alert = Alert.model_validate_json(_doc(item))
        alert.status = AlertStatus(item["st"]["S"])
        alert.trigger_count = int(item["n_trig"]["N"])
        alert.timeline = [
            TimelineEntry.model_validate_json(value["S"]) for value in item["tl"]["L"]
        ]
        alert.sent = [
            SentNotification.model_validate_json(value["S"]) for value in item["sent"]["L"]
        ]
        alert.next_step = int(item["nstep"]["N"])
        alert.version = int(item["ver"]["N"])
        alert.resolve_sent = bool(item["rsent"]["BOOL"])
        alert.acknowledged_at = from_ms(item["ack_at"]["N"]) if "ack_at" in item else None
        alert.resolved_at = from_ms(item["res_at"]["N"]) if "res_at" in item else None
        alert.due_at = from_ms(item["due"]["N"]) if "due" in item else None
        alert.timer = item["tsk"]["S"] if "tsk" in item else None
        alert.silenced_by = item["sil_by"]["S"] if "sil_by" in item else None
        return alert

    def find_alert_id(self, tenant_id: str, dedup_key: str) -> str | None:
        response = self._db.get_item(
            TableName=self._table, Key=self._dedup_key(tenant_id, dedup_key), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else str(item["aid"]["S"])

    def get_alert(self, tenant_id: str, alert_id: str) -> Alert | None:
        item = self._get(f"T#{tenant_id}#A", alert_id)
        return None if item is None else self._alert(item)

    def list_alerts(
        self,
        tenant_id: str,
        *,
        keep: Callable[[Alert], bool] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Alert]:
        return self._page(
            None, f"T#{tenant_id}#A", limit, cursor, self._alert, newest_first=True, keep=keep
        )

    def create_alert(self, alert: Alert, *, replaces: str | None) -> bool:
        key_put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {**self._dedup_key(alert.tenant_id, alert.dedup_key), "aid": _s(alert.id)},
        }
        if replaces is None:
            key_put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            key_put["ConditionExpression"] = "aid = :previous"
            key_put["ExpressionAttributeValues"] = {":previous": _s(replaces)}
        stored = alert.model_copy()
        items: list[dict[str, Any]] = [{"Put": key_put}]
        if stored.due_at is not None:
            stored.timer = _timer_sk(stored.due_at)
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._timer_item(stored, stored.due_at, stored.timer),
                    }
                }
            )
        items.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._alert_item(stored),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        try:
            self._transact(cast("list[TransactWriteItemTypeDef]", items))
        except ClientError as error:
            if "ConditionalCheckFailed" in _cancel_reasons(error):
                return False
            raise
        return True

    def retrigger(self, tenant_id: str, alert_id: str, entry: TimelineEntry, *, keep: int) -> bool:
        key = self._alert_key(tenant_id, alert_id)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET tl = list_append(tl, :entry) ADD n_trig :one",
                ConditionExpression="attribute_exists(pk) AND st <> :resolved AND size(tl) < :keep",
                ExpressionAttributeValues={
                    ":entry": _json_list([entry.model_dump_json()]),
                    ":one": _n(1),
                    ":resolved": _s(AlertStatus.RESOLVED.value),
                    ":keep": _n(keep),
                },
            )
            return True
        except ClientError as error:
            if not _failed_condition(error):
                raise
        try:
            # The timeline is full: the count goes on.
            self._db.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="ADD n_trig :one",
                ConditionExpression="attribute_exists(pk) AND st <> :resolved",
                ExpressionAttributeValues={
                    ":one": _n(1),
                    ":resolved": _s(AlertStatus.RESOLVED.value),
                },
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    def advance_alert(self, alert: Alert, progress: Progress) -> bool:
        sets = ["nstep = :step", "rsent = :rsent"]
        removes: list[str] = []
        values: Item = {
            ":step": _n(progress.next_step),
            ":rsent": {"BOOL": progress.resolve_sent},
            ":expected": _n(progress.expected_version),
            ":one": _n(1),
        }
        items: list[dict[str, Any]] = []
        if progress.entries:
            sets.append("tl = list_append(tl, :entries)")
            values[":entries"] = _json_list([e.model_dump_json() for e in progress.entries])
        if progress.sent:
            sets.append("sent = list_append(sent, :sent)")
            values[":sent"] = _json_list([s.model_dump_json() for s in progress.sent])
        if progress.silenced_by is None:
            removes.append("sil_by")
        else:
            sets.append("sil_by = :silence")
            values[":silence"] = _s(progress.silenced_by)
        if progress.due_at is None:
            removes += ["due", "tsk"]
        else:
            timer = _timer_sk(progress.due_at)
            sets += ["due = :due", "tsk = :timer"]
            values[":due"] = _ms(progress.due_at)
            values[":timer"] = _s(timer)
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._timer_item(alert, progress.due_at, timer),
                    }
                }
            )
        if alert.timer is not None:
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _key(_timer_shard(alert.tenant_id, alert.id), alert.timer),
                    }
                }
            )
        update = f"SET {', '.join(sets)} ADD ver :one"
        if removes:
            update += f" REMOVE {', '.join(removes)}"
        items.append(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._alert_key(alert.tenant_id, alert.id),
                    "UpdateExpression": update,
                    "ConditionExpression": "ver = :expected",
                    "ExpressionAttributeValues": values,
                }
            }
        )
        try:
            self._transact(cast("list[TransactWriteItemTypeDef]", items))
        except ClientError as error:
            if "ConditionalCheckFailed" in _cancel_reasons(error):
                return False
            raise
        return True

    def change_alert_status(
        self,
        tenant_id: str,
        alert_id: str,
        *,
        to: AlertStatus,
        at: datetime,
        entry: TimelineEntry,
        due_at: datetime | None,
    ) -> Alert | None:
        values: Item = {
            ":to": _s(to.value),
            ":at": _ms(at),
            ":entry": _json_list([entry.model_dump_json()]),
            ":one": _n(1),
        }
        stamp = "ack_at" if to is AlertStatus.ACKNOWLEDGED else "res_at"
        sets = ["st = :to", f"{stamp} = :at", "tl = list_append(tl, :entry)"]
        if to is AlertStatus.ACKNOWLEDGED:
            condition = "st = :triggered"
            values[":triggered"] = _s(AlertStatus.TRIGGERED.value)
        else:
            condition = "attribute_exists(pk) AND st <> :resolved"
            values[":resolved"] = _s(AlertStatus.RESOLVED.value)
        timer_key: Item | None = None
        if due_at is None:
            update = f"SET {', '.join(sets)} ADD ver :one REMOVE due, tsk"
        else:
            # The timer goes first: an alert that is due never lacks one. Should the change be
            # refused, the timer is deleted again (else the runner would, as stale).
            timer = _timer_sk(due_at)
            timer_key = _key(_timer_shard(tenant_id, alert_id), timer)
            self._db.put_item(
                TableName=self._table,
                Item={**timer_key, "tid": _s(tenant_id), "aid": _s(alert_id)},
            )
            sets += ["due = :due", "tsk = :timer"]
            values[":due"] = _ms(due_at)
            values[":timer"] = _s(timer)
            update = f"SET {', '.join(sets)} ADD ver :one"
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=self._alert_key(tenant_id, alert_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise
            if timer_key is not None:
                self._db.delete_item(TableName=self._table, Key=timer_key)
            return None
        return self._alert(response["Attributes"])

    def due_alert_timers(self, now: datetime, limit: int) -> list[AlertTimer]:
        timers: list[AlertTimer] = []
        bound = f"{epoch_ms(now) + 1:013d}"
        for shard in range(TIMER_SHARDS):
            response = self._db.query(
                TableName=self._table,
                KeyConditionExpression="pk = :shard AND sk < :bound",
                ExpressionAttributeValues={
                    ":shard": _s(f"ALERTTIMER#{shard}"),
                    ":bound": _s(bound),
                },
                Limit=limit,
            )
            for item in response.get("Items", []):
                sk = item["sk"]["S"]
                timers.append(
                    AlertTimer(
                        tenant_id=item["tid"]["S"],
                        alert_id=item["aid"]["S"],
                        due_at=from_ms(sk.split("#", 1)[0]),
                        key=sk,
                    )
                )
        return sorted(timers, key=lambda timer: timer.due_at)[:limit]

    def delete_alert_timer(self, timer: AlertTimer) -> None:
        self._db.delete_item(
            TableName=self._table,
            Key=_key(_timer_shard(timer.tenant_id, timer.alert_id), timer.key),
        )

    def add_silenced_alert(self, tenant_id: str, silence_id: str, alert_id: str) -> None:
        self._db.put_item(
            TableName=self._table, Item=_key(f"T#{tenant_id}#SILM#{silence_id}", alert_id)
        )

    def silenced_alerts(self, tenant_id: str, silence_id: str, limit: int) -> list[str]:
        response = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :partition",
            ExpressionAttributeValues={":partition": _s(f"T#{tenant_id}#SILM#{silence_id}")},
            ConsistentRead=True,
            Limit=limit,
        )
        return [item["sk"]["S"] for item in response.get("Items", [])]

    def alert_signing_key(self, tenant_id: str) -> bytes | None:
        cached = self._signing_keys.get(tenant_id)
        if cached is not None:
            return cached
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=_key(f"TENANT#{tenant_id}", "TENANT"),
                UpdateExpression="SET ack_key = if_not_exists(ack_key, :new)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":new": {"B": secrets.token_bytes(SIGNING_KEY_BYTES)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _failed_condition(error):
                return None
            raise
        key = bytes(response["Attributes"]["ack_key"]["B"])
        self._signing_keys[tenant_id] = key
        return key

    # --- silences -----------------------------------------------------------------------------
    def _silence_item(self, silence: Silence) -> Item:
        return {
            **_key(f"T#{silence.tenant_id}#SIL", silence.id),
            "doc": _s(silence.model_dump_json(exclude={"ends_at"})),
            "ends": _ms(silence.ends_at),
            "expires_at_epoch": _n(int((silence.ends_at + SILENCE_RETENTION).timestamp())),
        }

    @staticmethod
    def _silence(item: Mapping[str, Any]) -> Silence:
        fields = json.loads(_doc(item))
        fields["ends_at"] = from_ms(item["ends"]["N"])
        return Silence.model_validate(fields)

    def put_silence(self, silence: Silence) -> None:
        self._db.put_item(TableName=self._table, Item=self._silence_item(silence))

    def get_silence(self, tenant_id: str, silence_id: str) -> Silence | None:
        item = self._get(f"T#{tenant_id}#SIL", silence_id)
        return None if item is None else self._silence(item)

    def list_silences(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Silence]:
        return self._page(
            None, f"T#{tenant_id}#SIL", limit, cursor, self._silence, newest_first=True
        )

    def live_silences(self, tenant_id: str, now: datetime) -> list[Silence]:
        found: list[Silence] = []
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :partition",
            FilterExpression="ends > :now",
            ExpressionAttributeValues={
                ":partition": _s(f"T#{tenant_id}#SIL"),
                ":now": _ms(now),
            },
            ConsistentRead=True,
        ):
            found += [self._silence(item) for item in page.get("Items", [])]
        return found

    def expire_silence(self, tenant_id: str, silence_id: str, at: datetime) -> Silence | None:
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=_key(f"T#{tenant_id}#SIL", silence_id),
                UpdateExpression="SET ends = :at, expires_at_epoch = :expires",
                ConditionExpression="attribute_exists(pk) AND ends > :at",
                ExpressionAttributeValues={
                    ":at": _ms(at),
                    ":expires": _n(int((at + SILENCE_RETENTION).timestamp())),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise
            return self.get_silence(tenant_id, silence_id)
        return self._silence(response["Attributes"])

    # --- escalation policies ------------------------------------------------------------------
    def put_policy(self, policy: EscalationPolicy) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(f"T#{policy.tenant_id}#EP", policy.policy_id),
                "doc": _s(policy.model_dump_json()),
            },
        )

    def get_policy(self, tenant_id: str, policy_id: str) -> EscalationPolicy | None:
        item = self._get(f"T#{tenant_id}#EP", policy_id)
        return None if item is None else EscalationPolicy.model_validate_json(_doc(item))

    def delete_policy(self, tenant_id: str, policy_id: str) -> bool:
        return self._delete(f"T#{tenant_id}#EP", policy_id)

    def list_policies(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[EscalationPolicy]:
        return self._page(
            None,
            f"T#{tenant_id}#EP",
            limit,
            cursor,
            lambda item: EscalationPolicy.model_validate_json(_doc(item)),
            newest_first=False,
        )

    # --- integrations -------------------------------------------------------------------------
    @staticmethod
    def _integration_keys(integration: Integration) -> list[Item]:
        keys = [
            _key(f"INTEGRATION#{integration.id}", "INTEGRATION"),
            _key(f"T#{integration.tenant_id}#INT", integration.id),
        ]
        if integration.routing_key_hash is not None:
            keys.append(_key(f"ROUTINGKEY#{integration.routing_key_hash}", "ROUTINGKEY"))
        return keys

    def create_integration(self, integration: Integration) -> None:
        doc = _s(integration.model_dump_json())
        self._transact(
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {**key, "doc": doc},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for key in self._integration_keys(integration)
            ]
        )

    def get_integration(self, integration_id: str) -> Integration | None:
        item = self._get(f"INTEGRATION#{integration_id}", "INTEGRATION")
        return None if item is None else Integration.model_validate_json(_doc(item))

    def integration_by_routing_key(self, routing_key_hash: str) -> Integration | None:
        item = self._get(f"ROUTINGKEY#{routing_key_hash}", "ROUTINGKEY")
        return None if item is None else Integration.model_validate_json(_doc(item))

    def list_integrations(self, tenant_id: str) -> list[Integration]:
        found: list[Integration] = []
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :partition",
            ExpressionAttributeValues={":partition": _s(f"T#{tenant_id}#INT")},
            ConsistentRead=True,
        ):
            found += [Integration.model_validate_json(_doc(item)) for item in page["Items"]]
        return found

    def delete_integration(self, integration_id: str) -> bool:
        integration = self.get_integration(integration_id)
        if integration is None:
            return False
        self._transact(
            [
                {"Delete": {"TableName": self._table, "Key": key}}
                for key in self._integration_keys(integration)
            ]
        )
        return True

    # --- rate limits --------------------------------------------------------------------------
    @staticmethod
    def _counter_key(scope: str, window: int) -> Item:
        return _key(f"RATE#{scope}#{window}", "RATE")

    def take(self, scope: str, window: int, allowed: int, expires_at: datetime) -> Taken:
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=self._counter_key(scope, window),
                UpdateExpression="SET expires_at_epoch = :expires ADD n :one",
                ConditionExpression="attribute_not_exists(n) OR n < :allowed",
                ExpressionAttributeValues={
                    ":one": _n(1),
                    ":allowed": _n(allowed),
                    ":expires": _n(int(expires_at.timestamp())),
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise
            current = cast("Mapping[str, Any]", error.response.get("Item") or {})
            return Taken(accepted=False, count=int(current.get("n", {"N": allowed})["N"]))
        return Taken(accepted=True, count=int(response["Attributes"]["n"]["N"]))

    def give_back(self, scope: str, window: int) -> None:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._counter_key(scope, window),
                UpdateExpression="ADD n :minus",
                ConditionExpression="n > :zero",
                ExpressionAttributeValues={":minus": _n(-1), ":zero": _n(0)},
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise

    def counted(self, scope: str, window: int) -> int:
        response = self._db.get_item(TableName=self._table, Key=self._counter_key(scope, window))
        item = response.get("Item")
        return 0 if item is None else int(item["n"]["N"])
